package hashidx_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/rskv-go/rskv/internal/racecheck"
	"github.com/stretchr/testify/require"
)

// TestGrowConcurrentReleasesTables runs readers and writers, each inside
// an epoch section as the store's operations are, and unprotected walks,
// while the index grows from one mapped table to the next and the grower
// unmaps each old table after draining the epoch, as the store's grower
// does. A reader of an unmapped table would crash the test binary; every
// key must keep its newest version.
func TestGrowConcurrentReleasesTables(t *testing.T) {
	const writers, keysEach = 3, 4000
	rounds := racecheck.Scale(40_000, 8)
	x, err := hashidx.New(1 << 15) // 2 MiB: the smallest mapped table
	require.NoError(t, err)
	defer x.Close()
	em := epoch.New()
	l := newFakeLog(writers * (keysEach + rounds) * 2)
	keys, last := writerKeys(writers, keysEach, 9)
	var wg sync.WaitGroup
	var stop atomic.Bool
	var bad atomic.Int64
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 10))
			for i, h := range keys[w] {
				g := em.Protect()
				last[w][i].Store(l.upsert(x, h))
				g.Release()
			}
			for r := 0; r < rounds && !stop.Load(); r++ {
				i := rng.IntN(keysEach)
				g := em.Protect()
				if rng.IntN(2) == 0 {
					last[w][i].Store(l.upsert(x, keys[w][i]))
				} else if l.lookup(x, keys[w][i]) != last[w][i].Load() {
					bad.Add(1)
				}
				g.Release()
			}
		}()
	}
	var released atomic.Int64
	wg.Add(1)
	go func() { // the grower, as the store's: grow, drain, release
		defer wg.Done()
		for size := 1 << 16; size <= 1<<18; size *= 2 {
			x.GrowTo(size, l.trace)
			em.BumpAndWait()
			released.Add(x.ReleaseRetired(x.Retired()))
		}
	}()
	wg.Add(1)
	go func() { // unprotected walks, which the index guards itself
		defer wg.Done()
		for n := 0; n < 20 && !stop.Load(); n++ {
			if st := x.Stats(); st.Buckets < 1<<15 {
				bad.Add(1)
			}
		}
	}()
	wg.Wait()
	stop.Store(true)
	require.Zero(t, bad.Load(), "reads of a wrong version, or a bad walk")
	for w := range keys {
		for i, h := range keys[w] {
			require.Equal(t, last[w][i].Load(), l.lookup(x, h), "writer %d key %d", w, i)
		}
	}
	require.Equal(t, 1<<18, x.Buckets())
	if !racecheck.Enabled { // under -race tables are on the heap (allocBuckets)
		require.Equal(t, int64((1<<15+1<<16+1<<17)*64), released.Load(), "every old table unmapped")
		require.Equal(t, int64(1<<18*64), x.MappedBytes())
	}
}
