package test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// TestDataTenTimesMemory writes about ten times MemorySize with the
// background services off, so writers flush and evict inline, then reads
// everything back (mostly from disk), updates a sample of cold keys, and
// checks it all again after a reopen.
func TestDataTenTimesMemory(t *testing.T) {
	memory := int64(2 << 20)
	total := 20 << 20
	if testing.Short() || raceEnabled {
		memory, total = 512<<10, 5<<20
	}
	opts := &rskv.Options{MemorySize: memory, PageSize: 32 << 10, DisableBackground: true}
	dir := t.TempDir()
	s := openStore(t, dir, opts)

	const valueLen = 1000
	n := total / (valueLen + 40)
	value := func(i int, gen uint64) []byte { return versioned(key(i), gen, valueLen-30) }
	for i := range n {
		require.NoError(t, s.Put(key(i), value(i, 0)))
	}
	st := s.Stats()
	require.Equal(t, n, st.Keys)
	require.GreaterOrEqual(t, int64(st.TailAddress), 9*memory, "wrote about ten times memory")
	require.LessOrEqual(t, int64(st.TailAddress-st.HeadAddress), memory, "memory stays within MemorySize")
	require.GreaterOrEqual(t, st.DiskBytes, int64(st.HeadAddress), "everything below the head is on disk")

	rng := rand.New(rand.NewPCG(1, 2))
	updated := map[int]uint64{}
	for range n / 20 {
		i := rng.IntN(n / 2) // cold keys
		updated[i]++
		require.NoError(t, s.Put(key(i), value(i, updated[i])))
	}
	check := func(s *rskv.Store) {
		t.Helper()
		before := s.Stats().DiskReads
		var buf []byte
		for i := range n {
			var err error
			buf, err = s.AppendValue(buf[:0], key(i))
			require.NoError(t, err, "key %d", i)
			require.Equal(t, value(i, updated[i]), buf, "key %d", i)
		}
		require.Greater(t, s.Stats().DiskReads, before+uint64(n/2), "most reads are cold")
		_, err := s.Get(key(n))
		require.True(t, errors.Is(err, rskv.ErrNotFound))
		require.Equal(t, n, s.Len())
	}
	check(s)
	require.NoError(t, s.Close())
	s = openStore(t, dir, opts)
	require.Equal(t, n, s.Len())
	check(s)
}
