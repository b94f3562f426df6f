package hlog

import (
	"syscall"
	"unsafe"
)

const hugePage = 2 << 20

// adviseHuge asks the kernel to back b with transparent huge pages where its
// policy is "madvise": a read of a random record in memory then rarely
// misses the TLB. Only the 2 MiB-aligned part of b is advised, so no other
// object's memory is touched; errors are ignored (an optimisation only).
// Frames come aligned (allocFrames), so all of them is advised. Index
// tables get the same advice (internal/hashidx).
func adviseHuge(b []byte) {
	if len(b) < hugePage {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := (start + uintptr(len(b))) &^ (hugePage - 1)
	if hi > lo {
		_ = syscall.Madvise(b[lo-start:hi-start], syscall.MADV_HUGEPAGE)
	}
}

// allocFrames returns n zeroed page frames of size bytes, back to back in
// one slice. When they cover whole huge pages the slice starts on a huge
// page boundary (it is cut from an allocation up to 2 MiB larger, whose
// slack is never touched, so it costs address space, not memory) and is
// advised whole: a frame placed anywhere else by the Go heap has only its
// aligned middle advised, and a lookup in the rest of it misses the TLB
// (measured: half of a 4 MiB frame on 4 KiB pages).
func allocFrames(size uint64, n int) []byte {
	total := size * uint64(n)
	if total < hugePage || total%hugePage != 0 {
		b := make([]byte, total)
		adviseHuge(b)
		return b
	}
	b := make([]byte, total+hugePage)
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	off := uint64((hugePage - start&(hugePage-1)) & (hugePage - 1))
	b = b[off : off+total : off+total]
	adviseHuge(b)
	return b
}
