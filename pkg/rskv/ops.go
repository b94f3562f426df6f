package rskv

import (
	"bytes"
	"sync"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/rskv-go/rskv/internal/hlog"
)

// Operation counters kept in the epoch slots (see epoch.Handle.Count).
const (
	cntGet = iota
	cntPut
	cntDelete
	cntRMW
	cntInPlace
	cntAppend
	cntDiskRead
	cntRetry
	cntPromoted
	cntKeptResident
	numCounters
)

// Every counter must have a slot in the epoch handles.
var _ [epoch.NumCounters - numCounters]struct{}

// bufPool holds scratch buffers for disk reads and RMW's old values, so the
// read and in-place paths allocate nothing.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // a rare large record: do not keep its size around
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

// checkKey validates a key at the API edge.
func checkKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > MaxKeySize {
		return errors.Wrapf(ErrKeyTooLarge, "key is %d bytes, the limit is %d", len(key), MaxKeySize)
	}
	return nil
}

func (s *Store) checkRecord(key []byte, valueLen int) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if size := hlog.RecordSize(len(key), valueLen); size > s.log.MaxRecordSize() {
		return errors.Wrapf(ErrValueTooLarge, "a %d-byte key with a %d-byte value makes a %d-byte record; a log page holds %d",
			len(key), valueLen, size, s.log.MaxRecordSize())
	}
	return nil
}

// protect enters an epoch-protected section, or fails if the store is closed.
func (s *Store) protect() (*epoch.Handle, error) {
	g := s.em.Protect()
	if s.closed.Load() {
		g.Release()
		return nil, ErrClosed
	}
	return g, nil
}

// beginWrite starts one attempt of a write: it protects, refuses a closed or
// failed store, and counts the operation on its first attempt.
func (s *Store) beginWrite(attempt, counter int) (*epoch.Handle, error) {
	g, err := s.protect()
	if err != nil {
		return nil, err
	}
	if err := s.log.Err(); err != nil {
		g.Release()
		return nil, s.ioFailure(err)
	}
	if attempt == 0 {
		g.Count(counter)
	}
	return g, nil
}

// Get returns a copy of key's value, or ErrNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	v, err := s.AppendValue(nil, key)
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// AppendValue appends key's value to dst and returns the extended slice, or
// dst and ErrNotFound if the key has no value. Reading a key held in memory
// allocates nothing when dst has room: buf, err = s.AppendValue(buf[:0], key).
func (s *Store) AppendValue(dst, key []byte) ([]byte, error) {
	return s.read(dst, key, nil)
}

// read is the one read path: Get, AppendValue and a transaction's Get and
// Has. With rv it also reports the version it read (the key's newest
// record and, in memory, its seqlock word), for the transaction to
// validate at commit. An entry locked by a commit in flight is waited for
// (unprotected), so a reader never sees part of a batch or transaction.
func (s *Store) read(dst, key []byte, rv *readVersion) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return dst, err
	}
	h := hashKey(key)
	for {
		g, err := s.protect()
		if err != nil {
			return dst, err
		}
		g.Count(cntGet)
		slot, e, ok := s.index.Find(h)
		if !ok {
			g.Release()
			if rv != nil {
				*rv = readVersion{}
			}
			return dst, ErrNotFound
		}
		if e.Locked() {
			g.Release()
			waitUnlocked(slot)
			continue
		}
		addr, r, inMem := s.walkMem(key, e.Address(), noLimit)
		if inMem {
			if rv != nil {
				// Before the value: a change after this shows at validation.
				*rv = readVersion{addr: addr, ver: r.Version(), mem: true}
			}
			dst, ok = s.memValue(dst, r, addr)
			g.Release()
			if !ok {
				return dst, ErrNotFound
			}
			return dst, nil
		}
		if addr < s.log.Begin() || addr == 0 {
			g.Release()
			if rv != nil {
				*rv = readVersion{}
			}
			return dst, ErrNotFound
		}
		// w.value aliases the handle's scratch buffer: copy it out before the
		// handle goes back to the pool.
		w, err := s.findOnDisk(g, key, addr, noLimit, &g.Scratch, true)
		if rv != nil {
			*rv = readVersion{addr: w.addr}
		}
		if err == nil {
			if w.live() && !s.expired(w.expireAt) {
				dst = append(dst, w.user()...)
				if rv == nil {
					// Not for a transaction: the copy would move the version
					// it just recorded, and fail its validation.
					s.maybePromote(g, key, h, slot, e, &w)
				}
			} else {
				err = ErrNotFound
			}
		}
		g.Release()
		return dst, err
	}
}

// memValue appends the value of the in-memory record r at addr, key's
// newest, to dst; false if it is a tombstone or expired. The caller is
// protected.
func (s *Store) memValue(dst []byte, r hlog.MemRecord, addr uint64) ([]byte, bool) {
	// One flag test for a key without expiry (expiry.go).
	if info := r.Info(); info&(hlog.FlagTombstone|hlog.FlagExpiry) != 0 {
		if info&hlog.FlagTombstone != 0 || s.expired(r.Expiry()) {
			return dst, false
		}
		// A record with an expiry never changes in place: a plain copy.
		off := len(dst)
		return stripExpiry(r.AppendValue(dst, true), off), true
	}
	return r.AppendValue(dst, addr < s.log.SafeReadOnly()), true
}

// Has reports whether key has a live value.
func (s *Store) Has(key []byte) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	h := hashKey(key)
	for {
		g, err := s.protect()
		if err != nil {
			return false, err
		}
		g.Count(cntGet)
		slot, e, ok := s.index.Find(h)
		if !ok {
			g.Release()
			return false, nil
		}
		if e.Locked() { // a commit in flight: wait for it, unprotected
			g.Release()
			waitUnlocked(slot)
			continue
		}
		w, err := s.findVersion(g, key, e.Address(), noLimit, &g.Scratch, false)
		g.Release()
		return w.live() && !s.expired(w.expireAt), err
	}
}

// Put sets key's value. The store keeps its own copy of key and value. A key
// whose newest record is in the mutable region is updated in place when the
// new value fits; otherwise a new record is appended at the tail.
func (s *Store) Put(key, value []byte) error {
	if err := s.writable(); err != nil {
		return err
	}
	if err := s.checkRecord(key, len(value)); err != nil {
		return err
	}
	return s.upsert(key, hashKey(key), func(old []byte, found bool) []byte { return value }, false, cntPut)
}

// Delete removes key. Deleting an absent key is not an error.
func (s *Store) Delete(key []byte) error {
	if err := s.writable(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	return s.deleteKey(key, hashKey(key), 0)
}

// deleteKey is Delete (and Expire with a past time); firstAttempt > 0 does
// not count the operation again.
func (s *Store) deleteKey(key []byte, h uint64, firstAttempt int) error {
	for attempt := firstAttempt; ; attempt++ {
		g, err := s.beginWrite(attempt, cntDelete)
		if err != nil {
			return err
		}
		slot, e, ok := s.index.Find(h)
		if !ok {
			g.Release()
			return nil
		}
		if e.Locked() { // a commit in flight
			g.Release()
			waitUnlocked(slot)
			continue
		}
		w, err := s.findVersion(g, key, e.Address(), noLimit, &g.Scratch, false)
		if err != nil || !w.live() {
			g.Release()
			if err == nil && w.addr != 0 {
				// Already deleted, but perhaps by a tombstone another
				// writer has not made durable yet: under SyncAlways our nil
				// says the deletion is durable, so wait for that one.
				return s.waitDurable(w.addr + w.size)
			}
			return err
		}
		if w.inMem && w.addr >= s.log.SafeReadOnly() {
			// Freeze the record being superseded, so no in-place update can
			// land on it after the tombstone.
			w.mem.Seal()
		}
		end, err := s.appendVersion(g, mayWait, h, slot, e, key, nil, hlog.FlagTombstone|hlog.FlagDelKey, w.addr, w.size)
		switch err {
		case nil:
		case errRetry:
			continue
		case errLost:
			g.Count(cntRetry)
			g.Release()
			continue
		default:
			return err
		}
		g.Release()
		return s.waitDurable(end)
	}
}

// RMW atomically replaces key's value with fn(old, found) and returns the new
// value. fn may run more than once when other goroutines update the key at
// the same time, so it must be pure; old is valid only during the call (it
// may be a scratch buffer; fn may append to it or return it), and fn must
// not call the Store. The returned value is the caller's. An expired key is
// not found; the new value keeps the key's expiry, if it has one.
func (s *Store) RMW(key []byte, fn func(old []byte, found bool) []byte) ([]byte, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, errors.New("rskv: RMW needs a function")
	}
	var out []byte
	err := s.upsertExp(key, hashKey(key), func(old []byte, found bool) []byte {
		out = fn(old, found)
		if sharesMemory(out, old) {
			// old is a scratch buffer the store reuses once the call
			// returns: fn built the new value in it (append(old, ...), or
			// old itself), so the caller gets a copy.
			out = bytes.Clone(out)
		}
		return out
	}, true, cntRMW, expirySpec{keep: true})
	return out, err
}

// sharesMemory reports whether the backing arrays of a and b overlap.
func sharesMemory(a, b []byte) bool {
	if cap(a) == 0 || cap(b) == 0 {
		return false
	}
	a0, b0 := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(cap(b)) && b0 < a0+uintptr(cap(a))
}

// upsert is Put and RMW. update computes the new value from the old (Put
// ignores the old value, so readOld is false and no old value is fetched
// from disk).
func (s *Store) upsert(key []byte, h uint64, update func(old []byte, found bool) []byte, readOld bool, counter int) error {
	return s.upsertExp(key, h, update, readOld, counter, expirySpec{})
}

// upsertExp is upsert with what the write does to the key's expiry.
func (s *Store) upsertExp(key []byte, h uint64, update func(old []byte, found bool) []byte, readOld bool, counter int,
	spec expirySpec) error {
	for attempt := 0; ; attempt++ {
		if done, err := s.upsertOnce(attempt, key, h, update, readOld, counter, spec); done {
			if s.index.WantsGrowth() {
				s.maybeGrowIndex()
			}
			return err
		}
	}
}

// upsertOnce is one attempt of upsert; done false means start over.
func (s *Store) upsertOnce(attempt int, key []byte, h uint64, update func(old []byte, found bool) []byte, readOld bool, counter int,
	spec expirySpec) (done bool, _ error) {
	g, err := s.beginWrite(attempt, counter)
	if err != nil {
		return true, err
	}
	slot, e := s.index.FindOrCreate(h)
	if e.Locked() { // a commit in flight: wait for it, unprotected
		g.Release()
		waitUnlocked(slot)
		return false, nil
	}
	buf := &g.Scratch // valid until g is released
	w, err := s.findVersion(g, key, e.Address(), noLimit, buf, readOld)
	if err != nil {
		s.dropEmptyEntry(slot, e)
		g.Release()
		return true, err
	}
	// counted: the key's newest version counts in Len (perhaps expired);
	// found: it is visible.
	counted := w.live()
	found := counted && !s.expired(w.expireAt)
	if spec.mustExist && !found {
		s.dropEmptyEntry(slot, e)
		g.Release()
		return true, ErrNotFound
	}
	newExp := spec.at
	if spec.keep {
		newExp = 0
		if found {
			newExp = w.expireAt
		}
	}
	if spec.mustExist && newExp != 0 && newExp <= s.now() {
		// Expire with a past time: the key goes now.
		g.Release()
		return true, s.deleteKey(key, h, attempt+1)
	}
	// Records with an expiry are never changed in place (expiry.go).
	inPlaceOK := !w.expires && newExp == 0

	var value []byte
	computed := false
	if counted && !inPlaceOK && w.inMem && w.addr >= s.log.SafeReadOnly() {
		// Freeze the version being superseded, so that no in-place update
		// lands on it after the new version is computed.
		w.mem.Seal()
		if found && readOld {
			*buf = w.mem.AppendValue((*buf)[:0], false)
		}
	} else if found && w.inMem && w.addr >= s.log.SafeReadOnly() {
		r := w.mem
		if r.Lock() {
			if hashidx.Load(slot).Locked() {
				// A commit locked the entry before we took the record: it
				// may be validating this version, so leave it untouched.
				r.UnlockUnchanged()
				g.Release()
				waitUnlocked(slot)
				return false, nil
			}
			if readOld {
				*buf = r.LockedValue((*buf)[:0])
			}
			if w.addr >= s.log.ReadOnly() {
				value = s.runUpdate(g, slot, e, r, true, update, *buf, true)
				computed = true
				if r.UpdateLocked(value) {
					r.Unlock()
					g.Count(cntInPlace)
					g.Release()
					return true, s.waitDurable(w.addr + w.size)
				}
			}
			// Read-only, or the new value does not fit: freeze this
			// version and append a new one.
			r.UnlockSealed()
		} else if readOld {
			// Sealed: frozen by a concurrent writer whose new version is
			// not (yet) linked; its value is stable.
			*buf = r.AppendValue((*buf)[:0], false)
		}
	} else if found && readOld && w.inMem {
		*buf = w.mem.AppendValue((*buf)[:0], true)
	} else if found && readOld {
		*buf = w.value
	}
	if found && readOld && w.expires {
		*buf = stripExpiry(*buf, 0)
	}
	if !computed {
		if found {
			value = s.runUpdate(g, slot, e, hlog.MemRecord{}, false, update, *buf, true)
		} else {
			value = s.runUpdate(g, slot, e, hlog.MemRecord{}, false, update, nil, false)
		}
	}
	flags, oldAddr := uint64(0), w.addr
	if newExp != 0 {
		stored := getBuf()
		defer putBuf(stored)
		*stored = withExpiry((*stored)[:0], value, newExp)
		value = *stored
		flags |= hlog.FlagExpiry
	}
	if readOld {
		// RMW's fn chose the value: check it here, as Put did up front.
		if err := s.checkRecord(key, len(value)); err != nil {
			s.dropEmptyEntry(slot, e)
			g.Release()
			return true, err
		}
	}
	if !counted {
		flags, oldAddr = flags|hlog.FlagNewKey, 0 // a tombstone was counted dead when written
	}
	end, err := s.appendVersion(g, mayWait, h, slot, e, key, value, flags, oldAddr, w.size)
	switch err {
	case nil:
	case errRetry:
		return false, nil
	case errLost:
		g.Count(cntRetry)
		g.Release()
		return false, nil
	default:
		s.dropEmptyEntry(slot, e)
		return true, err
	}
	g.Count(cntAppend)
	g.Release()
	return true, s.waitDurable(end)
}

// waitDurable makes a write durable before it is acknowledged, in
// SyncAlways mode; in SyncPeriodic mode it holds the writer up while the
// syncs are late (pacing, docs/durability.md).
func (s *Store) waitDurable(end uint64) error {
	if s.opts.SyncMode != SyncAlways {
		if s.log.Behind() && s.opts.SyncMode == SyncPeriodic {
			if err := s.log.WaitCaughtUp(); err != nil {
				return s.ioFailure(err)
			}
		}
		return nil
	}
	if err := s.log.WaitDurable(end); err != nil {
		return s.ioFailure(err)
	}
	return nil
}

// ioFailure wraps the log's sticky I/O error for the caller.
func (s *Store) ioFailure(err error) error {
	return errors.WithHint(errors.Wrapf(err, "rskv: %s: write failed; the store refuses writes after an I/O error", s.dir),
		"reads still work; close the store and check the disk")
}
