package hashidx

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Online growth, after Tsavorite's GrowIndex.
//
// Grow doubles the number of main buckets. Bucket i of the old table (size
// n) splits into buckets i and i+n of the new one by the next bit of the key
// hash (bit log2(n)). An entry covers every key of its bucket and tag, and
// its chain may hold keys of both halves, so the split asks the log (a
// Tracer) for the newest record of each half on the chain: the new entry of
// each half points there, and the chains stay as they are (a lookup skips
// records of other keys, as it always does).
//
// The old table is split in chunks of splitChunk buckets. Grow publishes
// the growth, then splits every chunk in order; meanwhile every operation
// first makes sure the chunk of its own bucket is split (splitting it
// itself if nobody has started it, waiting if someone is at it) and then
// works on the new table. Nobody waits for the whole growth, and nothing
// on the lookup path takes a lock.
//
// Operations that picked the old table before the growth was published
// (or that use a slot they found there) must not change it after its
// chunk was split: the split freezes every word of a bucket chain with a
// compare-and-swap before copying it, the link word first (movedLink),
// then each entry (movedBits, keeping its value). A writer's CAS on a
// frozen entry fails and it looks again (finding the new table); a lookup
// that skipped a frozen entry learns it from the frozen link it reads next
// (see find); an inserter's tentative entry that got frozen is dropped and
// its final CAS fails. So the split sees every old entry's last value, and
// no update is lost.
//
// Entry locks (a multi-key commit's) must not be held during a growth: the
// caller serialises Grow with its commits. The split drops entries with no
// chain (address 0: an upsert in progress, whose CAS will fail and retry).
//
// The tables hold integers only, so a growth allocates one pointer-free
// array (a mapping off the Go heap on linux, huge_linux.go). The old one is
// retired: the caller releases it once no goroutine can hold a slot in it
// (retire.go says who can, and how the caller's epoch drains them).

// movedLink, set in a link word, marks a frozen bucket.
const movedLink = uint64(1) << 63

// splitChunk is the number of old buckets split at a time: small enough
// that an operation waiting for its chunk waits about a millisecond at most
// (a few thousand record reads), large enough that a growth has few chunks.
const splitChunk = 256

const (
	chunkTodo = iota
	chunkSplitting
	chunkDone
)

// SplitChain is one entry's chain in a split: a Tracer's question and
// answer.
type SplitChain struct {
	// Head is the entry's address: the chain's newest record.
	Head uint64
	// Bucket is the entry's old bucket, which is the low half's new bucket;
	// the high half's is Bucket + the split bit.
	Bucket uint64
	// Lo and Hi are the Tracer's answer: the newest record on the chain
	// whose key's hash, masked to the new size (2*bit - 1), is Bucket (Lo)
	// or Bucket + bit (Hi); 0 where the chain holds none. Records of other
	// buckets (a chain keeps the records of keys earlier splits moved away)
	// belong to neither. Where it cannot tell (a record it cannot read, a
	// long chain), the Tracer may answer, for a half, an address it has not
	// looked past: that half's chain then starts there, which is correct
	// because every record above it belongs to the other half or to
	// neither.
	Lo, Hi uint64
}

// Tracer answers the SplitChains of a split by the hash bit bit (see
// SplitChain). It must be safe to call from any goroutine, including one
// in the middle of a lookup.
type Tracer func(chains []SplitChain, bit uint64)

// growth is a Grow in progress.
type growth struct {
	old, new *table
	bit      uint64 // the hash bit that splits: len(old.buckets)
	chunks   []atomic.Uint32
	trace    Tracer
}

// help makes sure hash's chunk is split.
func (g *growth) help(hash uint64) {
	c := (hash & g.old.mask) / splitChunk
	if g.chunks[c].Load() != chunkDone {
		g.splitChunk(c)
	}
}

// splitChunk splits chunk c, or waits for whoever is splitting it.
func (g *growth) splitChunk(c uint64) {
	st := &g.chunks[c]
	if st.CompareAndSwap(chunkTodo, chunkSplitting) {
		g.split(c)
		st.Store(chunkDone)
		return
	}
	for spins := 0; st.Load() != chunkDone; spins++ {
		if spins > 16 {
			runtime.Gosched()
		}
	}
}

// finishGrowth splits every chunk left of a growth in progress and returns
// its new table (nil if no growth runs).
func (x *Index) finishGrowth() *table {
	g := x.g.Load()
	if g == nil {
		return nil
	}
	for c := range g.chunks {
		g.splitChunk(uint64(c))
	}
	return g.new
}

// Grow doubles the index if it wants to grow (see WantsGrowth) and may: it
// returns false, doing nothing, if the overflow is below the growth
// threshold or the index has MaxBuckets. It returns when the growth is
// complete; operations run meanwhile and help. trace tells the halves of a
// chain apart. The caller must hold no entry lock, and let no one take one,
// until Grow returns.
func (x *Index) Grow(trace Tracer) bool {
	x.growMu.Lock()
	defer x.growMu.Unlock()
	old := x.t.Load()
	if old.overflow.used() < old.growAt || len(old.buckets) >= MaxBuckets {
		x.wantGrow.Store(false)
		return false
	}
	x.grow(old, trace)
	return true
}

// GrowTo grows the index until it has at least buckets main buckets (at
// most MaxBuckets), whatever its load. See Grow.
func (x *Index) GrowTo(buckets int, trace Tracer) {
	x.growMu.Lock()
	defer x.growMu.Unlock()
	for old := x.t.Load(); len(old.buckets) < min(buckets, MaxBuckets); old = x.t.Load() {
		x.grow(old, trace)
	}
}

func (x *Index) grow(old *table, trace Tracer) {
	x.wantGrow.Store(false)
	n := len(old.buckets)
	g := &growth{old: old, new: newTable(2 * n), bit: uint64(n), trace: trace,
		chunks: make([]atomic.Uint32, (n+splitChunk-1)/splitChunk)}
	x.g.Store(g)
	for c := range g.chunks {
		if h := x.growHook.Load(); h != nil {
			(*h)()
		}
		g.splitChunk(uint64(c))
	}
	x.t.Store(g.new)
	x.g.Store(nil)
	x.retire(old) // unmapped by ReleaseRetired once drained (retire.go)
	if g.new.overflow.used() >= g.new.growAt && 2*n < MaxBuckets {
		x.wantGrow.Store(true)
	}
}

// split moves chunk c of the old table to the new one.
func (g *growth) split(c uint64) {
	old, nw := g.old, g.new
	first := c * splitChunk
	end := min(first+splitChunk, uint64(len(old.buckets)))
	// Freeze the chunk's chains and collect their live entries, in
	// buffers reused across chunks: a growth splits every bucket, and
	// fresh slices per chunk were most of a load's garbage (270 MB over
	// the ten growths of a 4M-key load), which the runtime was slow to
	// give back.
	buf := splitBufs.Get().(*splitBuf)
	defer splitBufs.Put(buf)
	chains, entries := buf.chains[:0], buf.entries[:0]
	defer func() { buf.chains, buf.entries = chains[:0], entries[:0] }()
	for i := first; i < end; i++ {
		for b := &old.buckets[i]; b != nil; {
			link := &b[overflowSlot]
			l := link.Load()
			for !link.CompareAndSwap(l, l|movedLink) {
				l = link.Load()
			}
			for j := 0; j < entriesPerBucket; j++ {
				v := b[j].Load()
				for !b[j].CompareAndSwap(v, v|uint64(movedBits)) {
					v = b[j].Load()
				}
				if e := Entry(v); e != 0 && e&tentativeBit == 0 && e.Address() != 0 {
					chains = append(chains, SplitChain{Head: e.Address(), Bucket: i})
					entries = append(entries, e)
				}
			}
			if l == 0 {
				b = nil
			} else {
				b = old.overflow.at(l - 1)
			}
		}
	}
	// Ask the log where each half's chain starts.
	if len(chains) > 0 {
		g.trace(chains, g.bit)
	}
	// Fill the new buckets. Nobody else touches them until the chunk is
	// marked done, so plain appends do.
	k := 0
	for i := first; i < end; i++ {
		f0 := filler{t: nw, b: &nw.buckets[i]}
		f1 := filler{t: nw, b: &nw.buckets[i+g.bit]}
		for ; k < len(entries) && chains[k].Bucket == i; k++ {
			e, c := entries[k], &chains[k]
			if c.Lo != 0 {
				f0.add(e.WithAddress(c.Lo))
			}
			if c.Hi != 0 {
				f1.add(e.WithAddress(c.Hi))
			}
		}
	}
}

// splitBuf is a split's scratch (see split).
type splitBuf struct {
	chains  []SplitChain
	entries []Entry
}

var splitBufs = sync.Pool{New: func() any {
	return &splitBuf{chains: make([]SplitChain, 0, splitChunk*4), entries: make([]Entry, 0, splitChunk*4)}
}}

// filler appends entries to a new bucket chain nobody else uses yet.
type filler struct {
	t *table
	b *bucket
	i int
}

func (f *filler) add(e Entry) {
	if f.i == entriesPerBucket {
		idx, _ := f.t.overflow.alloc()
		f.b[overflowSlot].Store(idx + 1)
		f.b, f.i = f.t.overflow.at(idx), 0
	}
	f.b[f.i].Store(uint64(e))
	f.i++
}

// SetGrowHook makes Grow call f before each chunk it splits itself (not
// those operations split): tests use it to pause a growth half way.
func (x *Index) SetGrowHook(f func()) { x.growHook.Store(&f) }
