package epoch_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewStartsAtOne(t *testing.T) {
	m := epoch.New()
	require.Equal(t, uint64(1), m.Current())
	require.Equal(t, uint64(2), m.Bump())
	require.Equal(t, uint64(2), m.Current())
	require.Equal(t, 0, m.Slots(), "no slot before the first Protect")
	require.True(t, m.Safe(m.Current()), "nothing is protected")
}

// TestWaitSafeWaitsForEarlierSection checks both halves of WaitSafe's
// contract: it does not return while a section protected before the bump is
// still open, and it does not wait for a section protected after the bump.
func TestWaitSafeWaitsForEarlierSection(t *testing.T) {
	m := epoch.New()
	before := m.Protect()
	e := m.Bump()
	after := m.Protect() // entered at e: WaitSafe(e) must not wait for it

	require.False(t, m.Safe(e), "a section entered before the bump is open")

	var released atomic.Bool
	var returnedEarly atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.WaitSafe(e)
		if !released.Load() {
			returnedEarly.Store(true)
		}
	}()
	// Give a broken WaitSafe every chance to return before the release.
	for range 200 {
		runtime.Gosched()
	}
	select {
	case <-done:
		t.Fatal("WaitSafe returned while a section protected before the bump was still open")
	default:
	}
	released.Store(true)
	before.Release()
	<-done // must return although `after` is still protected
	require.False(t, returnedEarly.Load())
	require.True(t, m.Safe(e))
	require.False(t, m.Safe(e+1), "after is still open in epoch e")
	after.Release()
	require.True(t, m.Safe(e+1))
}

func TestRefreshMovesSectionForward(t *testing.T) {
	m := epoch.New()
	h := m.Protect()
	defer h.Release()
	e := m.Bump()
	require.False(t, m.Safe(e))
	h.Refresh()
	require.True(t, m.Safe(e), "after Refresh the section is in epoch %d", e)
	e2 := m.Bump()
	require.False(t, m.Safe(e2))
	// WaitSafe for an epoch the refreshed section has reached returns at once.
	m.WaitSafe(e)
}

func TestBumpAndWaitWithNothingProtected(t *testing.T) {
	m := epoch.New()
	h := m.Protect()
	h.Release()
	m.BumpAndWait() // must not block: the only slot is released
	require.Equal(t, uint64(2), m.Current())
}

// TestCountersSumAcrossGoroutines counts from many goroutines and checks
// that Counters returns the exact totals, also when goroutines share slots
// (more goroutines than slots, collections moving their stacks).
func TestCountersSumAcrossGoroutines(t *testing.T) {
	m := epoch.New()
	const workers, rounds = 16, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				h := m.Protect()
				h.Count(0)
				h.Add(1, 3)
				h.Count(epoch.NumCounters - 1)
				if w%2 == 0 {
					h.Count(2)
				}
				h.Release()
				if r%500 == 0 {
					runtime.GC()
				}
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	runtime.GC()
	c := m.Counters()
	assert.Equal(t, uint64(workers*rounds), c[0])
	assert.Equal(t, uint64(3*workers*rounds), c[1])
	assert.Equal(t, uint64(workers/2*rounds), c[2])
	assert.Equal(t, uint64(workers*rounds), c[epoch.NumCounters-1])
	for i := 3; i < epoch.NumCounters-1; i++ {
		assert.Zero(t, c[i], "counter %d", i)
	}
}

// TestSlotsReusedUnderChurn runs many short-lived goroutines, never more than
// a few protected at once. The registry must stay at its first size, not
// grow with the number of goroutines.
func TestSlotsReusedUnderChurn(t *testing.T) {
	m := epoch.New()
	const concurrent = 4
	rounds := 100
	if testing.Short() {
		rounds = 40
	}
	var first int
	for r := range rounds {
		var wg sync.WaitGroup
		for range concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := m.Protect()
				h.Count(0)
				h.Release()
			}()
		}
		wg.Wait()
		if r == 0 {
			first = m.Slots()
		}
	}
	require.Positive(t, first)
	require.Equal(t, first, m.Slots(), "registry grew with churn after %d goroutines", rounds*concurrent)
	require.Equal(t, uint64(rounds*concurrent), m.Counters()[0], "counts survive slot reuse")
}

// TestSlotsGrowWithConcurrentHolders checks that simultaneously open sections
// get distinct slots, more of them than the registry's first size, nested
// ones in one goroutine included: each holder keeps the bump unsafe until
// it releases, and its count lands in its own slot.
func TestSlotsGrowWithConcurrentHolders(t *testing.T) {
	m := epoch.New()
	const n = 300
	hs := make([]*epoch.Handle, n)
	seen := map[*epoch.Handle]bool{}
	for i := range hs {
		hs[i] = m.Protect()
		require.False(t, seen[hs[i]], "holder %d got a slot already held", i)
		seen[hs[i]] = true
		hs[i].Count(0)
	}
	require.GreaterOrEqual(t, m.Slots(), n)
	e := m.Bump()
	for i, h := range hs {
		require.False(t, m.Safe(e), "holder %d of %d still open", i, n)
		h.Release()
	}
	require.True(t, m.Safe(e))
	require.Equal(t, uint64(n), m.Counters()[0])
	// Released slots are taken again: no growth for the same number.
	for i := range hs {
		hs[i] = m.Protect()
	}
	slots := m.Slots()
	for _, h := range hs {
		h.Release()
	}
	require.Equal(t, slots, m.Slots())
}

// TestProtectFromManyGoroutines has more goroutines than slots protect at
// once, with collections moving their stacks: every section gets a slot of
// its own (its counter increments are never lost to another holder's).
func TestProtectFromManyGoroutines(t *testing.T) {
	m := epoch.New()
	const workers, rounds = 64, 500
	var inUse sync.Map
	var clash atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for r := range rounds {
				h := m.Protect()
				if _, loaded := inUse.LoadOrStore(h, true); loaded {
					clash.Add(1)
				}
				h.Count(1)
				if r%100 == 0 {
					runtime.Gosched()
				}
				inUse.Delete(h)
				h.Release()
			}
		})
	}
	wg.Wait()
	require.Zero(t, clash.Load(), "two open sections shared a slot")
	require.Equal(t, uint64(workers*rounds), m.Counters()[1])
}

// TestConcurrentProtectBumpWait exercises the manager under -race: readers
// check an invariant that a writer maintains with the publish, bump, wait,
// reclaim protocol. A reader must never see a reclaimed object.
func TestConcurrentProtectBumpWait(t *testing.T) {
	m := epoch.New()
	type obj struct{ dead atomic.Bool }
	var cur atomic.Pointer[obj]
	cur.Store(&obj{})

	iters := 2000
	if testing.Short() {
		iters = 500
	}
	stop := make(chan struct{})
	var sawDead atomic.Int64
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				h := m.Protect()
				o := cur.Load()
				for range 4 {
					if o.dead.Load() {
						sawDead.Add(1)
					}
					runtime.Gosched()
				}
				h.Count(0)
				h.Release()
				reads.Add(1)
			}
		}()
	}
	for range iters {
		old := cur.Swap(&obj{}) // publish
		m.BumpAndWait()         // no reader can still hold old
		old.dead.Store(true)    // reclaim
	}
	close(stop)
	wg.Wait()
	require.Zero(t, sawDead.Load(), "a protected reader saw an object reclaimed under it")
	require.Equal(t, uint64(reads.Load()), m.Counters()[0])
}

// BenchmarkProtectRelease is the per-operation cost of epoch protection:
// one Protect, one Count and one Release.
func BenchmarkProtectRelease(b *testing.B) {
	m := epoch.New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h := m.Protect()
			h.Count(0)
			h.Release()
		}
	})
}
