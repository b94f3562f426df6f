package hashidx

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/errors"
)

// entriesPerBucket is the number of entries in a bucket; the eighth word is
// the overflow link.
const entriesPerBucket = 7

// bucket is one cache line: seven entries and the overflow link, which holds
// 1 + the index of the next overflow bucket, or 0 for none.
type bucket [entriesPerBucket + 1]atomic.Uint64

const overflowSlot = entriesPerBucket

// Slot is the location of an entry, to be passed back to CompareAndSwap.
type Slot = *atomic.Uint64

// Index is the hash table. All methods are safe for concurrent use.
type Index struct {
	buckets  []bucket
	mask     uint64
	overflow overflowPool
}

// New returns an empty index with the given number of buckets, a power of
// two.
func New(buckets int) (*Index, error) {
	if buckets <= 0 || buckets&(buckets-1) != 0 {
		return nil, errors.Newf("hashidx: bucket count %d is not a positive power of two", buckets)
	}
	return &Index{buckets: make([]bucket, buckets), mask: uint64(buckets - 1)}, nil
}

// Buckets returns the number of main buckets.
func (x *Index) Buckets() int { return len(x.buckets) }

func (x *Index) home(hash uint64) *bucket { return &x.buckets[hash&x.mask] }

// Find returns the slot and entry for hash's tag, if a non-tentative entry
// with that tag exists. The entry's address may be 0 (created, not yet set).
func (x *Index) Find(hash uint64) (Slot, Entry, bool) {
	tag := TagOf(hash)
	for b := x.home(hash); b != nil; b = x.next(b) {
		for i := 0; i < entriesPerBucket; i++ {
			e := Entry(b[i].Load())
			if e != 0 && !e.Tentative() && e.Tag() == tag {
				return &b[i], e, true
			}
		}
	}
	return nil, 0, false
}

// FindOrCreate returns the slot and entry for hash's tag, creating an entry
// with address 0 if there is none.
func (x *Index) FindOrCreate(hash uint64) (Slot, Entry) {
	tag := TagOf(hash)
	for attempt := 0; ; attempt++ {
		if s, e, ok := x.Find(hash); ok {
			return s, e
		}
		free := x.freeSlot(hash)
		mine := MakeEntry(0, tag) | tentativeBit
		if !free.CompareAndSwap(0, uint64(mine)) {
			continue
		}
		if x.otherWithTag(hash, tag, free) {
			// Someone else is inserting (or has inserted) this tag: yield to them.
			free.Store(0)
			if attempt > 2 {
				runtime.Gosched()
			}
			continue
		}
		final := MakeEntry(0, tag)
		free.Store(uint64(final))
		return free, final
	}
}

// otherWithTag reports whether an entry other than mine carries tag.
func (x *Index) otherWithTag(hash uint64, tag uint16, mine Slot) bool {
	for b := x.home(hash); b != nil; b = x.next(b) {
		for i := 0; i < entriesPerBucket; i++ {
			if &b[i] == mine {
				continue
			}
			e := Entry(b[i].Load())
			if e != 0 && e.Tag() == tag {
				return true
			}
		}
	}
	return false
}

// freeSlot returns an empty slot in hash's bucket chain, adding an overflow
// bucket if the chain is full.
func (x *Index) freeSlot(hash uint64) Slot {
	b := x.home(hash)
	for {
		for i := 0; i < entriesPerBucket; i++ {
			if b[i].Load() == 0 {
				return &b[i]
			}
		}
		link := &b[overflowSlot]
		if l := link.Load(); l != 0 {
			b = x.overflow.at(l - 1)
			continue
		}
		idx := x.overflow.alloc()
		if link.CompareAndSwap(0, idx+1) {
			b = x.overflow.at(idx)
			continue
		}
		// Lost the race to link one; ours goes back to the pool.
		x.overflow.release(idx)
	}
}

func (x *Index) next(b *bucket) *bucket {
	if l := b[overflowSlot].Load(); l != 0 {
		return x.overflow.at(l - 1)
	}
	return nil
}

// CompareAndSwap replaces the entry in slot with new if it still holds old.
func CompareAndSwap(s Slot, old, new Entry) bool {
	return s.CompareAndSwap(uint64(old), uint64(new))
}

// Load reads the entry in slot.
func Load(s Slot) Entry { return Entry(s.Load()) }

// Range calls fn for every non-empty, non-tentative entry until fn returns
// false. Entries inserted or changed during Range may or may not be seen.
func (x *Index) Range(fn func(s Slot, e Entry) bool) {
	visit := func(b *bucket) bool {
		for i := 0; i < entriesPerBucket; i++ {
			if e := Entry(b[i].Load()); e != 0 && !e.Tentative() {
				if !fn(&b[i], e) {
					return false
				}
			}
		}
		return true
	}
	for i := range x.buckets {
		for b := &x.buckets[i]; b != nil; b = x.next(b) {
			if !visit(b) {
				return
			}
		}
	}
}

// Stats describes the index's occupancy.
type Stats struct {
	Buckets         int // main buckets
	OverflowBuckets int // overflow buckets in use
	Entries         int // non-empty entries
	Bytes           int64
}

// Stats counts the index's occupancy. It walks the whole table.
func (x *Index) Stats() Stats {
	st := Stats{Buckets: len(x.buckets), OverflowBuckets: int(x.overflow.used())}
	x.Range(func(Slot, Entry) bool { st.Entries++; return true })
	st.Bytes = int64(st.Buckets+st.OverflowBuckets) * 64
	return st
}

// overflowPool allocates overflow buckets from chunks that are never moved,
// so a *bucket stays valid while the pool grows.
type overflowPool struct {
	mu     sync.Mutex // guards growth and the free list
	chunks atomic.Pointer[[]*[chunkBuckets]bucket]
	n      atomic.Uint64 // buckets handed out (high-water mark)
	free   []uint64
}

const chunkBuckets = 1024

func (p *overflowPool) at(i uint64) *bucket {
	return &(*p.chunks.Load())[i/chunkBuckets][i%chunkBuckets]
}

func (p *overflowPool) alloc() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		i := p.free[n-1]
		p.free = p.free[:n-1]
		return i
	}
	i := p.n.Load()
	var chunks []*[chunkBuckets]bucket
	if c := p.chunks.Load(); c != nil {
		chunks = *c
	}
	if i/chunkBuckets >= uint64(len(chunks)) {
		grown := make([]*[chunkBuckets]bucket, len(chunks), len(chunks)+1)
		copy(grown, chunks)
		grown = append(grown, new([chunkBuckets]bucket))
		p.chunks.Store(&grown)
	}
	p.n.Store(i + 1)
	return i
}

func (p *overflowPool) release(i uint64) {
	p.mu.Lock()
	p.free = append(p.free, i)
	p.mu.Unlock()
}

func (p *overflowPool) used() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n.Load() - uint64(len(p.free))
}

// OverflowBuckets returns the number of overflow buckets in use.
func (x *Index) OverflowBuckets() int { return int(x.overflow.used()) }
