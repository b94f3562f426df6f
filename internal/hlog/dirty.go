package hlog

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"
)

// dirtyStripes is the number of stripes of the dirty list: enough that two
// writers rarely meet on one mutex, and each push is a clean->dirty
// transition of a record (once per record per sync window), not an update.
const dirtyStripes = 64

// dirtyList collects what the next delta sync must write of the records
// updated in place since the last one. It is striped by address, each
// stripe on its own cache lines, so the images and addresses of one record
// always go through one stripe, in the order of its updates.
//
// Two ways in (see UpdateLocked):
//
//   - writer-side capture (Config.CaptureImages): the writer, holding the
//     record's lock with the record hot in its cache, appends the record's
//     image (lock word zeroed, the checksum left for redo to stamp:
//     entryUnstamped, delta.go) to its stripe's capture buffer. The sync
//     writes the buffers as they are: sequential bytes, no cache misses.
//   - the dirty list (the fallback, when the stripe's buffer is full or
//     capture is off): the writer sets the record's dirty bit and, on the
//     clean->dirty transition, pushes its address; the sync copies the
//     record. Those copies are taken after the buffers are swapped, so they
//     are newer than every buffered image of the same record and are
//     written after them.
//
// The syncer swaps every stripe's slices for spare ones, so the steady
// state allocates nothing.
type dirtyList struct {
	stripes [dirtyStripes]dirtyStripe
	// capCap is the capacity of each stripe's capture buffer in bytes (0:
	// writer-side capture off). Set before the log is used.
	capCap int
	// captureBelow is the tail of the last delta batch (syncTail): a
	// record below it was in an earlier batch's range, so its in-place
	// update is captured; one above it will be copied with the next
	// batch's range anyway and only marks itself dirty.
	captureBelow atomic.Uint64
	// window counts the swaps of the capture buffers (takeAll,
	// takeImages). A writer captures a record at most once per window and
	// marks it with the window (the lock word's captured bits); a later
	// update in the same window takes the dirty list instead, so a hot key
	// costs one image and one copy per sync, not one image per update. The
	// bits alias every 8 windows; an alias only sends an update to the
	// dirty list, which is always correct. A writer that read the window
	// just before a swap captures into either side of it: both are correct
	// (the next update captures again, or takes the dirty list of the next
	// batch).
	window atomic.Uint32
}

type dirtyStripe struct {
	mu    sync.Mutex
	addrs []uint64
	// imgs holds captured entries (address u64, length u64, image), laid
	// out as in a delta batch.
	imgs []byte
	// spare and spareImgs are the slices handed back by the last swap,
	// kept for their capacity (owned by the syncer between swaps).
	spare     []uint64
	spareImgs []byte
	// lo and hi bound the addresses captured in imgs, so that the sync
	// can tell without reading them whether every entry belongs in its
	// batch.
	lo, hi uint64
	_      [128 - 8 - 4*24 - 16]byte
}

func stripeOf(addr uint64) uint64 { return (addr >> 3) * 0x9E3779B97F4A7C15 >> 58 }

// push lists addr, which was just marked dirty.
func (d *dirtyList) push(addr uint64) {
	s := &d.stripes[stripeOf(addr)]
	s.mu.Lock()
	s.addrs = append(s.addrs, addr)
	s.mu.Unlock()
}

// capture appends the image of the record r at addr, size bytes, to its
// stripe's buffer and reports true; false (nothing done) if the buffer is
// full. The caller holds the record's lock, so the image is consistent and
// later images of the record land after it.
func (d *dirtyList) capture(addr uint64, r memRecord, size int) bool {
	s := &d.stripes[stripeOf(addr)]
	s.mu.Lock()
	off := len(s.imgs)
	if off+entryHeaderSize+size > cap(s.imgs) {
		if s.imgs != nil || entryHeaderSize+size > d.capCap {
			s.mu.Unlock()
			return false
		}
		// First use of this stripe (or of this side of the swap): one
		// allocation for the life of the log.
		s.imgs = make([]byte, 0, d.capCap)
	}
	if off == 0 {
		s.lo, s.hi = addr, addr
	} else {
		s.lo, s.hi = min(s.lo, addr), max(s.hi, addr)
	}
	b := s.imgs[off : off+entryHeaderSize+size]
	s.imgs = s.imgs[:off+entryHeaderSize+size]
	binary.LittleEndian.PutUint64(b, addr)
	binary.LittleEndian.PutUint64(b[8:], uint64(size)|entryUnstamped)
	img := b[entryHeaderSize:]
	// Word loads, as copyImage: readers and failed lockers touch the
	// record concurrently (loads and CASes), and the race detector must
	// see no plain access beside them.
	for i := 0; i+8 <= size; i += 8 {
		binary.LittleEndian.PutUint64(img[i:], (*atomic.Uint64)(unsafe.Add(r.p, i)).Load())
	}
	// The lock word is in-memory state; the checksum is left to redo
	// (entryUnstamped, delta.go): the frame's checksum covers the bytes.
	clear(img[8:16])
	s.mu.Unlock()
	return true
}

// takeAll swaps out every stripe's capture buffer and dirty list, each
// stripe's two in one critical section, then calls images for every
// stripe's captured entries (with the bounds of their addresses) and,
// after all of them, addrs for every stripe's listed addresses. The slices
// are reused once the next takeAll (or, for the buffers, takeImages) has
// swapped them back. Callers serialise takeAll and takeImages.
//
// Why one critical section: an update lands in the capture buffer or on
// the list under the stripe's mutex, so with both swapped together every
// update of a record goes wholly into this sync or wholly into the next.
// Swapped in two passes, a writer between them could capture an image A
// into the new buffer (the next batch) and then list the record on the old
// list, whose copy (newer than A) goes into this batch: the next batch
// would then bring the record back to A (TestCaptureOrdering/push-between-swaps).
func (d *dirtyList) takeAll(images func(entries []byte, lo, hi uint64), addrs func([]uint64)) {
	var (
		imgs   [dirtyStripes][]byte
		bounds [dirtyStripes][2]uint64
		lists  [dirtyStripes][]uint64
	)
	d.window.Add(1)
	for i := range d.stripes {
		s := &d.stripes[i]
		s.mu.Lock()
		lists[i] = s.addrs
		s.addrs = s.spare[:0]
		if len(s.imgs) > 0 {
			imgs[i], bounds[i] = s.imgs, [2]uint64{s.lo, s.hi}
			s.imgs = s.spareImgs[:0]
		}
		s.mu.Unlock()
	}
	if afterCaptureSwap != nil {
		afterCaptureSwap()
	}
	for i := range d.stripes {
		if imgs[i] != nil {
			images(imgs[i], bounds[i][0], bounds[i][1])
			d.stripes[i].spareImgs = imgs[i][:0]
		}
	}
	for i := range d.stripes {
		addrs(lists[i])
		d.stripes[i].spare = lists[i][:0]
	}
}

// takeImages swaps out every stripe's capture buffer and calls fn with its
// entries and the bounds of their addresses. A buffer stays untouched
// until the next takeImages (the writers fill the other one), so fn may
// keep it until then. Callers serialise takeImages (and call it before
// take, see dirtyList).
func (d *dirtyList) takeImages(fn func(entries []byte, lo, hi uint64)) {
	if d.capCap == 0 {
		return
	}
	d.window.Add(1)
	for i := range d.stripes {
		s := &d.stripes[i]
		s.mu.Lock()
		got := s.imgs
		if len(got) == 0 {
			s.mu.Unlock()
			continue
		}
		lo, hi := s.lo, s.hi
		s.imgs = s.spareImgs[:0]
		s.mu.Unlock()
		fn(got, lo, hi)
		s.spareImgs = got[:0]
	}
}

// empty says whether nothing is listed or captured.
func (d *dirtyList) empty() bool {
	for i := range d.stripes {
		s := &d.stripes[i]
		s.mu.Lock()
		n := len(s.addrs) + len(s.imgs)
		s.mu.Unlock()
		if n > 0 {
			return false
		}
	}
	return true
}
