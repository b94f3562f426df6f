//go:build !amd64 && !arm64

package hlog

// prefetchRecordTail does nothing where no prefetch instruction is wired
// up (prefetch_asm.go).
func prefetchRecordTail(uintptr) {}
