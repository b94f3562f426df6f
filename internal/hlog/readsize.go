package hlog

import "sync/atomic"

// A record below the head is read with a pread (or a copy from a mapping)
// before its size is known. Too short a first read and the record needs a
// second one; too long and it copies bytes nobody wants and, near a file
// block's end, touches the next block of the page cache, which may cost a
// device read of its own. The records of one store tend to have few sizes
// (YCSB's all have one), so the best guess for the next record is the
// records read lately: readSizer keeps a histogram of the sizes of a
// sample of them and, every readSizeWindow samples, sets the first read
// to the size that covers readSizeCover of the window.
//
// It is a hint: its counters are updated by concurrent readers without a
// lock and a window may lose or double a few samples, which only moves
// the guess a little. A wrong guess costs one more read, never a wrong
// result: ReadRecord checks the header and reads again when it must.
const (
	readSizeClass   = 32                           // histogram class width, bytes
	readSizeClasses = firstReadMax / readSizeClass // classes up to firstReadMax
	readSizeWindow  = 256                          // samples per decision
	// readSizeCover is the share of a window the guess must cover, in
	// 1/1024: records above it take a second read.
	readSizeCover = 1014 // ~99%
	// readSizeSampleBits: one read in 1<<readSizeSampleBits is sampled
	// (chosen by a hash of its address, so no counter is shared by every
	// read); the other reads only load the guess.
	readSizeSampleBits = 3
)

// readSizer predicts the size of the next record read from disk. Its zero
// value has no guess yet.
type readSizer struct {
	// hint is the current guess in bytes (0: none yet). It has a cache
	// line of its own: every cold read loads it, samples write the rest.
	_    [64]byte
	hint atomic.Uint64
	_    [56]byte
	n    atomic.Uint32 // samples in the current window
	hist [readSizeClasses]atomic.Uint32
}

// guess returns the size to read first, or 0 if there is no guess yet.
func (r *readSizer) guess() uint64 { return r.hint.Load() }

// observe records that the record at addr was size bytes long.
func (r *readSizer) observe(addr, size uint64) {
	if (addr>>3)*0x9E3779B97F4A7C15>>(64-readSizeSampleBits) != 0 {
		return
	}
	c := (size + readSizeClass - 1) / readSizeClass
	if c > 0 {
		c-- // class c holds sizes in (c*readSizeClass, (c+1)*readSizeClass]
	}
	c = min(c, readSizeClasses-1)
	r.hist[c].Add(1)
	if r.n.Add(1) != readSizeWindow {
		return
	}
	// This sample closed the window: decide, and start the next one.
	// Samples that land while this runs count in either window.
	var counts [readSizeClasses]uint32
	total := uint64(0)
	for i := range r.hist {
		counts[i] = r.hist[i].Swap(0)
		total += uint64(counts[i])
	}
	r.n.Store(0)
	want := (total*readSizeCover + 1023) / 1024
	seen := uint64(0)
	for i, n := range counts {
		if seen += uint64(n); seen >= want && seen > 0 {
			r.hint.Store(uint64(i+1) * readSizeClass)
			return
		}
	}
}

// firstRead returns how many bytes to read first for a record at file
// offset off with room bytes left in its page, into a buffer of capacity
// bufCap: the guess when there is one, else firstReadSize's default. A
// guess that does not fit before the next file block is read across it:
// the record it predicts crosses the block too, and reading it in one
// piece beats a read up to the edge and a second for the rest.
func (r *readSizer) firstRead(off int64, room uint64, bufCap int) uint64 {
	g := r.guess()
	if g == 0 {
		return firstReadSize(off, room, bufCap)
	}
	return min(g, room)
}
