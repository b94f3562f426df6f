package rskv

import (
	"sync"
	"sync/atomic"

	"github.com/rskv-go/rskv/internal/hlog"
)

// deadBytes estimates, per log segment, the bytes of records that are no
// longer any key's newest version: what compacting the segment would free
// beyond the cost of copying the rest.
//
// A version is counted where it dies: the conditional append that
// supersedes it (chain.go) adds its size to the counter of the segment it
// lives in, not the segment of the new version. A record that loses its
// index race is dead at birth and counted in its own segment, and so is a
// tombstone (compaction drops it). Within one open the estimate of a
// segment is exact but for the unused ends of pages; after a reopen the
// segments written before it hold a replayed guess (see noteReplayed), which
// compaction verifies by reading the segment before it trusts it.
//
// The counters are striped by key hash (a segment being superseded by many
// writers at once would otherwise be one contended cache line): each chunk
// holds deadStripes rows of chunkSegments counters, one row per stripe, so
// two stripes of a segment never share a line. Chunks are allocated as the
// log grows and dropped when compaction moves begin past them; the table of
// chunk pointers is copied on change, so an add never takes a lock and is
// never lost to a resize.
type deadBytes struct {
	segBits uint // the store's segment size, fixed at open (never re-read from the manifest)
	mu      sync.Mutex
	table   atomic.Pointer[deadTable]
}

const (
	deadStripes   = 8
	chunkSegments = 64
)

type deadChunk [deadStripes][chunkSegments]atomic.Int64

type deadTable struct {
	first  uint64 // chunk number of chunks[0]
	chunks []*deadChunk
}

func (d *deadBytes) init(segBits uint, begin uint64) {
	d.segBits = segBits
	d.table.Store(&deadTable{first: (begin >> segBits) / chunkSegments})
}

// counter returns the counter of segment seg for stripe, growing the table
// if seg lies beyond it; nil if seg is below the table (compacted away).
func (d *deadBytes) counter(seg uint64, stripe uint64) *atomic.Int64 {
	c := seg / chunkSegments
	t := d.table.Load()
	if c < t.first {
		return nil
	}
	if c-t.first >= uint64(len(t.chunks)) {
		t = d.grow(c)
	}
	return &t.chunks[c-t.first][stripe][seg%chunkSegments]
}

func (d *deadBytes) grow(c uint64) *deadTable {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.table.Load()
	if c-t.first < uint64(len(t.chunks)) {
		return t
	}
	n := &deadTable{first: t.first, chunks: make([]*deadChunk, c-t.first+1)}
	copy(n.chunks, t.chunks)
	for i := len(t.chunks); i < len(n.chunks); i++ {
		n.chunks[i] = new(deadChunk)
	}
	d.table.Store(n)
	return n
}

// add counts n dead bytes in the segment holding addr, on the stripe of
// hash (the key's hash, or any value for counts no key owns).
func (d *deadBytes) add(addr, hash uint64, n int64) {
	if c := d.counter(addr>>d.segBits, hash>>(64-3)); c != nil {
		c.Add(n)
	}
}

// segment returns the estimate for segment seg.
func (d *deadBytes) segment(seg uint64) int64 {
	c := seg / chunkSegments
	t := d.table.Load()
	if c < t.first || c-t.first >= uint64(len(t.chunks)) {
		return 0
	}
	ch := t.chunks[c-t.first]
	var n int64
	for i := range ch {
		n += ch[i][seg%chunkSegments].Load()
	}
	return n
}

// set replaces segment seg's estimate with n (a measured value). Adds that
// race with it may be lost or counted twice: it stays an estimate.
func (d *deadBytes) set(seg uint64, n int64) {
	for i := uint64(0); i < deadStripes; i++ {
		if c := d.counter(seg, i); c != nil {
			c.Store(0)
		}
	}
	if c := d.counter(seg, 0); c != nil {
		c.Store(n)
	}
}

// sum returns the estimate for the whole log.
func (d *deadBytes) sum() int64 {
	t := d.table.Load()
	var n int64
	for _, ch := range t.chunks {
		for i := range ch {
			for j := range ch[i] {
				n += ch[i][j].Load()
			}
		}
	}
	return max(0, n)
}

// dropBelow forgets the segments wholly below begin (segment aligned):
// compaction deleted them.
func (d *deadBytes) dropBelow(begin uint64) {
	seg := begin >> d.segBits
	d.mu.Lock()
	t := d.table.Load()
	first := seg / chunkSegments
	if first > t.first {
		n := &deadTable{first: first}
		if k := first - t.first; k < uint64(len(t.chunks)) {
			n.chunks = append([]*deadChunk(nil), t.chunks[k:]...)
		}
		d.table.Store(n)
		t = n
	}
	d.mu.Unlock()
	// Zero the compacted segments that share the first chunk with live
	// ones.
	if len(t.chunks) == 0 {
		return
	}
	for s := t.first * chunkSegments; s < seg; s++ {
		for i := range t.chunks[0] {
			t.chunks[0][i][s%chunkSegments].Store(0)
		}
	}
}

// spread adds n dead bytes spread evenly over the segments of [from, to):
// a checkpoint's total, whose whereabouts are unknown.
func (d *deadBytes) spread(from, to uint64, n int64) {
	if n <= 0 || to <= from {
		return
	}
	size := int64(to - from)
	for a := from; a < to; {
		end := min(to, (a>>d.segBits+1)<<d.segBits)
		d.add(a, 0, int64(float64(n)*float64(end-a)/float64(size)))
		a = end
	}
}

// noteReplayedDead guesses the dead bytes a record replayed at Open left
// behind, as the write that made it counted them: a record that did not
// make its key live superseded a version, most likely the one its chain
// link points at (unless that is another key of the same tag), about as
// large as itself; a tombstone is dead itself. (Invalid records are not
// replayed and go uncounted.) Compaction checks these guesses by reading a
// segment before it acts on them (segmentPays).
func (s *Store) noteReplayedDead(h uint64, rec hlog.DiskRecord) {
	if rec.Info&hlog.FlagNewKey != 0 {
		return
	}
	if prev := rec.Prev(); prev >= s.man.Begin && prev != 0 {
		s.dead.add(prev, h, int64(rec.Size))
	}
	if rec.Tombstone() {
		s.dead.add(rec.Address, h, int64(rec.Size))
	}
}
