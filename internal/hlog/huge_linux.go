package hlog

import (
	"syscall"
	"unsafe"
)

const hugePage = 2 << 20

// adviseHuge asks the kernel to back a page frame with transparent huge
// pages where its policy is "madvise": a read of a random record in memory
// then rarely misses the TLB. Only the 2 MiB-aligned middle of frames of at
// least 4 MiB is advised, so no other object's memory is touched; errors
// are ignored (an optimisation only). Index tables get the same advice
// (internal/hashidx).
func adviseHuge(b []byte) {
	if len(b) < 2*hugePage {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := (start + uintptr(len(b))) &^ (hugePage - 1)
	if hi > lo {
		_ = syscall.Madvise(b[lo-start:hi-start], syscall.MADV_HUGEPAGE)
	}
}
