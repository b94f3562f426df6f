package epoch

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// NumCounters is the number of per-slot counters a Handle carries.
const NumCounters = 12

// slot is one protection record. It is padded to two cache lines so that two
// processors' slots never share a line (adjacent-line prefetch included).
type slot struct {
	// local is the epoch the holder entered, or 0 when unprotected.
	local    atomic.Uint64
	counters [NumCounters]atomic.Uint64
	_        [128 - 8 - 8*NumCounters]byte
}

// Handle is a protected section's grip on its slot. It is obtained from
// Protect and must be released exactly once; it must not be used after.
type Handle struct {
	s *slot
	m *Manager
	// Scratch is a buffer the holder may use until Release: it travels with
	// the pooled handle, so operations get reusable scratch space without a
	// pool round trip of their own. Nothing in it survives Release.
	Scratch []byte
}

// Manager hands out protection and tracks the global epoch. The zero value is
// not usable; call New.
type Manager struct {
	current atomic.Uint64
	// slots is the registry, replaced copy-on-write under mu so that WaitSafe
	// can scan it without locking.
	slots atomic.Pointer[[]*slot]
	mu    sync.Mutex // guards registry growth and free
	free  []*slot
	pool  sync.Pool
}

// New returns a Manager whose epoch starts at 1.
func New() *Manager {
	m := &Manager{}
	m.current.Store(1)
	empty := []*slot{}
	m.slots.Store(&empty)
	m.pool.New = func() any { return m.newHandle() }
	return m
}

func (m *Manager) newHandle() *Handle {
	m.mu.Lock()
	var s *slot
	if n := len(m.free); n > 0 {
		s = m.free[n-1]
		m.free = m.free[:n-1]
	} else {
		s = new(slot)
		old := *m.slots.Load()
		grown := make([]*slot, len(old), len(old)+1)
		copy(grown, old)
		grown = append(grown, s)
		m.slots.Store(&grown)
	}
	m.mu.Unlock()
	h := &Handle{s: s, m: m}
	// When the pool drops the handle, its slot (unprotected by then, since only
	// released handles are pooled) goes back to the free list.
	runtime.AddCleanup(h, func(s *slot) {
		m.mu.Lock()
		m.free = append(m.free, s)
		m.mu.Unlock()
	}, s)
	return h
}

// Protect enters the current epoch and returns the handle to release when the
// protected section ends. Protected sections should be short: a goroutine that
// blocks while protected delays every WaitSafe.
func (m *Manager) Protect() *Handle {
	h := m.pool.Get().(*Handle)
	h.s.local.Store(m.current.Load())
	return h
}

// maxScratch is the largest Scratch buffer a pooled handle keeps: a rare
// large record should not pin its size in every slot.
const maxScratch = 64 << 10

// Release leaves the protected section.
func (h *Handle) Release() {
	h.s.local.Store(0)
	if cap(h.Scratch) > maxScratch {
		h.Scratch = nil
	}
	h.m.pool.Put(h)
}

// Refresh moves a long-running protected section into the current epoch, so
// that it no longer holds back WaitSafe calls for earlier bumps. Whatever the
// section learned about protected state before Refresh may be stale after it.
func (h *Handle) Refresh() {
	h.s.local.Store(h.m.current.Load())
}

// Count adds one to counter i of the handle's slot. Only the holder writes its
// slot's counters, so a load and a store suffice (no locked instruction).
func (h *Handle) Count(i int) {
	c := &h.s.counters[i]
	c.Store(c.Load() + 1)
}

// Add adds n to counter i of the handle's slot.
func (h *Handle) Add(i int, n uint64) {
	c := &h.s.counters[i]
	c.Store(c.Load() + n)
}

// Current returns the global epoch.
func (m *Manager) Current() uint64 { return m.current.Load() }

// Bump advances the global epoch and returns the new value. State published
// before Bump is seen by every section protected at or after the returned
// epoch; WaitSafe(returned) waits out the sections entered before it.
func (m *Manager) Bump() uint64 { return m.current.Add(1) }

// Safe reports whether every protected section entered an epoch >= e.
func (m *Manager) Safe(e uint64) bool {
	for _, s := range *m.slots.Load() {
		if v := s.local.Load(); v != 0 && v < e {
			return false
		}
	}
	return true
}

// WaitSafe blocks until every section protected before epoch e was entered has
// been released. The caller must not itself be protected, or it waits forever.
func (m *Manager) WaitSafe(e uint64) {
	for i := 0; !m.Safe(e); i++ {
		switch {
		case i < 64:
			runtime.Gosched()
		default:
			// A protected goroutine may be blocked in a disk read; back off.
			time.Sleep(time.Duration(min(i-63, 100)) * 10 * time.Microsecond)
		}
	}
}

// BumpAndWait publishes a state change: it bumps the epoch and waits until no
// section that could have seen the old state remains.
func (m *Manager) BumpAndWait() { m.WaitSafe(m.Bump()) }

// Counters returns the sum of each counter over all slots.
func (m *Manager) Counters() [NumCounters]uint64 {
	var sum [NumCounters]uint64
	for _, s := range *m.slots.Load() {
		for i := range sum {
			sum[i] += s.counters[i].Load()
		}
	}
	return sum
}

// Slots returns the number of slots in the registry (for tests and stats).
func (m *Manager) Slots() int { return len(*m.slots.Load()) }
