package rskv

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/rskv-go/rskv/internal/hlog"
)

// Multi-key commits: the one engine under Batch.Commit and Update.
//
// Atomic to readers. A commit takes the index entries of all its keys (the
// written ones and, for a transaction, the read ones) by setting their lock
// bit (hashidx.Entry.Locked), creating entries for new keys. While an entry
// is locked nobody else changes it: readers (Get, Has, a transaction's
// reads) and writers (Put, Delete, RMW, compaction's copy) that meet it wait
// for it to clear, unprotected (the commit may need room in memory, which
// waits for every protected section); read promotion and the residency copy
// skip it. An in-place writer re-checks the entry after taking its record's
// lock and backs off, unchanged, if the entry is locked, and the commit
// waits for a record's lock to be free before validating or sealing it, so
// no in-place update slips between validation and publication. The commit
// then validates a transaction's reads (each key's newest record and, in
// memory, its seqlock word, as read), writes its records (sealing each
// key's in-place version, as an upsert does), and publishes each entry with
// the lock bit clear. Every entry is published after every record is
// written, so a reader that sees one key's new value and then reads another
// key of the commit finds that one published or still locked (and waits).
//
// Atomic across a crash. The records carry hlog.FlagBatch, and the commit
// writes one more record last, flagged hlog.FlagCommit, whose value is the
// address of its first record and its change to the live-key count.
// Recovery applies FlagBatch records only at a commit record, and only
// those at or above its start address; the others (a commit cut short by a
// crash or an error) are dropped, and they count no keys. The log is
// written in order, so a durable commit record implies its records are.
//
// commitMu makes commits one at a time: it is held from the first entry
// taken to the last published, so locks are never contended among commits
// (no deadlock whatever their order; keys are taken in hash order, for
// locality) and a checkpoint, which samples its start under commitMu, never
// starts inside a commit.

// commitKey is one key of a commit.
type commitKey struct {
	key   []byte
	value []byte // the stored form (with the expiry prefix for FlagExpiry)
	h     uint64
	flags uint64 // the write's own flags: FlagExpiry
	// what the commit does with the key
	write, del, validate bool
	shared               bool // the entry was taken by an earlier key of this commit
	read                 readVersion

	slot  hashidx.Slot
	entry hashidx.Entry // the entry as locked, before the commit
	// filled in by the commit
	addr, size       uint64 // the record written (0: none)
	oldAddr, oldSize uint64 // the live version it supersedes (0: none)
}

// readVersion is what a transaction saw of a key: its newest record's
// address (0: no record) and, for a record in memory, its seqlock word.
type readVersion struct {
	addr uint64
	ver  uint32
	mem  bool
}

// errConflict says a transaction's read changed before its commit.
var errConflict = errors.New("rskv: a key read by the transaction changed")

// commitRecordKey is the key of commit records. They belong to no chain and
// are never indexed; the key only has to be non-empty.
var commitRecordKey = []byte("\x00rskv/commit")

// commitFloor is the lowest address compaction may reach: the start of the
// commit in flight (whose records are not linked yet), or no limit.
func (s *Store) commitFloor() uint64 {
	if a := s.commitStart.Load(); a != 0 {
		return a
	}
	return noLimit
}

// recordKeyDelta is a record's change to the live-key count: keyDelta's,
// or for a commit record the sum it carries.
func recordKeyDelta(info uint64, value []byte) int64 {
	if info&hlog.FlagCommit != 0 && info&hlog.FlagInvalid == 0 && len(value) >= 16 {
		return int64(binary.LittleEndian.Uint64(value[8:]))
	}
	return keyDelta(info)
}

// commitKeys applies keys atomically. It returns errConflict if a read to
// validate changed; then nothing was written.
func (s *Store) commitKeys(keys []commitKey) error {
	if len(keys) == 0 {
		if s.closed.Load() {
			return ErrClosed
		}
		return nil
	}
	if err := s.life.enter(); err != nil {
		return err
	}
	defer s.life.exit()
	if err := s.log.Err(); err != nil {
		return s.ioFailure(err)
	}
	s.commitMu.Lock()
	if want := s.Len() + len(keys); want > 4*s.index.Buckets() {
		// No growth runs while a commit holds its entries: size the index
		// for a large commit before taking them (indexgrowth.go).
		s.growIndexLocked(want / 4)
	}
	end, err := s.commitLocked(keys)
	s.commitMu.Unlock()
	if s.index.WantsGrowth() {
		s.maybeGrowIndex()
	}
	if err != nil || end == 0 {
		return err
	}
	// Group commit: other commits go on while this one waits.
	return s.waitDurable(end)
}

// commitLocked is commitKeys under commitMu. It returns the end of the
// commit record (0: nothing was written).
func (s *Store) commitLocked(keys []commitKey) (end uint64, err error) {
	var heads map[hashidx.Slot]uint64 // chain heads of slots several keys share
	for i := range keys {
		if s.lockEntry(&keys[i]) && heads == nil {
			heads = make(map[hashidx.Slot]uint64)
		}
	}
	published := false
	defer func() {
		if !published {
			s.abortCommit(keys)
		}
	}()
	for i := range keys {
		if k := &keys[i]; k.validate {
			if err := s.validateKey(k); err != nil {
				return 0, err
			}
		}
	}

	s.commitStart.Store(max(1, s.log.Tail()))
	defer s.commitStart.Store(0)
	var start uint64
	var delta int64
	for i := range keys {
		k := &keys[i]
		if !k.write {
			continue
		}
		prev := k.entry.Address()
		if heads != nil {
			if a, ok := heads[k.slot]; ok {
				prev = a
			}
		}
		d, err := s.writeBatchRecord(k, prev)
		if err != nil {
			return 0, err
		}
		if k.addr == 0 {
			continue // deleting an absent key
		}
		delta += d
		if start == 0 {
			start = k.addr
		}
		if heads != nil {
			heads[k.slot] = k.addr
		}
	}
	if start == 0 {
		s.publish(keys, heads) // nothing written: just release the entries
		published = true
		return 0, nil
	}
	end, err = s.writeCommitRecord(start, delta)
	if err != nil {
		return 0, err
	}
	s.publish(keys, heads)
	published = true
	return end, nil
}

// lockEntry takes key k's index entry, creating it if needed. It reports
// whether the entry was already taken by an earlier key of the commit (the
// keys share a tag and bucket, so one entry covers both).
func (s *Store) lockEntry(k *commitKey) (shared bool) {
	for {
		slot, e := s.index.FindOrCreate(k.h)
		if e.Locked() {
			// Only commits lock entries, and commitMu admits one: ours.
			k.slot, k.entry, k.shared = slot, e, true
			return true
		}
		if hashidx.CompareAndSwap(slot, e, e.WithLock()) {
			k.slot, k.entry = slot, e.WithLock()
			return false
		}
	}
}

// versionOf returns key's current version as a transaction's read records
// it: see Store.read. It waits out a commit holding the key's entry, unless
// that commit is the caller's (locked).
func (s *Store) versionOf(key []byte, h uint64, entry hashidx.Entry, locked bool) (readVersion, error) {
	for {
		g, err := s.protect()
		if err != nil {
			return readVersion{}, err
		}
		addr := entry.Address()
		if !locked {
			slot, e, ok := s.index.Find(h)
			if !ok {
				g.Release()
				return readVersion{}, nil
			}
			if e.Locked() {
				g.Release()
				waitUnlocked(slot)
				continue
			}
			addr = e.Address()
		}
		w, err := s.findVersion(g, key, addr, noLimit, &g.Scratch, false)
		rv := readVersion{addr: w.addr}
		if w.inMem {
			// Version waits for an in-place writer that took the record
			// before the entry was locked; one that came after backs off
			// without changing it.
			rv.ver, rv.mem = w.mem.Version(), true
		}
		g.Release()
		return rv, err
	}
}

// validateKey checks that a read of the transaction still holds.
func (s *Store) validateKey(k *commitKey) error {
	rv, err := s.versionOf(k.key, k.h, k.entry, true)
	if err != nil {
		return err
	}
	if rv != k.read {
		return errConflict
	}
	return nil
}

// writeBatchRecord writes k's record (not linked) with its chain continuing
// at prev, sealing the version it supersedes. It returns the change to the
// live-key count. Deleting a key with no live version writes nothing.
func (s *Store) writeBatchRecord(k *commitKey, prev uint64) (int64, error) {
	for {
		g, err := s.protect()
		if err != nil {
			return 0, err
		}
		if err := s.log.Err(); err != nil {
			g.Release()
			return 0, s.ioFailure(err)
		}
		w, err := s.findVersion(g, k.key, k.entry.Address(), noLimit, &g.Scratch, false)
		if err != nil {
			g.Release()
			return 0, err
		}
		live := w.live()
		if k.del && !live {
			g.Release()
			return 0, nil
		}
		if w.inMem && w.addr >= s.log.SafeReadOnly() {
			// Freeze the version being superseded: no in-place update may
			// land on it after this commit.
			w.mem.Seal()
		}
		flags, delta := hlog.FlagBatch|k.flags, int64(0)
		switch {
		case k.del:
			flags, delta = flags|hlog.FlagTombstone|hlog.FlagDelKey, -1
		case !live:
			flags, delta = flags|hlog.FlagNewKey, 1
		}
		size := hlog.RecordSize(len(k.key), len(k.value))
		addr, err := s.allocate(g, size, mayWait)
		if err == errRetry {
			continue
		}
		if err != nil {
			return 0, err // g was released
		}
		s.log.NewRecord(addr, hlog.MakeInfo(prev, flags), k.key, k.value, 0)
		g.Release()
		k.addr, k.size = addr, size
		if live {
			k.oldAddr, k.oldSize = w.addr, w.size
		}
		return delta, nil
	}
}

// writeCommitRecord writes the commit record and returns its end.
func (s *Store) writeCommitRecord(start uint64, delta int64) (uint64, error) {
	var v [16]byte
	binary.LittleEndian.PutUint64(v[:], start)
	binary.LittleEndian.PutUint64(v[8:], uint64(delta))
	size := hlog.RecordSize(len(commitRecordKey), len(v))
	for {
		g, err := s.protect()
		if err != nil {
			return 0, err
		}
		addr, err := s.allocate(g, size, mayWait)
		if err == errRetry {
			continue
		}
		if err != nil {
			return 0, err
		}
		s.log.NewRecord(addr, hlog.MakeInfo(0, hlog.FlagCommit), commitRecordKey, v[:], 0)
		g.Release()
		s.dead.add(addr, start, int64(size)) // no key's version: dead at once
		return addr + size, nil
	}
}

// publish links the commit's records and releases its entries, then counts
// what the commit superseded and the keys it added or removed.
func (s *Store) publish(keys []commitKey, heads map[hashidx.Slot]uint64) {
	for i := range keys {
		k := &keys[i]
		if k.shared {
			continue
		}
		final := k.entry.Address()
		if a, ok := heads[k.slot]; ok {
			final = a
		} else if k.addr != 0 {
			final = k.addr
		}
		next := hashidx.Entry(0) // a read-only key that had no entry: drop it
		if final != 0 {
			next = hashidx.MakeEntry(final, k.entry.Tag())
		}
		if !hashidx.CompareAndSwap(k.slot, k.entry, next) {
			panic(errors.AssertionFailedf("rskv: a locked index entry changed during a commit"))
		}
	}
	for i := range keys {
		k := &keys[i]
		if k.addr == 0 {
			continue
		}
		if k.oldAddr != 0 {
			s.dead.add(k.oldAddr, k.h, int64(k.oldSize))
		}
		if k.del {
			s.dead.add(k.addr, k.h, int64(k.size))
			s.keys.add(k.h, -1)
		} else if k.oldAddr == 0 {
			s.keys.add(k.h, 1)
		}
	}
}

// abortCommit undoes a commit that failed before its commit record: its
// records still in the mutable region are marked invalid (the others are
// dropped by recovery, having no commit record, and count nothing), all are
// counted dead, and the entries are released unchanged.
func (s *Store) abortCommit(keys []commitKey) {
	g := s.em.Protect() // Close waits for the commit (life), so the log is open
	for i := range keys {
		k := &keys[i]
		if k.addr == 0 {
			continue
		}
		if k.addr >= s.log.ReadOnly() {
			s.log.Mem(k.addr).MarkInvalid()
		}
		s.dead.add(k.addr, k.h, int64(k.size))
		k.addr = 0
	}
	g.Release()
	for i := range keys {
		k := &keys[i]
		if k.slot == nil || k.shared {
			continue
		}
		next := k.entry.WithoutLock()
		if next.Address() == 0 {
			next = 0 // created for this commit (or empty anyway): drop it
		}
		hashidx.CompareAndSwap(k.slot, k.entry, next)
	}
}

// waitUnlocked waits until the entry in slot is not locked by a commit. The
// caller must not be epoch-protected. It spins briefly, then yields, then
// sleeps in short, growing steps (a commit of a million writes holds its
// entries for a while).
func waitUnlocked(slot hashidx.Slot) {
	for spins := 0; hashidx.Load(slot).Locked(); spins++ {
		switch {
		case spins < 32:
		case spins < 256:
			runtime.Gosched()
		default:
			time.Sleep(min(time.Millisecond, time.Duration(spins-255)*10*time.Microsecond))
		}
	}
}

// backoff waits before attempt (counted from 1) of a transaction that
// conflicted: yields at first, then a random sleep that grows to 2ms.
func backoff(attempt int) {
	if attempt < 3 {
		runtime.Gosched()
		return
	}
	d := min(2*time.Millisecond, time.Duration(attempt)*20*time.Microsecond)
	time.Sleep(time.Duration(rand.Int64N(int64(d))) + time.Microsecond)
}
