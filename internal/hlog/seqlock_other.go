//go:build race || !amd64

package hlog

import (
	"sync/atomic"
	"unsafe"
)

// seqLoadValue appends the n value bytes at p to dst with word-sized
// atomic loads, which keep the copy between the reader's two loads of the
// lock word on any architecture (see seqlock_amd64.go).
func seqLoadValue(dst []byte, p unsafe.Pointer, n int) []byte { return loadValue(dst, p, n) }

// storeLocked32 and storeLocked64 store into the lock or lengths word of
// a record whose lock the caller holds.
func storeLocked32(p *atomic.Uint32, v uint32) { p.Store(v) }
func storeLocked64(p *atomic.Uint64, v uint64) { p.Store(v) }
