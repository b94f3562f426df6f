package log

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
	for _, a := range addrs[:10] {
		h := tl.em.Protect()
		r := tl.l.Mem(a)
		require.True(t, r.Lock())
		require.True(t, r.UpdateLocked([]byte("value-02")))
		r.Unlock()
		h.Release()
	}
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
