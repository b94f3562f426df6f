package rskv

import (
	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/rskv-go/rskv/internal/hlog"
)

// One home for a key's versions.
//
// A key's versions form a chain through the log, newest first, reached from
// its index entry (shared with the other keys of its tag). Everything that
// reads a chain goes through one walker (walkMem for the in-memory part,
// findVersion for the whole chain), and everything that adds a version goes
// through one conditional append (appendVersion): Put, Delete, RMW, read
// promotion, the residency copy and compaction differ only in what they
// write and whether they may wait for room in memory.

// noLimit as findVersion's end asks for the newest version.
const noLimit = ^uint64(0)

// where says where a lookup found a key's newest record.
type where struct {
	addr  uint64 // 0: the key has no record
	inMem bool
	mem   hlog.MemRecord
	tomb  bool
	size  uint64
	value []byte // for records read from disk, when asked for: aliases the scratch buffer (stored form)
	// expires: the record has an expiry (hlog.FlagExpiry), expireAt (Unix
	// nanoseconds); value then starts with it (expiry.go).
	expires  bool
	expireAt int64
}

// user returns the user's part of w.value.
func (w *where) user() []byte {
	if w.expires && len(w.value) >= hlog.ExpiryPrefixSize {
		return w.value[hlog.ExpiryPrefixSize:]
	}
	return w.value
}

// flags returns the flags a copy of w must carry.
func (w *where) copyFlags() uint64 {
	if w.expires {
		return hlog.FlagCopy | hlog.FlagExpiry
	}
	return hlog.FlagCopy
}

func (w *where) live() bool { return w.addr != 0 && !w.tomb }

// walkMem follows key's chain from addr through the in-memory part of the
// log, skipping records at or above end. If the newest version below end is
// in memory it returns it (found); otherwise next is where the chain leaves
// memory (0 or below begin: the chain ends there). It must run under epoch
// protection; it is small so that Get's in-memory path stays cheap.
func (s *Store) walkMem(key []byte, addr, end uint64) (next uint64, r hlog.MemRecord, found bool) {
	begin, head := s.log.Begin(), s.log.Head()
	for addr >= begin && addr >= head {
		r = s.log.Mem(addr)
		r.Prefetch() // the value's lines, while the header's miss is served
		if addr < end && r.KeyEquals(key) {
			return addr, r, true
		}
		addr = r.Prev()
	}
	return addr, r, false
}

// findVersion returns key's newest version below end (noLimit: its newest)
// in the chain from addr: through memory down to the head, then on disk
// down to the begin address. It must run under g. With wantValue, a record
// found on disk has its value copied into *buf.
func (s *Store) findVersion(g *epoch.Handle, key []byte, addr, end uint64, buf *[]byte, wantValue bool) (where, error) {
	addr, r, ok := s.walkMem(key, addr, end)
	if ok {
		info := r.Info()
		w := where{addr: addr, inMem: true, mem: r, tomb: info&hlog.FlagTombstone != 0, size: r.Size()}
		if info&hlog.FlagExpiry != 0 {
			w.expires, w.expireAt = true, r.Expiry()
		}
		return w, nil
	}
	return s.findOnDisk(g, key, addr, end, buf, wantValue)
}

// findOnDisk is findVersion's disk part, from an address below the head.
func (s *Store) findOnDisk(g *epoch.Handle, key []byte, addr, end uint64, buf *[]byte, wantValue bool) (where, error) {
	for addr >= s.log.Begin() && addr != 0 {
		g.Count(cntDiskRead)
		rec, b, err := s.log.ReadRecord(addr, *buf)
		*buf = b
		if err != nil {
			return where{}, errors.Wrapf(err, "rskv: read key chain")
		}
		if addr < end && string(rec.Key) == string(key) {
			w := where{addr: addr, tomb: rec.Tombstone(), size: rec.Size, expires: rec.Info&hlog.FlagExpiry != 0}
			w.expireAt, _ = splitStored(rec.Info, rec.Value)
			if wantValue {
				// The value sits inside *buf; move it to the front so that
				// the caller can reuse the buffer's tail.
				w.value = append((*buf)[:0], rec.Value...)
			}
			return w, nil
		}
		addr = rec.Prev()
	}
	return where{}, nil
}

// isNewest reports whether the record at addr is key's newest version. It
// must run under g.
func (s *Store) isNewest(g *epoch.Handle, key []byte, addr uint64, buf *[]byte) (bool, error) {
	return s.isNewestBelow(g, key, addr, noLimit, buf)
}

// isNewestBelow reports whether the record at addr is key's newest version
// below end: the version a snapshot of the log taken at end would hold
// (Scan). It must run under g; buf is scratch space for disk reads.
func (s *Store) isNewestBelow(g *epoch.Handle, key []byte, addr, end uint64, buf *[]byte) (bool, error) {
	_, e, ok := s.index.Find(hashKey(key))
	if !ok {
		return false, nil
	}
	if e.Address() == addr {
		return true, nil // the common case: nothing newer on this chain
	}
	w, err := s.findVersion(g, key, e.Address(), end, buf, false)
	return w.addr == addr, err
}

var (
	// errRetry tells an operation to start over: allocate released its
	// protection to make room in memory, so what it looked up may have
	// changed.
	errRetry = errors.New("rskv: retry operation")
	// errNoRoom says the tail has no room without waiting (waitNever).
	errNoRoom = errors.New("rskv: no room in memory without waiting")
	// errLost says another writer changed the index entry first: the new
	// record was invalidated and counted dead; look again.
	errLost = errors.New("rskv: lost the index race")
)

// allocMode says whether an append may wait for room in memory.
type allocMode bool

const (
	// mayWait: if memory is full, release the protection, flush and evict
	// inline, and return errRetry. Writers and compaction.
	mayWait allocMode = true
	// mustNotWait: if the tail page is full and no frame is free, fail with
	// errNoRoom, still protected. Read promotion and the residency copy
	// (which runs inside the log's maintenance and must never wait on it).
	mustNotWait allocMode = false
)

// allocate reserves size bytes at the tail, the one allocation path. With
// mayWait, every error means g has been released (errRetry: room was made,
// start over); with mustNotWait, g is never released.
func (s *Store) allocate(g *epoch.Handle, size uint64, mode allocMode) (uint64, error) {
	for {
		if addr, ok := s.log.Allocate(size); ok {
			return addr, nil
		}
		err := s.log.TurnPage(size)
		if err == nil {
			continue
		}
		if mode == mustNotWait {
			return 0, errNoRoom
		}
		g.Release()
		if !hlog.NeedsRoom(err) {
			return 0, err
		}
		// Memory is full: flush and evict inline. This must happen
		// unprotected, since it waits for every protected section to end.
		s.inlineMaintenance.Add(1)
		s.signalPressure()
		if err := s.log.MakeRoom(); err != nil {
			if s.closed.Load() {
				return 0, ErrClosed
			}
			return 0, s.ioFailure(err)
		}
		return 0, errRetry
	}
}

// appendVersion is the conditional append: it allocates room at the tail,
// writes a record of key (hash h) with flags whose chain continues at e's
// address, and swaps it into slot if slot still holds e.
//
// On a win it counts the version it supersedes (oldAddr, oldSize; oldAddr 0
// for none) dead in that version's segment, a tombstone dead in its own,
// and the key-count change of flags; it returns the end of the new record.
// On a loss it marks the record invalid, counts it dead and returns errLost,
// still under g: the caller looks again. Allocation errors are allocate's
// (see there for whether g was released).
func (s *Store) appendVersion(g *epoch.Handle, mode allocMode, h uint64, slot hashidx.Slot, e hashidx.Entry,
	key, value []byte, flags, oldAddr, oldSize uint64) (uint64, error) {
	if e.Locked() {
		// A batch or transaction is committing this entry (commit.go):
		// mustNotWait callers give up as on a lost race; the others wait
		// for the commit unprotected (it may need room in memory) and
		// start over.
		if mode == mustNotWait {
			return 0, errLost
		}
		g.Release()
		waitUnlocked(slot)
		return 0, errRetry
	}
	size := hlog.RecordSize(len(key), len(value))
	addr, err := s.allocate(g, size, mode)
	if err != nil {
		return 0, err
	}
	r := s.log.NewRecord(addr, hlog.MakeInfo(e.Address(), flags), key, value, 0)
	if !hashidx.CompareAndSwap(slot, e, hashidx.MakeEntry(addr, e.Tag())) {
		r.MarkInvalid()
		s.dead.add(addr, h, int64(size))
		return 0, errLost
	}
	if oldAddr != 0 {
		s.dead.add(oldAddr, h, int64(oldSize))
	}
	if flags&hlog.FlagTombstone != 0 {
		s.dead.add(addr, h, int64(size))
	}
	if d := keyDelta(flags); d != 0 {
		s.keys.add(h, d)
	}
	if flags&hlog.FlagExpiry != 0 {
		exp, _ := splitStored(flags, value)
		s.expiring.note(addr, h, size, exp)
	}
	return addr + size, nil
}

// appendIfNewest appends a version of it's key (value, flags) in place of
// it if it is still the key's newest version, linking the new record only if
// the index still leads to it: the expirer's tombstones and compaction's
// copies. It reports whether it appended (false when it was superseded or
// its key is gone). It may release and re-protect (to make room), and
// returns the handle to use; on error the handle is released.
func (s *Store) appendIfNewest(g *epoch.Handle, it hlog.ScanItem, value []byte, flags uint64, buf *[]byte) (*epoch.Handle, bool, error) {
	h := hashKey(it.Key)
	for {
		slot, e, ok := s.index.Find(h)
		if !ok {
			return g, false, nil
		}
		if e.Address() != it.Address {
			w, err := s.findVersion(g, it.Key, e.Address(), noLimit, buf, false)
			if err != nil {
				g.Release()
				return nil, false, err
			}
			if w.addr != it.Address {
				return g, false, nil // superseded: the newer version decides
			}
		}
		_, err := s.appendVersion(g, mayWait, h, slot, e, it.Key, value, flags, it.Address, it.Size)
		switch err {
		case nil:
			return g, true, nil
		case errLost:
			continue // the chain changed under us: look again
		case errRetry:
			if g, err = s.protect(); err != nil {
				return nil, false, err
			}
		default:
			return nil, false, err
		}
	}
}

// dropEmptyEntry removes the entry e from slot if it has no chain (address
// 0) and is still there: an upsert that created it with FindOrCreate and
// then failed (a bad value from RMW's fn, an allocation error, a panic)
// must not leave it behind, or failed writes of distinct keys would fill
// the index. A writer that found the same empty entry and links a record
// to it meanwhile wins (the CAS fails); one that links after the clear
// fails its own CAS and retries on a fresh entry.
func (s *Store) dropEmptyEntry(slot hashidx.Slot, e hashidx.Entry) {
	if e.Address() == 0 && !e.IsEmpty() {
		hashidx.CompareAndSwap(slot, e, 0)
	}
}

// runUpdate calls the user's update function. If it panics, the panic goes
// on to the Store method's caller with the store intact: the record lock
// (if locked) is released without sealing and with the value unchanged, an
// empty index entry the attempt created is dropped, and g is released.
func (s *Store) runUpdate(g *epoch.Handle, slot hashidx.Slot, e hashidx.Entry, r hlog.MemRecord, locked bool,
	update func(old []byte, found bool) []byte, old []byte, found bool) []byte {
	returned := false
	defer func() {
		if !returned {
			if locked {
				r.Unlock()
			}
			s.dropEmptyEntry(slot, e)
			g.Release()
		}
	}()
	v := update(old, found)
	returned = true
	return v
}

// splitWalk bounds the records traceSplit reads of one chain in memory:
// most chains hold one key, and a key's older versions need not be read to
// place the entry (see hashidx.SplitChain: the walk may stop anywhere).
const splitWalk = 8

// traceSplit is the index's hashidx.Tracer: for each chain being split by
// a growth it finds the newest record of each half, reading the chain in
// memory (up to splitWalk records) and at most one record on disk, where
// the chain leaves memory. diskOnly is for recovery, before the log's
// memory is in use. It protects itself: it may run inside a lookup
// (nested protection is fine) or in the grower.
func (s *Store) traceSplit(chains []hashidx.SplitChain, bit uint64, diskOnly bool) {
	g := s.em.Protect()
	defer g.Release()
	mask := 2*bit - 1
	for i := range chains {
		c := &chains[i]
		addr, disk := c.Head, 0
		begin, head := s.log.Begin(), s.log.Head()
		if diskOnly {
			begin = s.man.Begin // the log has not started: Begin is not set
		}
		for n := 0; addr >= begin && addr != 0 && (c.Lo == 0 || c.Hi == 0); n++ {
			var key []byte
			var prev uint64
			if addr >= head && !diskOnly {
				if n == splitWalk {
					break
				}
				r := s.log.Mem(addr)
				key, prev = r.Key(), r.Prev()
			} else {
				if disk == 1 {
					break
				}
				disk++
				rec, b, err := s.log.ReadRecord(addr, g.Scratch)
				g.Scratch = b
				if err != nil {
					break // unreadable: let the chain of both halves start here
				}
				key, prev = rec.Key, rec.Prev()
			}
			switch hashKey(key) & mask {
			case c.Bucket:
				if c.Lo == 0 {
					c.Lo = addr
				}
			case c.Bucket + bit:
				if c.Hi == 0 {
					c.Hi = addr
				}
			}
			addr = prev
		}
		if addr >= begin && addr != 0 {
			// Stopped before the chain's end: what is left of it may hold
			// keys of either half.
			if c.Lo == 0 {
				c.Lo = addr
			}
			if c.Hi == 0 {
				c.Hi = addr
			}
		}
	}
}
