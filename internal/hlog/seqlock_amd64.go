//go:build !race

package hlog

import (
	"sync/atomic"
	"unsafe"
)

// On amd64 the processor keeps loads in order with loads and stores in
// order with stores (and with earlier loads), and the compiler keeps plain
// memory accesses between the atomic accesses around them. So the two
// sides of a record's seqlock need no word-by-word atomics here:
//
//   - a reader copies the value with memmove between its two loads of the
//     lock word, and the second load tells it whether a writer overlapped;
//   - the lock's holder publishes its new lengths word and its unlock with
//     plain stores (each an XCHG when atomic), which no one can see before
//     the value stores that precede them.
//
// Other architectures, and -race builds (whose detector does not know the
// seqlock protocol), use atomics (seqlock_other.go).

// seqLoadValue appends the n value bytes at p to dst, for a reader that
// validates the copy with the record's seqlock.
func seqLoadValue(dst []byte, p unsafe.Pointer, n int) []byte {
	return append(dst, unsafe.Slice((*byte)(p), n)...)
}

// storeLocked32 and storeLocked64 store v into the lock or lengths word of
// a record whose lock the caller holds.
func storeLocked32(p *atomic.Uint32, v uint32) { *(*uint32)(unsafe.Pointer(p)) = v }
func storeLocked64(p *atomic.Uint64, v uint64) { *(*uint64)(unsafe.Pointer(p)) = v }
