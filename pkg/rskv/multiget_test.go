package rskv_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// TestMultiGetMatchesAppendValue checks MultiGet against AppendValue key by
// key: present, deleted, never written, and keys whose records went to
// disk, in groups that do not divide evenly; and that a bad key fails the
// call.
func TestMultiGetMatchesAppendValue(t *testing.T) {
	s, err := rskv.Open(t.TempDir(), &rskv.Options{MemorySize: 1 << 20, PageSize: 64 << 10, DisableBackground: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	const n = 20_000 // far more than 1 MiB of memory holds: most are on disk
	for i := 0; i < n; i++ {
		require.NoError(t, s.Put(fmt.Appendf(nil, "k%06d", i), fmt.Appendf(nil, "value-%d", i)))
	}
	for i := 0; i < n; i += 5 {
		require.NoError(t, s.Delete(fmt.Appendf(nil, "k%06d", i)))
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for round := 0; round < 50; round++ {
		keys := make([][]byte, rng.IntN(40))
		for j := range keys {
			keys[j] = fmt.Appendf(nil, "k%06d", rng.IntN(n+n/10)) // some never written
		}
		prefix := []byte("x")
		dst, ends, err := s.MultiGet(prefix, keys, nil)
		require.NoError(t, err)
		require.Len(t, ends, len(keys))
		start := len(prefix)
		for j, k := range keys {
			want, werr := s.Get(k)
			if werr != nil {
				require.ErrorIs(t, werr, rskv.ErrNotFound)
				require.Equal(t, -1, ends[j], "key %s", k)
				continue
			}
			require.Equal(t, string(want), string(dst[start:ends[j]]), "key %s", k)
			start = ends[j]
		}
	}
	_, _, err = s.MultiGet(nil, [][]byte{[]byte("a"), nil}, nil)
	require.ErrorIs(t, err, rskv.ErrEmptyKey)
}

// BenchmarkMultiGet reads 16 random keys of a million in memory per
// operation, by MultiGet and by 16 AppendValue calls.
//
//	go test ./pkg/rskv -run '^$' -bench MultiGet -count 5
func BenchmarkMultiGet(b *testing.B) {
	b.Cleanup(closeBenchStores)
	for _, mode := range []string{"AppendValue", "MultiGet"} {
		b.Run(mode, func(b *testing.B) {
			s := preloaded(b, "store", 8).(*rskv.Store)
			rng := rand.New(rand.NewPCG(1, 2))
			keys := make([][]byte, 16)
			for j := range keys {
				keys[j] = make([]byte, 0, 8)
			}
			buf := make([]byte, 0, 1024)
			ends := make([]int, 0, 16)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range keys {
					keys[j] = benchKey(keys[j], rng.Uint64N(benchKeys))
				}
				var err error
				if mode == "MultiGet" {
					buf, ends, err = s.MultiGet(buf[:0], keys, ends[:0])
				} else {
					buf = buf[:0]
					for _, k := range keys {
						if buf, err = s.AppendValue(buf, k); err != nil {
							break
						}
					}
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*16)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}
