//go:build !race

package epoch

import "unsafe"

// On amd64 a plain store is a release store: the processor does not move
// earlier loads or stores after it, and the compiler keeps every load and
// store of the protected section before a store that follows it in program
// order. So leaving a section needs no XCHG (the cost of an atomic store
// there), only the MOV that FASTER's epoch release is too. Entering one
// still needs the fence (Protect's compare-and-swap), which is the part
// WaitSafe depends on. The race detector does not know this protocol, so
// -race builds use atomic stores (atomic_other.go).
func (h *Handle) release() { *(*uint64)(unsafe.Pointer(&h.local)) = 0 }

// add updates the holder's own counter with a plain load and store: no one
// else writes it, Counters reads it with an atomic load, and an aligned
// 64-bit store is never torn on amd64.
func (h *Handle) add(i int, n uint64) {
	p := (*uint64)(unsafe.Pointer(&h.counters[i]))
	*p += n
}
