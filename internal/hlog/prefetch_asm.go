//go:build amd64 || arm64

package hlog

// prefetchRecordTail asks the processor to fetch the two cache lines after
// the one at p (prefetch_*.s). A prefetch never faults, whatever the
// address, and changes nothing: it only starts the misses early.
//
//go:noescape
func prefetchRecordTail(p uintptr)
