package hashidx

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/prefetch"
)

// entriesPerBucket is the number of entries in a bucket; the eighth word is
// the overflow link.
const entriesPerBucket = 7

// bucket is one cache line: seven entries and the overflow link, which holds
// 1 + the index of the next overflow bucket, or 0 for none. A split sets
// movedLink in the link word (see grow.go).
type bucket [entriesPerBucket + 1]atomic.Uint64

const overflowSlot = entriesPerBucket

// MaxBuckets is the largest number of main buckets an index grows to (16
// GiB of buckets, enough for billions of keys at a few per bucket).
const MaxBuckets = 1 << 28

// Slot is the location of an entry, to be passed back to CompareAndSwap.
type Slot = *atomic.Uint64

// table is one generation of the index: its main buckets and their
// overflow buckets. An Index replaces its table when it grows.
type table struct {
	buckets []bucket
	mask    uint64
	// The pool's mutex and counters change on every overflow allocation:
	// keep them off the line every lookup reads (buckets, mask).
	_        [64]byte
	overflow overflowPool
	// growAt is the number of overflow buckets in use at which the table
	// asks to grow: 1/16 of the main buckets, reached at about 4.2 keys per
	// bucket on average (a Poisson load), where 6% of the buckets overflow
	// and a lookup reads 1.03 buckets on average. The doubled table then
	// holds 2.1 per bucket, and almost none overflow. (A table sized at one
	// bucket per four keys, as FASTER advises, is just below it.)
	growAt uint64
	// mapped says buckets is a mapping off the Go heap (huge_linux.go),
	// which the Index unmaps when it retires the table (ReleaseRetired,
	// Close); otherwise the GC frees it.
	mapped bool
}

func newTable(buckets int) *table {
	b, mapped := allocBuckets(buckets)
	return &table{buckets: b, mask: uint64(buckets - 1), growAt: uint64(max(buckets/16, 1)), mapped: mapped}
}

// mappedBytes is the size of t's mapping off the Go heap (0 if none).
func (t *table) mappedBytes() int64 {
	if !t.mapped {
		return 0
	}
	return int64(len(t.buckets)) * 64
}

// Index is the hash table. All methods are safe for concurrent use.
//
// The index grows online (Grow, grow.go): while a growth runs, g holds both
// tables and operations move the part of the old table they need to the
// new one before using it.
type Index struct {
	_ [64]byte               // off the line of whatever precedes the Index
	t atomic.Pointer[table]  // the table in use (the old one until a growth ends)
	g atomic.Pointer[growth] // the growth in progress, or nil
	// wantGrow is set when the table's overflow buckets reach its growAt;
	// Grow clears it. Read by WantsGrowth on every write: it is written
	// only on those rare events, so its cache line stays shared.
	wantGrow atomic.Bool
	_        [64]byte   // growMu changes only during a growth, but keep it apart
	growMu   sync.Mutex // one Grow at a time
	growHook atomic.Pointer[func()]
	// walkMu is held shared by the walks that may run unprotected by the
	// caller's epoch (Stats, Range, WriteSnapshot) for as long as they
	// hold a table, and exclusively by ReleaseRetired and Close while they
	// unmap tables (retire.go). closed is guarded by it.
	walkMu sync.RWMutex
	closed bool
	// retireMu guards retired and nRetire. It is not walkMu so that a
	// growth ending during a long walk (a snapshot being written) does not
	// wait for the walk.
	retireMu sync.Mutex
	retired  []retiredTable // old tables not yet released, oldest first
	nRetire  int            // tables retired so far (see Retired)
}

// retiredTable is an old table waiting to be unmapped, with its number in
// the order of retirement (from 1).
type retiredTable struct {
	t   *table
	seq int
}

// New returns an empty index with the given number of buckets, a power of
// two.
func New(buckets int) (*Index, error) {
	if buckets <= 0 || buckets&(buckets-1) != 0 || buckets > MaxBuckets {
		return nil, errors.Newf("hashidx: bucket count %d is not a power of two from 1 to %d", buckets, MaxBuckets)
	}
	x := &Index{}
	x.t.Store(newTable(buckets))
	return x, nil
}

// Buckets returns the number of main buckets (of the old table while a
// growth is in progress).
func (x *Index) Buckets() int { return len(x.t.Load().buckets) }

// WantsGrowth reports whether the index has filled up enough that it
// should grow (see Grow). It is one atomic load.
func (x *Index) WantsGrowth() bool { return x.wantGrow.Load() }

// tableFor returns the table an operation on hash must use: the current
// one, or during a growth the new one, after making sure the part of it
// that holds hash's bucket has been split from the old table (helping the
// growth if it has not).
//
// The order of the two loads matters: t is read before g. If g is nil, t
// is either the table before a growth (whose entries, should a growth
// start meanwhile, are frozen as they move, which the lookup notices) or
// the table after one; never a new table whose buckets are not split yet.
func (x *Index) tableFor(hash uint64) *table {
	t := x.t.Load()
	if g := x.g.Load(); g != nil {
		g.help(hash)
		return g.new
	}
	return t
}

// matchMask selects what Find compares: the tag and the tentative bit, so
// that one masked compare rejects empty slots (tag 0 is never used),
// tentative and moved entries, and other tags.
const matchMask = tagMask<<tagShift | uint64(tentativeBit)

// Find returns the slot and entry for hash's tag, if a non-tentative entry
// with that tag exists. The entry's address may be 0 (created, not yet set).
func (x *Index) Find(hash uint64) (Slot, Entry, bool) {
	for {
		s, e, ok, moved := x.tableFor(hash).find(hash)
		if !moved {
			return s, e, ok
		}
	}
}

// find looks hash's tag up in t. moved says the bucket chain was split
// away while it looked (an old table): look again in the new one.
//
// A split freezes each bucket's link word before its entries, and find
// reads a bucket's link after its entries; so if find skipped an entry
// because it was frozen, the link it reads next says so.
func (t *table) find(hash uint64) (s Slot, e Entry, ok, moved bool) {
	want := uint64(TagOf(hash)) << tagShift
	b := &t.buckets[hash&t.mask]
	for {
		for i := 0; i < entriesPerBucket; i++ {
			if v := b[i].Load(); v&matchMask == want {
				return &b[i], Entry(v), true, false
			}
		}
		l := b[overflowSlot].Load()
		if l == 0 {
			return nil, 0, false, false
		}
		if l&movedLink != 0 {
			return nil, 0, false, true
		}
		b = t.overflow.at(l - 1)
	}
}

// Prefetch asks the processor to fetch hash's main bucket, for a caller
// that will Find several hashes and wants their misses to overlap. It is a
// hint: during a growth it may fetch the old table's bucket.
func (x *Index) Prefetch(hash uint64) {
	t := x.t.Load()
	prefetch.Line(uintptr(unsafe.Pointer(&t.buckets[hash&t.mask])))
}

// FindOrCreate returns the slot and entry for hash's tag, creating an entry
// with address 0 if there is none.
func (x *Index) FindOrCreate(hash uint64) (Slot, Entry) {
	tag := TagOf(hash)
	for attempt := 0; ; attempt++ {
		t := x.tableFor(hash)
		s, e, ok, moved := t.find(hash)
		if moved {
			continue
		}
		if ok {
			return s, e
		}
		free := x.freeSlot(t, hash)
		if free == nil {
			continue // the chain moved to a new table
		}
		mine := MakeEntry(0, tag) | tentativeBit
		if !free.CompareAndSwap(0, uint64(mine)) {
			continue
		}
		if other, moved := t.otherWithTag(hash, tag, free); other || moved {
			// Someone else is inserting (or has inserted) this tag, or the
			// chain is moving: yield.
			free.CompareAndSwap(uint64(mine), 0)
			if other && attempt > 2 {
				runtime.Gosched()
			}
			continue
		}
		final := MakeEntry(0, tag)
		if !free.CompareAndSwap(uint64(mine), uint64(final)) {
			continue // a split froze it (and dropped it, being tentative)
		}
		return free, final
	}
}

// otherWithTag reports whether an entry other than mine carries tag, or
// that the chain is being moved.
func (t *table) otherWithTag(hash uint64, tag uint16, mine Slot) (other, moved bool) {
	b := &t.buckets[hash&t.mask]
	for {
		for i := 0; i < entriesPerBucket; i++ {
			if &b[i] == mine {
				continue
			}
			e := Entry(b[i].Load())
			if e.moved() {
				return false, true
			}
			if e != 0 && e.Tag() == tag {
				return true, false
			}
		}
		l := b[overflowSlot].Load()
		if l == 0 {
			return false, false
		}
		if l&movedLink != 0 {
			return false, true
		}
		b = t.overflow.at(l - 1)
	}
}

// freeSlot returns an empty slot in hash's bucket chain of t, adding an
// overflow bucket if the chain is full; nil if the chain has moved to a new
// table.
func (x *Index) freeSlot(t *table, hash uint64) Slot {
	b := &t.buckets[hash&t.mask]
	for {
		for i := 0; i < entriesPerBucket; i++ {
			if b[i].Load() == 0 {
				return &b[i]
			}
		}
		link := &b[overflowSlot]
		l := link.Load()
		if l&movedLink != 0 {
			return nil
		}
		if l != 0 {
			b = t.overflow.at(l - 1)
			continue
		}
		idx, used := t.overflow.alloc()
		if link.CompareAndSwap(0, idx+1) {
			if used >= t.growAt && x.t.Load() == t {
				x.wantGrow.Store(true)
			}
			b = t.overflow.at(idx)
			continue
		}
		// Lost the race to link one (or the chain was frozen); ours goes
		// back to the pool.
		t.overflow.release(idx)
	}
}

// CompareAndSwap replaces the entry in slot with new if it still holds old.
func CompareAndSwap(s Slot, old, new Entry) bool {
	return s.CompareAndSwap(uint64(old), uint64(new))
}

// Load reads the entry in slot.
func Load(s Slot) Entry { return Entry(s.Load()) }

// Range calls fn for every non-empty, non-tentative entry until fn returns
// false. Entries inserted or changed during Range may or may not be seen. A
// growth in progress is finished first; one that starts during Range moves
// entries Range may then miss (their chains are whole in the new table).
func (x *Index) Range(fn func(s Slot, e Entry) bool) {
	x.walkMu.RLock()
	defer x.walkMu.RUnlock()
	if x.closed {
		return
	}
	t := x.t.Load()
	if cur := x.finishGrowth(); cur != nil {
		t = cur
	}
	for i := range t.buckets {
		for b := &t.buckets[i]; b != nil; b = t.next(b) {
			for j := 0; j < entriesPerBucket; j++ {
				if e := Entry(b[j].Load()); e != 0 && e&tentativeBit == 0 {
					if !fn(&b[j], e) {
						return
					}
				}
			}
		}
	}
}

// next returns the overflow bucket after b (following a frozen link too).
func (t *table) next(b *bucket) *bucket {
	if l := b[overflowSlot].Load() &^ movedLink; l != 0 {
		return t.overflow.at(l - 1)
	}
	return nil
}

// Stats describes the index's occupancy.
type Stats struct {
	Buckets         int // main buckets
	OverflowBuckets int // overflow buckets in use
	Entries         int // non-empty entries
	Bytes           int64
	// LongestOverflow is the number of overflow buckets in the longest
	// bucket chain (0: no bucket overflows).
	LongestOverflow int
	// Probes is the mean number of buckets a lookup of an existing entry
	// reads (1 when no entry sits in an overflow bucket; 0 when empty).
	Probes float64
}

// Stats counts the index's occupancy. It walks the whole table (finishing a
// growth in progress first).
func (x *Index) Stats() Stats {
	x.walkMu.RLock()
	defer x.walkMu.RUnlock()
	if x.closed {
		return Stats{}
	}
	t := x.t.Load()
	if cur := x.finishGrowth(); cur != nil {
		t = cur
	}
	st := Stats{Buckets: len(t.buckets), OverflowBuckets: int(t.overflow.used())}
	probes := 0
	for i := range t.buckets {
		depth := 0
		for b := &t.buckets[i]; b != nil; b = t.next(b) {
			depth++
			for j := 0; j < entriesPerBucket; j++ {
				if e := Entry(b[j].Load()); e != 0 && e&tentativeBit == 0 {
					st.Entries++
					probes += depth
				}
			}
		}
		st.LongestOverflow = max(st.LongestOverflow, depth-1)
	}
	if st.Entries > 0 {
		st.Probes = float64(probes) / float64(st.Entries)
	}
	st.Bytes = int64(st.Buckets+st.OverflowBuckets) * 64
	return st
}

// overflowPool allocates overflow buckets from chunks that are never moved,
// so a *bucket stays valid while the pool grows.
type overflowPool struct {
	mu     sync.Mutex // guards growth and the free list
	chunks atomic.Pointer[[]*[poolChunk]bucket]
	n      atomic.Uint64 // buckets handed out (high-water mark)
	free   []uint64
}

const poolChunk = 1024

func (p *overflowPool) at(i uint64) *bucket {
	return &(*p.chunks.Load())[i/poolChunk][i%poolChunk]
}

// alloc returns a zeroed overflow bucket's index and the number in use.
func (p *overflowPool) alloc() (idx, used uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		i := p.free[n-1]
		p.free = p.free[:n-1]
		return i, p.n.Load() - uint64(len(p.free))
	}
	i := p.n.Load()
	var chunks []*[poolChunk]bucket
	if c := p.chunks.Load(); c != nil {
		chunks = *c
	}
	if i/poolChunk >= uint64(len(chunks)) {
		grown := make([]*[poolChunk]bucket, len(chunks), len(chunks)+1)
		copy(grown, chunks)
		grown = append(grown, new([poolChunk]bucket))
		p.chunks.Store(&grown)
	}
	p.n.Store(i + 1)
	return i, i + 1 - uint64(len(p.free))
}

// release returns bucket i, never linked (so still zero), to the pool.
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
func (x *Index) OverflowBuckets() int { return int(x.t.Load().overflow.used()) }
