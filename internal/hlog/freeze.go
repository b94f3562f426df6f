package hlog

// maxAddress is above every address the log can hand out (addresses have
// 48 bits).
const maxAddress = uint64(1) << 48

// FreezeTail picks a point T of the log and makes every record below it
// immutable, returning T. It is the cut of a consistent backup: the newest
// version below T of every key is the state of the store at one moment.
//
// The tail alone is not such a moment, because in-place updates change
// records below the tail without moving it: an update in place after the
// tail was sampled would land in the copy while an append made before it
// would not. So FreezeTail first stops in-place updates everywhere (the
// read-only address goes above every record; every write appends while
// it lasts), waits out the writers that may have seen the old address,
// then samples T and waits out the appends below it. Only then does it
// bring the read-only address back down to T (records at and above T are
// mutable again), move the safe read-only address to T and flush.
//
// It runs under the maintenance lock, so no shift interleaves. The caller
// must not be epoch-protected.
func (l *Log) FreezeTail() (uint64, error) {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	if err := l.Err(); err != nil {
		return 0, err
	}
	l.readOnly.Store(maxAddress)
	l.em.BumpAndWait()
	t := l.Tail()
	// Every record allocated below t is written and linked (or marked
	// invalid) once the sections protected now have ended.
	l.em.BumpAndWait()
	l.readOnly.Store(max(t, l.safeReadOnly.Load()))
	if t > l.safeReadOnly.Load() {
		l.safeReadOnly.Store(t)
		l.em.BumpAndWait()
	}
	return t, l.flushLocked(l.safeReadOnly.Load())
}
