//go:build amd64 || arm64

// Package prefetch starts cache misses early: a lookup that knows an
// address before it needs the data there asks the processor to fetch it,
// so that misses which do not depend on each other overlap instead of
// following each other (the index bucket of many keys in MultiGet; a
// record's value lines while its header is on the way).
//
// A prefetch is only a hint: it never faults, whatever the address, and
// changes nothing, so callers may pass an address they have not checked.
// The functions are a few instructions of assembly (PREFETCHT0 on amd64,
// PRFM PLDL1KEEP on arm64) and do nothing elsewhere (prefetch_other.go).
package prefetch

// Line asks for the cache line holding p.
//
//go:noescape
func Line(p uintptr)

// Lines3 asks for the cache line holding p and the two after it: a
// 136-byte record (8-byte key, 100-byte value) spans three.
//
//go:noescape
func Lines3(p uintptr)
