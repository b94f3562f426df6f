package hashidx_test

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/rskv-go/rskv/internal/racecheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeLog stands in for the hybrid log: record a holds a key (its hash is
// the key) and the address of the previous record on its chain.
type fakeLog struct {
	recs []struct{ h, prev atomic.Uint64 }
	n    atomic.Uint64
}

// writerKeys returns, for each of writers goroutines, keysEach random
// keys (seeded by the goroutine and seed) and a zeroed slot per key for the
// newest version it wrote.
func writerKeys(writers, keysEach int, seed uint64) ([][]uint64, [][]atomic.Uint64) {
	keys := make([][]uint64, writers)
	last := make([][]atomic.Uint64, writers)
	for w := range keys {
		rng := rand.New(rand.NewPCG(uint64(w), seed))
		keys[w] = make([]uint64, keysEach)
		last[w] = make([]atomic.Uint64, keysEach)
		for i := range keys[w] {
			keys[w][i] = rng.Uint64()
		}
	}
	return keys, last
}

func newFakeLog(capacity int) *fakeLog {
	return &fakeLog{recs: make([]struct{ h, prev atomic.Uint64 }, capacity+1)}
}

func (l *fakeLog) add(h, prev uint64) uint64 {
	a := l.n.Add(1)
	l.recs[a].h.Store(h)
	l.recs[a].prev.Store(prev)
	return a
}

// trace is the Tracer: it walks each chain to the newest record of each half.
func (l *fakeLog) trace(chains []hashidx.SplitChain, bit uint64) {
	for i := range chains {
		c := &chains[i]
		for a := c.Head; a != 0 && (c.Lo == 0 || c.Hi == 0); a = l.recs[a].prev.Load() {
			switch l.recs[a].h.Load() & (2*bit - 1) {
			case c.Bucket:
				if c.Lo == 0 {
					c.Lo = a
				}
			case c.Bucket + bit:
				if c.Hi == 0 {
					c.Hi = a
				}
			}
		}
	}
}

// upsert writes a new record of h and links it, as the store does.
func (l *fakeLog) upsert(x *hashidx.Index, h uint64) uint64 {
	for {
		s, e := x.FindOrCreate(h)
		a := l.add(h, e.Address())
		if hashidx.CompareAndSwap(s, e, hashidx.MakeEntry(a, e.Tag())) {
			return a
		}
	}
}

// lookup returns the address of h's newest record (0: none).
func (l *fakeLog) lookup(x *hashidx.Index, h uint64) uint64 {
	_, e, ok := x.Find(h)
	if !ok {
		return 0
	}
	for a := e.Address(); a != 0; a = l.recs[a].prev.Load() {
		if l.recs[a].h.Load() == h {
			return a
		}
	}
	return 0
}

func TestGrowKeepsEveryKey(t *testing.T) {
	x, err := hashidx.New(16)
	require.NoError(t, err)
	keys := racecheck.Scale(20_000, 4) // inserts into 16 buckets walk long chains
	l := newFakeLog(3 * keys)
	rng := rand.New(rand.NewPCG(1, 2))
	hs := make([]uint64, keys)
	want := map[uint64]uint64{}
	for i := range hs {
		hs[i] = rng.Uint64()
		want[hs[i]] = l.upsert(x, hs[i])
	}
	// Update a third of them, so that chains hold several versions.
	for i := 0; i < keys; i += 3 {
		want[hs[i]] = l.upsert(x, hs[i])
	}
	before := x.Stats()
	require.True(t, x.WantsGrowth(), "%d keys in 16 buckets", keys)
	require.Greater(t, before.Probes, 10.0)

	grown := 0
	for x.Grow(l.trace) {
		grown++
	}
	require.False(t, x.WantsGrowth())
	after := x.Stats()
	t.Logf("before: %+v", before)
	t.Logf("after %d doublings: %+v", grown, after)
	require.Equal(t, 16<<grown, after.Buckets)
	require.Less(t, after.Probes, 1.05, "a lookup reads about one bucket after growing")
	require.LessOrEqual(t, after.OverflowBuckets, after.Buckets/16)
	// One entry per key (but for the odd pair sharing bucket and tag): the
	// splits leave no entry for a half whose chain holds none of its keys.
	require.LessOrEqual(t, after.Entries, keys)
	require.GreaterOrEqual(t, after.Entries, keys*99/100)
	for h, a := range want {
		require.Equal(t, a, l.lookup(x, h), "key %#x", h)
	}
	// And the index still takes inserts.
	h := rng.Uint64()
	a := l.upsert(x, h)
	require.Equal(t, a, l.lookup(x, h))
}

// TestGrowSplitsSharedChains: two keys of one bucket and tag but different
// halves share an entry; after the split each half's entry starts at its
// own key's newest record, and a third key of the same half further down
// the chain stays reachable.
func TestGrowSplitsSharedChains(t *testing.T) {
	x, err := hashidx.New(4)
	require.NoError(t, err)
	l := newFakeLog(16)
	tag := uint16(99)
	k0 := hashFor(tag, 1, 0)   // bucket 1, bit 2 clear
	k1 := hashFor(tag, 1|4, 0) // bucket 1 in 4 buckets, 5 in 8: bit 2 set
	k2 := hashFor(tag, 1, 1)   // same half as k0
	a2 := l.upsert(x, k2)      // oldest
	a0 := l.upsert(x, k0)
	a1 := l.upsert(x, k1) // newest: the shared entry points here
	require.Equal(t, 1, x.Stats().Entries)
	x.GrowTo(8, l.trace)
	require.Equal(t, 8, x.Buckets())
	require.Equal(t, 2, x.Stats().Entries)
	_, e0, ok := x.Find(k0)
	require.True(t, ok)
	require.Equal(t, a0, e0.Address(), "the low half starts at k0's record, past k1's")
	_, e1, ok := x.Find(k1)
	require.True(t, ok)
	require.Equal(t, a1, e1.Address())
	require.Equal(t, a2, l.lookup(x, k2))
	require.Equal(t, a1, l.lookup(x, k1))
}

// TestGrowDropsEmptyAndTentativeEntries: an entry with no chain (address 0)
// is not carried into the new table, and its holder's CAS on the old slot
// fails.
func TestGrowDropsEmptyEntries(t *testing.T) {
	x, err := hashidx.New(1)
	require.NoError(t, err)
	l := newFakeLog(8)
	h := hashFor(7, 0, 0)
	s, e := x.FindOrCreate(h)
	require.Zero(t, e.Address())
	x.GrowTo(2, l.trace)
	_, _, ok := x.Find(h)
	require.False(t, ok, "an entry with no chain moved")
	require.False(t, hashidx.CompareAndSwap(s, e, hashidx.MakeEntry(1, e.Tag())), "a CAS on a moved slot succeeded")
	require.False(t, hashidx.Load(s).Locked(), "a moved entry must not look locked (waiters would wait forever)")
	require.False(t, hashidx.Load(s).Tentative())
}

func TestGrowStopsAtThresholdAndLimit(t *testing.T) {
	x, err := hashidx.New(64)
	require.NoError(t, err)
	l := newFakeLog(8)
	require.False(t, x.WantsGrowth())
	require.False(t, x.Grow(l.trace), "an empty index grew")
	require.Equal(t, 64, x.Buckets())
	_, err = hashidx.New(hashidx.MaxBuckets * 2)
	require.Error(t, err)
}

// TestGrowConcurrent runs writers, readers and snapshots while the index
// doubles again and again: no write is lost, every reader finds the newest
// record of keys only it writes, and every snapshot holds, for each key,
// a version at least as new as the one it had when the snapshot began.
func TestGrowConcurrent(t *testing.T) {
	const writers, keysEach = 4, 3000
	rounds := racecheck.Scale(12_000, 4)
	if testing.Short() {
		rounds = 3000
	}
	x, err := hashidx.New(16)
	require.NoError(t, err)
	l := newFakeLog(writers * (keysEach + rounds*2) * 2)
	keys, last := writerKeys(writers, keysEach, 7)
	var wg sync.WaitGroup
	var done atomic.Bool
	errs := make(chan string, 16)
	report := func(msg string) {
		select {
		case errs <- msg:
		default:
		}
	}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 8))
			// Insert every key, then mix updates and reads.
			for i, h := range keys[w] {
				last[w][i].Store(l.upsert(x, h))
			}
			for r := 0; r < rounds; r++ {
				i := rng.IntN(keysEach)
				h := keys[w][i]
				if rng.IntN(2) == 0 {
					last[w][i].Store(l.upsert(x, h))
				} else if got, want := l.lookup(x, h), last[w][i].Load(); got != want {
					report("read an old or missing version")
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the grower: as in the store, one Grow at a time
		defer wg.Done()
		for size := 32; size <= 1<<14 && !done.Load(); size *= 2 {
			x.GrowTo(size, l.trace)
		}
	}()
	wg.Add(1)
	go func() { // snapshots during growth
		defer wg.Done()
		for n := 0; n < 6 && !done.Load(); n++ {
			pre := make([][]uint64, writers)
			for w := range pre {
				pre[w] = make([]uint64, keysEach)
				for i := range pre[w] {
					pre[w][i] = last[w][i].Load()
				}
			}
			var buf bytes.Buffer
			buckets, overflow, _, err := x.WriteSnapshot(&buf)
			if err != nil {
				report(err.Error())
				return
			}
			y, err := hashidx.LoadSnapshot(&buf, buckets, overflow)
			if err != nil {
				report(err.Error())
				return
			}
			for w := range pre {
				for i, a := range pre[w] {
					if a != 0 && l.lookup(y, keys[w][i]) < a {
						report("a snapshot lost a version that existed when it began")
						return
					}
				}
			}
		}
	}()
	go func() { wg.Wait(); done.Store(true); close(errs) }()
	for msg := range errs {
		t.Error(msg)
	}
	for w := range keys {
		for i, h := range keys[w] {
			require.Equal(t, last[w][i].Load(), l.lookup(x, h), "writer %d key %d", w, i)
		}
	}
	st := x.Stats()
	t.Logf("final: %+v", st)
	assert.GreaterOrEqual(t, st.Buckets, 1<<10)
}
