package hlog

import "sync"

// dirtyStripes is the number of stripes of the dirty list: enough that two
// writers rarely meet on one mutex, and each push is a clean->dirty
// transition of a record (once per record per sync window), not an update.
const dirtyStripes = 64

// dirtyList collects the addresses of records updated in place since the
// last sync (each once: the record's dirty bit says it is listed). It is
// striped by address, each stripe on its own cache line. The syncer swaps
// every stripe's slice for a spare one, so the steady state allocates
// nothing.
type dirtyList struct {
	stripes [dirtyStripes]dirtyStripe
}

type dirtyStripe struct {
	mu    sync.Mutex
	addrs []uint64
	// spare is the slice handed back by the last swap, kept for its
	// capacity (owned by the syncer between swaps).
	spare []uint64
	_     [64 - 8 - 2*24]byte
}

func stripeOf(addr uint64) uint64 { return (addr >> 3) * 0x9E3779B97F4A7C15 >> 58 }

// push lists addr, which was just marked dirty.
func (d *dirtyList) push(addr uint64) {
	s := &d.stripes[stripeOf(addr)]
	s.mu.Lock()
	s.addrs = append(s.addrs, addr)
	s.mu.Unlock()
}

// take swaps out every stripe and calls fn with its addresses; the slices
// are reused by later pushes once fn returns. Callers serialise take.
func (d *dirtyList) take(fn func(addrs []uint64)) {
	for i := range d.stripes {
		s := &d.stripes[i]
		s.mu.Lock()
		got := s.addrs
		s.addrs = s.spare[:0]
		s.mu.Unlock()
		fn(got)
		s.spare = got[:0]
	}
}
