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
// the table's translations stay cached. Only the 2 MiB-aligned part of
// the array is advised, so the advice never touches another object's
// memory (allocBuckets aligns tables, so it is all of them). Errors are
// ignored: the advice is an optimisation, and the table works the same
// without it.
func adviseHuge(b []bucket) {
	size := uintptr(len(b)) * unsafe.Sizeof(bucket{})
	if size < hugePage {
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

// allocBuckets returns n zeroed buckets. A table of whole huge pages starts
// on a huge page boundary, cut from an allocation 2 MiB larger whose slack
// is never touched (address space, not memory), and is advised whole.
func allocBuckets(n int) []bucket {
	const perHuge = hugePage / int(unsafe.Sizeof(bucket{}))
	if n < perHuge || n%perHuge != 0 {
		b := make([]bucket, n)
		adviseHuge(b)
		return b
	}
	b := make([]bucket, n+perHuge)
	start := uintptr(unsafe.Pointer(&b[0]))
	off := int((hugePage-start&(hugePage-1))&(hugePage-1)) / int(unsafe.Sizeof(bucket{}))
	b = b[off : off+n : off+n]
	adviseHuge(b)
	return b
}
