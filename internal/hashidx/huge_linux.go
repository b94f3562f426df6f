package hashidx

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on linux/amd64 and arm64.
const hugePage = 2 << 20

// adviseHuge asks the kernel to back the buckets with transparent huge
// pages where its policy is "madvise" (the common default). A lookup of a
// large index misses the TLB on almost every probe with 4 KiB pages (a 16
// MiB table spans 4096 of them, more than the TLB holds); with 2 MiB pages
// the table's translations stay cached. Only the 2 MiB-aligned middle of
// the array is advised, and only arrays of at least 4 MiB, so the advice
// never touches another object's memory. Errors are ignored: the advice is
// an optimisation, and the table works the same without it.
func adviseHuge(b []bucket) {
	size := uintptr(len(b)) * unsafe.Sizeof(bucket{})
	if size < 2*hugePage {
		return
	}
	start := uintptr(unsafe.Pointer(&b[0]))
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := (start + size) &^ (hugePage - 1)
	if hi <= lo {
		return
	}
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), size)[lo-start : hi-start]
	_ = syscall.Madvise(mem, syscall.MADV_HUGEPAGE)
}
