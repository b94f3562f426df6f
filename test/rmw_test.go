package test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

func incr(old []byte, found bool) []byte {
	var n uint64
	if found {
		if len(old) != 8 {
			panic(fmt.Sprintf("counter value of %d bytes", len(old)))
		}
		n = binary.LittleEndian.Uint64(old)
	}
	return binary.LittleEndian.AppendUint64(make([]byte, 0, 8), n+1)
}

// TestRMWAtomicity has many goroutines increment a few shared counters with
// RMW while a writer pushes the log through a small memory, so increments
// land on records in the mutable, read-only and fuzzy regions and on disk.
// Every increment must count exactly once: each counter ends at the number
// of increments, and the values RMW returned for a counter are exactly
// 1..n, each once.
func TestRMWAtomicity(t *testing.T) {
	const workers, counters = 8, 6
	perWorker := scaled(1500)
	opts := smallOptions()
	opts.MemorySize = 32 << 10 // 8 pages of 4 KiB
	dir := t.TempDir()
	s := openStore(t, dir, opts)

	counterKey := func(i int) []byte { return fmt.Appendf(nil, "counter-%d", i) }
	returned := make([][][]uint64, workers) // [worker][counter] values RMW returned
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		returned[w] = make([][]uint64, counters)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			big := make([]byte, 700)
			for i := range perWorker {
				// Filler writes push pages out of memory meanwhile.
				if err := s.Put(fmt.Appendf(nil, "filler-%d-%d", w, i%50), big); err != nil {
					errs <- err
					return
				}
				c := rng.IntN(counters)
				v, err := s.RMW(counterKey(c), incr)
				if err != nil {
					errs <- err
					return
				}
				returned[w][c] = append(returned[w][c], binary.LittleEndian.Uint64(v))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	check := func(s *rskv.Store) {
		for c := range counters {
			var all []uint64
			for w := range workers {
				all = append(all, returned[w][c]...)
				require.True(t, slices.IsSorted(returned[w][c]), "worker %d saw counter %d go backwards", w, c)
			}
			slices.Sort(all)
			for i, v := range all {
				require.Equal(t, uint64(i+1), v, "counter %d: RMW results are not 1..n (lost or doubled increment)", c)
			}
			got, err := s.Get(counterKey(c))
			require.NoError(t, err)
			require.Equal(t, uint64(len(all)), binary.LittleEndian.Uint64(got), "counter %d", c)
		}
	}
	check(s)
	st := s.Stats()
	require.Greater(t, st.HeadAddress, uint64(64*1024), "the log must have gone through memory several times")
	require.Positive(t, st.InPlaceUpdates, "some increments were in place")
	require.Positive(t, st.Appends)

	require.NoError(t, s.Close())
	check(openStore(t, dir, opts))
}

// TestRMWSeesAbsentAndDeleted: fn is told whether the key exists, including
// after a delete, and a result too large for a page is refused without
// changing anything.
func TestRMWSeesAbsentAndDeleted(t *testing.T) {
	s := openStore(t, t.TempDir(), smallOptions())
	k := []byte("k")
	var sawFound []bool
	fn := func(old []byte, found bool) []byte {
		sawFound = append(sawFound, found)
		return append(append([]byte(nil), old...), 'x')
	}
	v, err := s.RMW(k, fn)
	require.NoError(t, err)
	require.Equal(t, []byte("x"), v)
	v, err = s.RMW(k, fn)
	require.NoError(t, err)
	require.Equal(t, []byte("xx"), v)
	require.NoError(t, s.Delete(k))
	v, err = s.RMW(k, fn)
	require.NoError(t, err)
	require.Equal(t, []byte("x"), v)
	require.Equal(t, []bool{false, true, false}, sawFound)
	require.Equal(t, 1, s.Len())

	// fn returning a value too large for a page: ErrValueTooLarge, old value kept.
	_, err = s.RMW(k, func([]byte, bool) []byte { return make([]byte, 5000) })
	require.ErrorIs(t, err, rskv.ErrValueTooLarge)
	got, err := s.Get(k)
	require.NoError(t, err)
	require.Equal(t, []byte("x"), got)
	_, err = s.RMW([]byte("absent"), func([]byte, bool) []byte { return make([]byte, 5000) })
	require.ErrorIs(t, err, rskv.ErrValueTooLarge)
	ok, err := s.Has([]byte("absent"))
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, 1, s.Len())
	// The key is still updatable (in place or not) after the refused RMW.
	v, err = s.RMW(k, fn)
	require.NoError(t, err)
	require.Equal(t, []byte("xx"), v)
}

// TestRMWResultIsTheCallers: RMW returns the new value to the caller, who
// keeps it. fn may build the new value by appending to old (a natural way to
// write it) or return old itself; old may be the store's scratch buffer,
// which the store reuses after the call, so the result must not share it.
func TestRMWResultIsTheCallers(t *testing.T) {
	s := openStore(t, t.TempDir(), smallOptions())
	for name, fn := range map[string]func([]byte, bool) []byte{
		"append to old": func(old []byte, found bool) []byte { return append(old, '!') },
		"old itself":    func(old []byte, found bool) []byte { return old },
		"slice of old":  func(old []byte, found bool) []byte { return old[1:] },
	} {
		k := []byte("key/" + name)
		require.NoError(t, s.Put(k, []byte("original")))
		got, err := s.RMW(k, fn)
		require.NoError(t, err)
		want := append([]byte(nil), got...)
		// Other operations reuse the scratch buffers.
		for i := range 20 {
			other := fmt.Appendf(nil, "other-%d", i)
			require.NoError(t, s.Put(other, []byte("ZZZZZZZZZZZZZZZZZZZZ")))
			_, err := s.RMW(other, func(old []byte, found bool) []byte { return append(old[:0:0], old...) })
			require.NoError(t, err)
			_, err = s.Get(other)
			require.NoError(t, err)
		}
		require.Equal(t, want, got, "%s: the value RMW returned was overwritten", name)
		stored, err := s.Get(k)
		require.NoError(t, err)
		require.Equal(t, want, stored, name)
	}

	// Concurrently (under -race a shared buffer is also a data race).
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Appendf(nil, "conc-%d", w)
			for i := range scaled(500) {
				got, err := s.RMW(k, func(old []byte, found bool) []byte {
					return append(old[:0], byte(w), byte(i))
				})
				if err != nil {
					errs <- err
					return
				}
				runtime.Gosched()
				if len(got) != 2 || got[0] != byte(w) || got[1] != byte(i) {
					errs <- fmt.Errorf("worker %d step %d: RMW result changed to %v", w, i, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
