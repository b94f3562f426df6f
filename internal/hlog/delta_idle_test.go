package hlog

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDeltaIdleTruncation: after truncateIdleSyncs syncs with nothing to
// write, the delta log is folded into the segments and its older
// generations deleted.
func TestDeltaIdleTruncation(t *testing.T) {
	tl := mustOpenTestLog(t, t.TempDir(), geometry{pageBits: 12, segmentBits: 16, frames: 16, mutable: 12})
	defer tl.close()
	var addrs []uint64
	for i := range 50 {
		addrs = append(addrs, tl.append(testKey(i), []byte("value-01"), 0))
	}
	require.NoError(t, tl.l.WaitDurable(0))
	tl.updateInPlace(addrs[:10], []byte("value-02"))
	require.NoError(t, tl.l.WaitDurable(0))
	st := tl.l.DeltaStats()
	require.Equal(t, 1, st.Generations)
	require.Zero(t, st.Truncations)
	for range truncateIdleSyncs + 1 {
		require.NoError(t, tl.l.WaitDurable(0))
	}
	st = tl.l.DeltaStats()
	require.Equal(t, uint64(1), st.Truncations, "idle: truncated")
	require.Equal(t, 1, st.Generations, "only the new generation is left")
	require.Less(t, st.Bytes, int64(200))
}

// TestDeltaLargeSyncSplitsBatches: a sync with more to write than
// deltaBatchBytes writes several batches, and a crash after it recovers
// every record and every in-place update.
func TestDeltaLargeSyncSplitsBatches(t *testing.T) {
	defer func(n int) { deltaBatchBytes = n }(deltaBatchBytes)
	deltaBatchBytes = 2048
	dir := t.TempDir()
	g := geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28}
	tl := mustOpenTestLog(t, dir, g)
	var addrs []uint64
	for i := range 300 {
		addrs = append(addrs, tl.append(testKey(i), []byte("value-01"), 0))
	}
	require.NoError(t, tl.l.WaitDurable(0))
	tl.updateInPlace(addrs[:150], []byte("value-02"))
	require.NoError(t, tl.l.WaitDurable(0))
	require.Greater(t, tl.l.delta.seq, uint64(4), "several batches")
	require.Equal(t, FirstAddress, int(tl.l.Flushed()), "nothing flushed: all in the delta log")
	tl.crash()
	tl = mustOpenTestLog(t, dir, g)
	defer tl.close()
	require.Len(t, tl.recs, 300)
	for i, r := range tl.recs {
		want := "value-01"
		if i < 150 {
			want = "value-02"
		}
		require.Equal(t, string(testKey(i)), string(r.Key))
		require.Equal(t, want, string(r.Value), "record %d", i)
	}
	require.Positive(t, tl.rep.Delta.Batches)
}
