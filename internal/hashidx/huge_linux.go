package hashidx

import (
	"unsafe"

	"github.com/rskv-go/rskv/internal/racecheck"
	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on linux/amd64 and arm64.
const hugePage = 2 << 20

// bucketSize is the size of a bucket in bytes (one cache line).
const bucketSize = int(unsafe.Sizeof(bucket{}))

// adviseHuge asks the kernel to back the buckets with transparent huge
// pages where its policy is "madvise" (the common default). A lookup of a
// large index misses the TLB on almost every probe with 4 KiB pages (a 16
// MiB table spans 4096 of them, more than the TLB holds); with 2 MiB pages
// the table's translations stay cached. Only the 2 MiB-aligned part of
// the array is advised, so the advice never touches another object's
// memory (allocBuckets aligns mapped tables, so it is all of them). Errors
// are ignored: the advice is an optimisation, and the table works the
// same without it.
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
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
}

// allocBuckets returns n zeroed buckets, and whether they were mapped off
// the Go heap (then freeBuckets must unmap them, exactly once).
//
// A table of at least one huge page is an anonymous private mapping, not
// a Go allocation: an index that grows online leaves each old table
// behind, and as Go-heap garbage it stayed resident long after the growth
// (the runtime returns freed spans to the OS slowly, and a dead table of
// hundreds of MiB also raises the heap goal). A mapping is given back the
// moment it is unmapped, which the Index does once no goroutine can still
// read it (see Index.ReleaseRetired). Its pages are the kernel's zero page
// until written, so a table costs memory only for the buckets in use.
//
// The mapping is cut to start on a huge page boundary: one huge page more
// is mapped and the slack on both sides unmapped at once. Smaller tables
// (tests, tiny stores) stay on the Go heap, where the GC frees them and no
// reader can fault.
func allocBuckets(n int) ([]bucket, bool) {
	size := uintptr(n) * uintptr(bucketSize)
	// Under -race tables stay on the heap: the race detector does not
	// track atomics on memory it did not allocate, so the happens-before
	// edges the index's CASes carry (a record written, then published in
	// an entry) vanish and it reports races on the log that are not there.
	if size < hugePage || size%hugePage != 0 || racecheck.Enabled {
		return make([]bucket, n), false
	}
	p, err := unix.MmapPtr(-1, 0, nil, size+hugePage, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		// Out of address space or a mapping limit: the Go heap may
		// still have room, and the table works the same there.
		return make([]bucket, n), false
	}
	// Cut the mapping to the huge-page-aligned size bytes inside it.
	head := (hugePage - uintptr(p)&(hugePage-1)) & (hugePage - 1)
	if head > 0 {
		_ = unix.MunmapPtr(p, head)
	}
	if tail := hugePage - head; tail > 0 {
		_ = unix.MunmapPtr(unsafe.Add(p, head+size), tail)
	}
	b := unsafe.Slice((*bucket)(unsafe.Add(p, head)), n)
	adviseHuge(b)
	return b, true
}

// freeBuckets unmaps buckets allocBuckets mapped. Any later access to them
// faults: the caller must know that no goroutine can still hold a pointer
// into them.
func freeBuckets(b []bucket) {
	_ = unix.MunmapPtr(unsafe.Pointer(&b[0]), uintptr(len(b))*uintptr(bucketSize))
}
