package rskv

import (
	"sync/atomic"

	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/internal/hashidx"
)

// Read promotion brings hot records that have fallen below the head back
// into memory, in the spirit of FASTER's CopyReadsToTail: a Get that reads a
// record from disk may copy it to the tail, where the next reads find it in
// memory and the next update changes it in place.
//
// Copying every cold read would turn a uniform read workload over data
// larger than memory into a stream of appends (and flushes and compaction).
// So a record is promoted on its second read from disk within a short
// window: the window is a small table of recently read cold addresses, one
// per slot, overwritten freely. Popular records are read twice quickly and
// move; one-off reads mostly do not.
//
// A promotion is a conditional insert, like a compaction copy: it links the
// copy only if the key's index entry has not changed since the read, so it
// can never hide a newer version. It never waits: if the tail page is full
// and no frame is free, the read simply does not promote.

// promoter holds the second-hit filter.
type promoter struct {
	seen []atomic.Uint64
	bits uint
}

// The filter's window is its slot count: a record read from disk is
// promoted when it is read again before another read overwrites its slot,
// that is within about that many disk reads. Under uniform reads over R
// records on disk a one-off record comes back within the window with
// probability about slots/R, and each such return copies a record to the
// tail for nothing: a dead copy that takes log space, page cache and a
// flush. With 64Ki slots and 4M records that was ~2% of disk reads; 16Ki
// slots make it ~0.4%. A hot record (zipfian's head) is read far more often
// than once per 16Ki disk reads, so it still moves on its second read. (4Ki
// slots, ~0.1%, could not be told from 16Ki in a 640 MiB cgroup, but cost
// zipfian reads a third with the page cache unlimited: the warm part of the
// zipfian tail fell out of the window before its second read.)
const (
	promoteMinSlots = 1 << 10
	promoteMaxSlots = 1 << 14
)

func newPromoter(memorySize int64) *promoter {
	n := clamp(floorPow2(memorySize/1024), promoteMinSlots, promoteMaxSlots)
	p := &promoter{seen: make([]atomic.Uint64, n)}
	for 1<<p.bits < n {
		p.bits++
	}
	return p
}

// secondHit records a disk read of addr and reports whether addr was read
// from disk recently: then the caller promotes it (only one concurrent
// reader wins the slot).
func (p *promoter) secondHit(addr uint64) bool {
	slot := &p.seen[(addr*0x9E3779B97F4A7C15)>>(64-p.bits)]
	if slot.Load() == addr {
		return slot.CompareAndSwap(addr, 0)
	}
	slot.Store(addr)
	return false
}

// maybePromote copies the cold record w of key (found through entry e of
// slot) to the tail if it was read from disk recently. It runs under g and
// never blocks.
func (s *Store) maybePromote(g *epoch.Handle, key []byte, h uint64, slot hashidx.Slot, e hashidx.Entry, w *where) {
	if s.promote == nil || !w.live() || w.inMem || !s.promote.secondHit(w.addr) || s.log.Err() != nil {
		return
	}
	if hashidx.Load(slot) != e {
		return // the key (or its chain) changed since the read
	}
	if _, err := s.appendVersion(g, mustNotWait, h, slot, e, key, w.value, w.copyFlags(), w.addr, w.size); err != nil {
		return // memory is full (reads do not make room), or the key changed
	}
	g.Count(cntPromoted)
}
