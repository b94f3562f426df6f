package rskv_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/racecheck"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

func growKey(w, i int) []byte { return fmt.Appendf(nil, "w%d/k%07d", w, i) }

// TestIndexGrowsUnderConcurrentOperations starts a store with the smallest
// index and runs Put, Get, Delete, RMW, batches, Scan and Checkpoint from
// several goroutines while the index doubles again and again. Each writer
// owns its keys and checks every read of them against what it last wrote;
// at the end, and after a reopen (from a checkpoint taken during the
// growths), every key holds its last value.
func TestIndexGrowsUnderConcurrentOperations(t *testing.T) {
	fs := vfs.NewMem()
	o := &rskv.Options{FS: fs, MemorySize: 64 << 20, IndexBuckets: 1 << 10, DisableBackground: true}
	s, err := rskv.Open("db", o)
	require.NoError(t, err)
	const writers = 3
	keysEach := racecheck.Scale(30_000, 3) // 90k keys: 1 Ki buckets grow to 32 Ki (30k under -race: to 8 Ki)
	type state struct {
		val  []int64 // last value written per key; -1: deleted
		hits atomic.Int64
	}
	states := make([]*state, writers)
	var wg sync.WaitGroup
	var stop atomic.Bool
	var writersDone atomic.Int32
	errc := make(chan error, 16)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	enc := func(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
	for w := 0; w < writers; w++ {
		st := &state{val: make([]int64, keysEach)}
		states[w] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer writersDone.Add(1)
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			check := func(i int) {
				v, err := s.Get(growKey(w, i))
				switch {
				case st.val[i] < 0 && !errors.Is(err, rskv.ErrNotFound):
					fail(errors.Newf("w%d k%d: deleted, Get gave %v %v", w, i, v, err))
				case st.val[i] >= 0 && (err != nil || int64(binary.BigEndian.Uint64(v)) != st.val[i]):
					fail(errors.Newf("w%d k%d: want %d, Get gave %x %v", w, i, st.val[i], v, err))
				default:
					st.hits.Add(1)
				}
			}
			for i := 0; i < keysEach; i++ { // insert: this is what grows the index
				st.val[i] = int64(i)
				if err := s.Put(growKey(w, i), enc(st.val[i])); err != nil {
					fail(err)
					return
				}
				if i%7 == 0 {
					check(rng.IntN(i + 1))
				}
			}
			for r := 0; !stop.Load() || r < keysEach; r++ {
				i := rng.IntN(keysEach)
				switch rng.IntN(8) {
				case 0:
					st.val[i] = -1
					if err := s.Delete(growKey(w, i)); err != nil {
						fail(err)
					}
				case 1:
					nv, err := s.RMW(growKey(w, i), func(old []byte, found bool) []byte {
						if !found {
							return enc(0)
						}
						return enc(int64(binary.BigEndian.Uint64(old)) + 1)
					})
					if err != nil {
						fail(err)
					}
					st.val[i] = int64(binary.BigEndian.Uint64(nv))
				case 2:
					b := s.NewBatch()
					j := rng.IntN(keysEach)
					st.val[i], st.val[j] = st.val[i]+10, int64(j)+1000
					if st.val[i] < 10 {
						st.val[i] = 10
					}
					b.Put(growKey(w, i), enc(st.val[i]))
					b.Put(growKey(w, j), enc(st.val[j]))
					if err := b.Commit(); err != nil {
						fail(err)
					}
				default:
					check(i)
				}
				if r > 20*keysEach {
					return
				}
			}
		}()
	}
	wg.Add(2)
	go func() { // scans and checkpoints while the index grows
		defer wg.Done()
		for !stop.Load() {
			n := 0
			if err := s.Scan([]byte("w1/"), func(k, v []byte) bool { n++; return n < 500 }); err != nil {
				fail(err)
			}
			if _, err := s.Checkpoint(); err != nil {
				fail(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for (s.Stats().IndexGrowths < 3 || s.IndexGrowing()) && writersDone.Load() < writers {
			select {
			case err := <-errc:
				fail(err)
				stop.Store(true)
				return
			default:
			}
			runtimeYield()
		}
		stop.Store(true)
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
	}
	st := s.Stats()
	t.Logf("growths %d, buckets %d, overflow %d, keys %d", st.IndexGrowths, st.IndexBuckets, st.IndexOverflowBuckets, st.Keys)
	require.GreaterOrEqual(t, st.IndexGrowths, uint64(3))
	verify := func(s *rskv.Store) {
		live := 0
		for w, stt := range states {
			for i, want := range stt.val {
				v, err := s.Get(growKey(w, i))
				if want < 0 {
					require.ErrorIs(t, err, rskv.ErrNotFound, "w%d k%d", w, i)
					continue
				}
				live++
				require.NoError(t, err, "w%d k%d", w, i)
				require.Equal(t, want, int64(binary.BigEndian.Uint64(v)), "w%d k%d", w, i)
			}
		}
		require.Equal(t, live, s.Len())
	}
	verify(s)
	is := s.IndexStats()
	require.Less(t, is.Probes, 1.1, "%+v", is)
	// A checkpoint now, then a crash: recovery loads the grown index.
	_, err = s.Checkpoint()
	require.NoError(t, err)
	crashed := fs.CrashClone()
	require.NoError(t, s.Close())
	for _, f := range []*vfs.MemFS{fs, crashed} {
		o.FS = f
		s2, err := rskv.Open("db", o)
		require.NoError(t, err)
		require.NotZero(t, s2.Stats().Recovery.CheckpointID)
		require.Equal(t, st.IndexBuckets, s2.Stats().IndexBuckets, "the index reopens at its grown size")
		verify(s2)
		require.NoError(t, s2.Close())
	}
}

// TestCrashDuringIndexGrowth pauses a growth half way (some chunks split,
// others not), writes and syncs more keys while it is paused (they land in
// split and unsplit parts, helping), and simulates a power cut then. The
// recovered store has every synced key. Then the growth finishes, a
// checkpoint is taken, and a second crash recovers from that checkpoint.
func TestCrashDuringIndexGrowth(t *testing.T) {
	fs := vfs.NewMem()
	o := &rskv.Options{FS: fs, MemorySize: 32 << 20, IndexBuckets: 1 << 10, DisableBackground: true}
	s, err := rskv.Open("db", o)
	require.NoError(t, err)
	paused, resume := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	s.SetSplitHook(func() {
		// The third chunk of the first growth big enough to have several:
		// pause there until the test has crashed the store.
		if s.Stats().IndexBuckets >= 1<<12 && calls.Add(1) == 3 {
			close(paused)
			<-resume
		}
	})
	n := 0
	put := func(i int) {
		require.NoError(t, s.Put(growKey(0, i), fmt.Appendf(nil, "v%d", i)))
	}
	for ; ; n++ {
		put(n)
		select {
		case <-paused:
		default:
			continue
		}
		break
	}
	// Paused half way: keep writing (operations split their own chunks).
	for m := n + 5000; n < m; n++ {
		put(n)
	}
	require.True(t, s.IndexGrowing())
	require.NoError(t, s.Sync())
	synced := n
	midGrowth := fs.CrashClone()
	close(resume)
	for s.IndexGrowing() {
		runtimeYield()
	}
	_, err = s.Checkpoint()
	require.NoError(t, err)
	for m := n + 1000; n < m; n++ {
		put(n)
	}
	require.NoError(t, s.Sync())
	afterGrowth := fs.CrashClone()
	require.NoError(t, s.Close())

	for name, c := range map[string]struct {
		fs   *vfs.MemFS
		keys int
	}{"mid-growth": {midGrowth, synced}, "after growth and checkpoint": {afterGrowth, n}} {
		t.Run(name, func(t *testing.T) {
			o.FS = c.fs
			s2, err := rskv.Open("db", o)
			require.NoError(t, err)
			defer func() { require.NoError(t, s2.Close()) }()
			for i := 0; i < c.keys; i++ {
				v, err := s2.Get(growKey(0, i))
				require.NoError(t, err, "key %d of %d synced", i, c.keys)
				require.Equal(t, fmt.Sprintf("v%d", i), string(v))
			}
			require.Equal(t, c.keys, s2.Len())
			is := s2.IndexStats()
			t.Logf("recovered index: %+v", is)
			require.Less(t, is.Probes, 1.2)
		})
	}
}

func runtimeYield() { time.Sleep(100 * time.Microsecond) }

// TestIndexGrowthReleasesOldTables grows a store's index (from 2 MiB, the
// smallest table mapped off the Go heap, to 8 MiB) under concurrent writes
// and reads, and checks that the grower unmaps every old table once its
// readers are drained, so that the store ends holding only its current
// table, and that Close unmaps that one.
func TestIndexGrowthReleasesOldTables(t *testing.T) {
	o := &rskv.Options{FS: vfs.NewMem(), MemorySize: 64 << 20, IndexBuckets: 1 << 15, DisableBackground: true}
	s, err := rskv.Open("db", o)
	require.NoError(t, err)
	defer s.Close()
	perBucket := int64(64)
	if racecheck.Enabled {
		perBucket = 0 // under -race tables are on the heap (hashidx allocBuckets)
	}
	require.Equal(t, 1<<15*perBucket, s.IndexMappedBytes())
	const writers = 2
	keysEach := 300_000 / writers // about 9 keys per bucket of the first table: two growths
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < keysEach; i++ {
				if err := s.Put(growKey(w, i), growKey(w, i)); err != nil {
					errc <- err
					return
				}
				if i%7 == 0 {
					j := i / 2
					if v, err := s.Get(growKey(w, j)); err != nil || string(v) != string(growKey(w, j)) {
						errc <- errors.Newf("key %d of writer %d: %q, %v", j, w, v, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
	}
	// The grower runs on its own goroutine: wait for it to finish (the
	// bound is for a hang, not a speed requirement).
	require.Eventually(t, func() bool {
		return s.IndexMappedBytes() == int64(s.Stats().IndexBuckets)*perBucket && s.Stats().IndexGrowths >= 2
	}, time.Minute, time.Millisecond, "mapped %d bytes for %d buckets", s.IndexMappedBytes(), s.Stats().IndexBuckets)
	require.GreaterOrEqual(t, s.Stats().IndexBuckets, 1<<17, "the index did not grow twice")
	require.GreaterOrEqual(t, s.Stats().IndexGrowths, uint64(2))
	for w := 0; w < writers; w++ {
		for i := 0; i < keysEach; i += 97 {
			v, err := s.Get(growKey(w, i))
			require.NoError(t, err)
			require.Equal(t, growKey(w, i), v)
		}
	}
	require.NoError(t, s.Close())
	require.Zero(t, s.IndexMappedBytes(), "Close left the index mapped")
}
