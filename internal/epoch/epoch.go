package epoch

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// NumCounters is the number of per-slot counters a Handle carries.
const NumCounters = 12

// Handle is a protection slot, held by one protected section from Protect
// to Release; it must be released exactly once and not used after.
//
// A Handle is 256 bytes, so that two holders' slots never share a cache line
// (adjacent-line prefetch included).
type Handle struct {
	// local is the epoch the holder entered, or 0 when the slot is free:
	// the word is both the protection record and the slot's ownership.
	local    atomic.Uint64
	counters [NumCounters]atomic.Uint64
	m        *Manager
	// Scratch is a buffer the holder may use until Release: it stays with
	// the slot, so operations get reusable scratch space without a pool
	// round trip of their own. Nothing in it survives Release.
	Scratch []byte
	_       [256 - 8 - 8*NumCounters - 8 - 24]byte
}

// Manager hands out protection and tracks the global epoch. The zero value is
// not usable; call New.
type Manager struct {
	current atomic.Uint64
	_       [56]byte // current is read by every Protect: keep it off mu's line
	// slots is the registry, a power-of-two number of slots, replaced
	// copy-on-write under mu when it grows so that Protect and Safe can
	// read it without locking. Slots are never freed.
	slots atomic.Pointer[[]*Handle]
	mu    sync.Mutex // guards registry growth
}

// New returns a Manager whose epoch starts at 1.
func New() *Manager {
	m := &Manager{}
	m.current.Store(1)
	empty := []*Handle{}
	m.slots.Store(&empty)
	return m
}

// minSlots is the registry's first size: room for a few protected
// goroutines per processor before two need the same slot.
func minSlots() int {
	return 1 << bits.Len(uint(max(4*runtime.GOMAXPROCS(0), 16)-1))
}

// Protect enters the current epoch and returns the handle to release when the
// protected section ends. Protected sections should be short: a goroutine that
// blocks while protected delays every WaitSafe.
//
// Go has no goroutine-local storage, so a goroutine finds its slot by a
// hint: the address of its own stack, which is the same for every call it
// makes from the same depth and differs between goroutines. One
// compare-and-swap takes the free slot and records the epoch in it (it is
// also the store-load fence protection needs); a slot held by another
// goroutine sends it to the next one.
func (m *Manager) Protect() *Handle {
	slots := *m.slots.Load()
	if n := len(slots); n > 0 {
		mask := n - 1
		i := stackHint(n)
		for probe := 0; probe < n; probe++ {
			h := slots[(i+probe)&mask]
			if h.local.Load() == 0 && h.local.CompareAndSwap(0, m.current.Load()) {
				return h
			}
		}
	}
	return m.protectSlow(len(slots))
}

// stackHint returns a slot index in [0, n), n a power of two, from the
// address of the caller's stack: goroutine stacks are at least 2 KiB apart.
func stackHint(n int) int {
	var anchor byte
	p := uint64(uintptr(unsafe.Pointer(&anchor))) >> 11
	return int((p * 0x9e3779b97f4a7c15) >> (64 - bits.Len(uint(n-1))) & uint64(n-1))
}

// protectSlow protects when every slot of a registry of seen slots was
// held: it doubles the registry (unless someone else already grew it) and
// tries again.
func (m *Manager) protectSlow(seen int) *Handle {
	for {
		m.mu.Lock()
		old := *m.slots.Load()
		if len(old) == seen {
			grown := make([]*Handle, max(2*len(old), minSlots()))
			copy(grown, old)
			for i := len(old); i < len(grown); i++ {
				grown[i] = &Handle{m: m}
			}
			m.slots.Store(&grown)
			old = grown
		}
		m.mu.Unlock()
		for _, h := range old[seen:] {
			if h.local.Load() == 0 && h.local.CompareAndSwap(0, m.current.Load()) {
				return h
			}
		}
		for _, h := range old[:seen] {
			if h.local.Load() == 0 && h.local.CompareAndSwap(0, m.current.Load()) {
				return h
			}
		}
		seen = len(old)
	}
}

// maxScratch is the largest Scratch buffer a slot keeps: a rare large
// record should not pin its size in every slot.
const maxScratch = 64 << 10

// Release leaves the protected section and frees the slot.
func (h *Handle) Release() {
	if cap(h.Scratch) > maxScratch {
		h.Scratch = nil
	}
	h.release()
}

// Refresh moves a long-running protected section into the current epoch, so
// that it no longer holds back WaitSafe calls for earlier bumps. Whatever the
// section learned about protected state before Refresh may be stale after it.
func (h *Handle) Refresh() {
	h.local.Store(h.m.current.Load())
}

// Count adds one to counter i of the handle's slot. Only the holder writes its
// slot's counters (see add).
func (h *Handle) Count(i int) { h.add(i, 1) }

// Add adds n to counter i of the handle's slot.
func (h *Handle) Add(i int, n uint64) { h.add(i, n) }

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
