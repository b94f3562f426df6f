package test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// TestConcurrentWritersAndReaders runs writers on disjoint and shared keys
// and readers on all of them, in a store small enough that records move
// through the read-only region to disk while it runs. Readers must only see
// values that were really written, never older than a version they already
// saw; at the end every key holds its last write.
func TestConcurrentWritersAndReaders(t *testing.T) {
	const writers, readers = 8, 4
	const ownKeys, sharedKeys = 60, 12
	ops := scaled(2500)
	dir := t.TempDir()
	opts := smallOptions()
	opts.MemorySize = 64 << 10 // 16 pages
	s := openStore(t, dir, opts)

	ownKey := func(w, i int) []byte { return fmt.Appendf(nil, "own-%d-%03d", w, i) }
	sharedKey := func(i int) []byte { return fmt.Appendf(nil, "shared-%03d", i) }

	// started[w][i] is the highest version writer w has begun to write to its
	// key i: a reader may see nothing newer. Versions of shared keys carry
	// the writer in their top bits.
	started := make([][]atomic.Uint64, writers)
	for w := range started {
		started[w] = make([]atomic.Uint64, ownKeys)
	}
	sharedStarted := make([]atomic.Uint64, sharedKeys) // highest counter begun, any writer
	type final struct {
		version uint64
		value   []byte // nil: deleted
	}
	finals := make([][]final, writers)       // last op on own keys
	sharedFinal := make([][]uint64, writers) // last version each writer put to each shared key
	errs := make(chan error, writers+readers)
	var stop atomic.Bool
	var wg sync.WaitGroup

	for w := range writers {
		finals[w] = make([]final, ownKeys)
		sharedFinal[w] = make([]uint64, sharedKeys)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for n := range ops {
				if rng.IntN(4) == 0 {
					i := rng.IntN(sharedKeys)
					ver := uint64(w)<<40 | uint64(n+1)
					for {
						cur := sharedStarted[i].Load()
						if cur >= uint64(n+1) || sharedStarted[i].CompareAndSwap(cur, uint64(n+1)) {
							break
						}
					}
					if err := s.Put(sharedKey(i), versioned(sharedKey(i), ver, w)); err != nil {
						errs <- err
						return
					}
					sharedFinal[w][i] = ver
					continue
				}
				i := rng.IntN(ownKeys)
				k := ownKey(w, i)
				ver := finals[w][i].version + 1
				started[w][i].Store(ver)
				var err error
				if rng.IntN(10) == 0 {
					err = s.Delete(k)
					finals[w][i] = final{ver, nil}
				} else {
					v := versioned(k, ver, rng.IntN(20))
					err = s.Put(k, v)
					finals[w][i] = final{ver, v}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var reads atomic.Int64
	var rwg sync.WaitGroup
	for r := range readers {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			seen := map[string]uint64{}
			var buf []byte
			// Bounded, so that spinning readers cannot starve the writers
			// of the two CPUs.
			for n := 0; n < 2*ops && !stop.Load(); n++ {
				var k []byte
				var limit func() uint64
				shared := rng.IntN(3) == 0
				if shared {
					i := rng.IntN(sharedKeys)
					k = sharedKey(i)
					limit = func() uint64 { return sharedStarted[i].Load() }
				} else {
					w, i := rng.IntN(writers), rng.IntN(ownKeys)
					k = ownKey(w, i)
					limit = func() uint64 { return started[w][i].Load() }
				}
				var err error
				buf, err = s.AppendValue(buf[:0], k)
				reads.Add(1)
				if errors.Is(err, rskv.ErrNotFound) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				ver, err := decodeVersioned(k, buf)
				if err != nil {
					errs <- err
					return
				}
				counter := ver
				if shared {
					counter = ver & (1<<40 - 1)
				}
				if counter > limit() {
					errs <- fmt.Errorf("read %q version %d, but no writer has started it", k, counter)
					return
				}
				if !shared {
					if prev := seen[string(k)]; ver < prev {
						errs <- fmt.Errorf("read %q version %d after version %d", k, ver, prev)
						return
					}
					seen[string(k)] = ver
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	rwg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Positive(t, reads.Load())

	want := map[string][]byte{}
	for w := range writers {
		for i, f := range finals[w] {
			k := ownKey(w, i)
			if f.value != nil {
				want[string(k)] = f.value
			}
		}
	}
	for w := range writers {
		for i := range ownKeys {
			k := ownKey(w, i)
			got, err := s.Get(k)
			if wv, ok := want[string(k)]; ok {
				require.NoError(t, err, "Get(%q)", k)
				require.Equal(t, wv, got, "final value of %q", k)
			} else {
				require.ErrorIs(t, err, rskv.ErrNotFound, "Get(%q)", k)
			}
		}
	}
	for i := range sharedKeys {
		k := sharedKey(i)
		got, err := s.Get(k)
		var lasts []uint64
		for w := range writers {
			if sharedFinal[w][i] != 0 {
				lasts = append(lasts, sharedFinal[w][i])
			}
		}
		if len(lasts) == 0 {
			require.ErrorIs(t, err, rskv.ErrNotFound)
			continue
		}
		require.NoError(t, err)
		ver, err := decodeVersioned(k, got)
		require.NoError(t, err)
		require.Contains(t, lasts, ver, "a shared key ends with some writer's last write")
		want[string(k)] = got
	}
	require.Equal(t, len(want), s.Len())
	st := s.Stats()
	require.Greater(t, st.HeadAddress, uint64(64), "the run must push data out of memory")
	require.NoError(t, s.Close())
	s = openStore(t, dir, opts)
	requireContents(t, s, want)
}

// TestConcurrentLenStaysExact has goroutines put, delete and RMW the same
// few keys at once. Whatever the interleaving, Len must equal the number of
// keys that exist at the end, before and after a reopen.
func TestConcurrentLenStaysExact(t *testing.T) {
	dir := t.TempDir()
	opts := smallOptions()
	opts.MemorySize = 32 << 10
	opts.IndexBuckets = 1024
	s := openStore(t, dir, opts)
	const workers, keys = 8, 40
	ops := scaled(3000)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range ops {
				k := key(rng.IntN(keys))
				var err error
				switch rng.IntN(4) {
				case 0:
					err = s.Delete(k)
				case 1:
					_, err = s.RMW(k, func(old []byte, found bool) []byte { return append(old[:0:0], byte(len(old))) })
				default:
					err = s.Put(k, make([]byte, rng.IntN(200)))
				}
				if err != nil {
					errs <- err
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
	live := func(s *rskv.Store) int {
		n := 0
		for i := range keys {
			ok, err := s.Has(key(i))
			require.NoError(t, err)
			if ok {
				n++
			}
		}
		return n
	}
	n := live(s)
	require.Equal(t, n, s.Len())
	require.Len(t, snapshot(t, s, nil), n)
	require.NoError(t, s.Close())
	s = openStore(t, dir, opts)
	require.Equal(t, n, live(s))
	require.Equal(t, n, s.Len())
}
