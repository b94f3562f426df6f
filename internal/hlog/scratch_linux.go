//go:build linux && !race

package hlog

import "syscall"

// mapScratch maps n bytes (rounded up to whole OS pages) of anonymous
// memory, or reports false (the caller then uses the Go heap).
func mapScratch(n int) ([]byte, bool) {
	page := syscall.Getpagesize()
	n = (n + page - 1) &^ (page - 1)
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, false
	}
	return b, true
}

// releaseScratch returns b's pages to the OS; the mapping stays valid and
// reads zeros there. b starts on a page boundary of a mapping made by
// mapScratch and ends at its end (the callers pass a mapping, or its part
// past scratchKeep, a multiple of the page size).
func releaseScratch(b []byte) {
	if len(b) > 0 {
		_ = syscall.Madvise(b, syscall.MADV_DONTNEED) // an optimisation only
	}
}

func unmapScratch(b []byte) { _ = syscall.Munmap(b) }
