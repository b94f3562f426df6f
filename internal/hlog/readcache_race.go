//go:build race

package hlog

import (
	"encoding/binary"
	"sync/atomic"
)

// Under the race detector the read cache's words are accessed atomically
// (see readcache_norace.go).

func loadWord(w *uint64) uint64     { return atomic.LoadUint64(w) }
func storeWord(w *uint64, v uint64) { atomic.StoreUint64(w, v) }

func copyOut(dst []byte, src []uint64) {
	for i := range src {
		binary.LittleEndian.PutUint64(dst[8*i:], atomic.LoadUint64(&src[i]))
	}
}

func copyIn(dst []uint64, src []byte) {
	for i := range dst {
		atomic.StoreUint64(&dst[i], binary.LittleEndian.Uint64(src[8*i:]))
	}
}
