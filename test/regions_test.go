package test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// fill writes filler keys until cond holds, and returns how many it wrote.
func fill(t testing.TB, s *rskv.Store, prefix string, cond func(rskv.Stats) bool) int {
	t.Helper()
	n := 0
	for !cond(s.Stats()) {
		k := fmt.Appendf(nil, "%s-%06d", prefix, n)
		require.NoError(t, s.Put(k, versioned(k, uint64(n), 40)))
		n++
		require.Less(t, n, 1_000_000, "condition never reached")
	}
	return n
}

// TestInPlaceUpdateVersusAppend follows one hot key across the read-only
// boundary: updates in the mutable region are made in place (the tail does
// not move), an update of a record below the read-only address appends, and
// the value is right all along.
func TestInPlaceUpdateVersusAppend(t *testing.T) {
	opts := smallOptions()
	opts.MemorySize = 64 << 10 // 16 pages
	opts.MutableFraction = 0.5 // 8 mutable pages
	s := openStore(t, t.TempDir(), opts)
	hot := []byte("hot-key")
	val := func(i int) []byte { return binary.LittleEndian.AppendUint64([]byte("value-of-16b"), uint64(i)) }

	// Start the hot key a few pages in: without background services the
	// read-only region appears when memory first fills, and the head then
	// moves past the first page at once.
	fill(t, s, "pre", func(st rskv.Stats) bool { return st.TailAddress >= 3*4096 })
	before := s.Stats()
	require.NoError(t, s.Put(hot, val(0)))
	afterInsert := s.Stats()
	require.Equal(t, before.Appends+1, afterInsert.Appends, "a new key is appended")
	require.Equal(t, before.InPlaceUpdates, afterInsert.InPlaceUpdates)
	recordEnd := afterInsert.TailAddress

	for i := 1; i <= 50; i++ {
		require.NoError(t, s.Put(hot, val(i)))
		got, err := s.Get(hot)
		require.NoError(t, err)
		require.Equal(t, val(i), got)
	}
	st := s.Stats()
	require.Equal(t, afterInsert.InPlaceUpdates+50, st.InPlaceUpdates, "updates in the mutable region are in place")
	require.Equal(t, afterInsert.Appends, st.Appends)
	require.Equal(t, recordEnd, st.TailAddress, "in-place updates do not grow the log")
	require.Equal(t, afterInsert.Puts+50, st.Puts)

	// A shorter value fits in place too; a longer one than the record holds
	// is appended even in the mutable region.
	require.NoError(t, s.Put(hot, []byte("short")))
	require.Equal(t, st.InPlaceUpdates+1, s.Stats().InPlaceUpdates)
	require.NoError(t, s.Put(hot, val(51)))
	require.Equal(t, st.InPlaceUpdates+2, s.Stats().InPlaceUpdates, "back to 16 bytes: still within capacity")
	long := make([]byte, 100)
	require.NoError(t, s.Put(hot, long))
	st = s.Stats()
	require.Equal(t, afterInsert.Appends+1, st.Appends, "a value larger than the record is appended")
	got, err := s.Get(hot)
	require.NoError(t, err)
	require.Equal(t, long, got)
	recordEnd = st.TailAddress

	// Push the hot record below the read-only address (but keep it in
	// memory): its next update must append.
	fill(t, s, "filler", func(st rskv.Stats) bool { return st.ReadOnlyAddress >= recordEnd })
	st = s.Stats()
	require.GreaterOrEqual(t, st.ReadOnlyAddress, recordEnd)
	require.Less(t, st.HeadAddress, recordEnd, "still in memory")
	require.NoError(t, s.Put(hot, val(52)))
	st2 := s.Stats()
	require.Equal(t, st.Appends+1, st2.Appends, "an update below the read-only address appends")
	require.Equal(t, st.InPlaceUpdates, st2.InPlaceUpdates)
	got, err = s.Get(hot)
	require.NoError(t, err)
	require.Equal(t, val(52), got)

	// The new record is mutable again.
	require.NoError(t, s.Put(hot, val(53)))
	require.Equal(t, st2.InPlaceUpdates+1, s.Stats().InPlaceUpdates)

	// Push it out of memory: reading it is a disk read, updating appends.
	recordEnd = s.Stats().TailAddress
	fill(t, s, "more", func(st rskv.Stats) bool { return st.HeadAddress >= recordEnd })
	st = s.Stats()
	got, err = s.Get(hot)
	require.NoError(t, err)
	require.Equal(t, val(53), got)
	require.Greater(t, s.Stats().DiskReads, st.DiskReads, "the hot key is on disk now")
	require.NoError(t, s.Put(hot, val(54)))
	require.Equal(t, st.Appends+1, s.Stats().Appends)
	got, err = s.Get(hot)
	require.NoError(t, err)
	require.Equal(t, val(54), got)
}

// TestRMWInPlaceVersusAppend does the same with RMW, which also reads the old
// value from wherever it is.
func TestRMWInPlaceVersusAppend(t *testing.T) {
	opts := smallOptions()
	opts.MemorySize = 64 << 10
	opts.MutableFraction = 0.5
	s := openStore(t, t.TempDir(), opts)
	ctr := []byte("counter")
	incr := func(old []byte, found bool) []byte {
		var n uint64
		if found {
			n = binary.LittleEndian.Uint64(old)
		}
		return binary.LittleEndian.AppendUint64(nil, n+1)
	}
	want := uint64(0)
	check := func() {
		t.Helper()
		got, err := s.Get(ctr)
		require.NoError(t, err)
		require.Equal(t, want, binary.LittleEndian.Uint64(got))
	}
	st0 := s.Stats()
	for range 20 {
		v, err := s.RMW(ctr, incr)
		require.NoError(t, err)
		want++
		require.Equal(t, want, binary.LittleEndian.Uint64(v))
	}
	check()
	st := s.Stats()
	require.Equal(t, st0.RMWs+20, st.RMWs)
	require.Equal(t, st0.Appends+1, st.Appends, "only the first RMW appends")
	require.Equal(t, st0.InPlaceUpdates+19, st.InPlaceUpdates)

	end := st.TailAddress
	fill(t, s, "ro", func(st rskv.Stats) bool { return st.ReadOnlyAddress >= end })
	st = s.Stats()
	_, err := s.RMW(ctr, incr)
	require.NoError(t, err)
	want++
	check()
	require.Equal(t, st.Appends+1, s.Stats().Appends, "RMW of a read-only record appends")

	end = s.Stats().TailAddress
	fill(t, s, "disk", func(st rskv.Stats) bool { return st.HeadAddress >= end })
	st = s.Stats()
	_, err = s.RMW(ctr, incr)
	require.NoError(t, err)
	want++
	check()
	require.Greater(t, s.Stats().DiskReads, st.DiskReads, "RMW read the old value from disk")
}

// TestSyncAlwaysUpdatesInPlaceDurably: with SyncAlways an overwrite of a
// mutable record still happens in place (the delta log makes it durable,
// the region stays mutable), and every acknowledged value survives a power
// cut right after its call returned.
func TestSyncAlwaysUpdatesInPlaceDurably(t *testing.T) {
	opts := smallOptions()
	opts.SetSyncMode(rskv.SyncAlways)
	mem := vfs.NewMem()
	opts.FS = mem
	s := openStore(t, "db", opts)
	k := []byte("k")
	v := func(i int) []byte { return fmt.Appendf(nil, "value-%04d", i) } // same length: fits in place
	for i := range 20 {
		require.NoError(t, s.Put(k, v(i)))
		st := s.Stats()
		require.GreaterOrEqual(t, st.DurableAddress, st.TailAddress, "durable on return")
		if i%5 == 4 {
			crashed := mem.CrashClone()
			o := *opts
			o.FS = crashed
			c, err := rskv.Open("db", &o)
			require.NoError(t, err)
			got, err := c.Get(k)
			require.NoError(t, err)
			require.Equal(t, v(i), got, "the acknowledged in-place update survives a power cut")
			require.NoError(t, c.Close())
		}
	}
	require.Equal(t, uint64(19), s.Stats().InPlaceUpdates, "every overwrite after the first write is in place")
}
