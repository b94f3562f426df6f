package supervision

import (
	"runtime"
	"testing"

	"github.com/rskv-go/rskv/internal/racecheck"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// TestMemoryStaysWithinBudget writes steadily, ten times MemorySize, and
// checks that the log's in-memory span never exceeds MemorySize and that the
// process's heap does not grow with the data: the log shifter flushes and
// evicts as fast as the writer fills pages.
func TestMemoryStaysWithinBudget(t *testing.T) {
	const memory = 4 << 20
	o := &rskv.Options{MemorySize: memory, PageSize: 64 << 10, SegmentSize: 1 << 20, IndexBuckets: 1 << 12}
	o.SetSyncMode(rskv.SyncNone)
	o.CheckpointInterval = -1
	s := open(t, o)

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	n := racecheck.Scale(400_000, 2) // ~40 MiB of 104-byte records (20 under -race)
	var peak uint64
	for i := 0; i < n; i++ {
		require.NoError(t, s.Put(key(i), value(i, 0, 64)))
		if i%20000 == 0 {
			st := s.Stats()
			require.LessOrEqual(t, st.TailAddress-st.HeadAddress, uint64(memory),
				"in-memory log span at write %d", i)
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	st := s.Stats()
	require.Greater(t, st.TailAddress-st.BeginAddress, uint64(4*memory), "the data is far larger than memory")
	// The frames are allocated at Open; what grows with the data is the
	// index (64 bytes per bucket, about 2 to 4 keys per bucket, and while it
	// doubles the old tables until they are collected: up to twice its size
	// again). Allow that, plus slack for the runtime, and nothing
	// proportional to the data itself.
	index := 3*uint64(st.IndexBuckets)*64 + uint64(st.IndexOverflowBuckets)*64
	require.Less(t, peak-min(peak, base), index+16<<20, "heap grew with the data")
	t.Logf("inline maintenance %d of %d page turns; heap peak +%d MiB", st.InlineMaintenance, (st.TailAddress-64)/(64<<10), (peak-min(peak, base))>>20)
	// The shifter kept up: writers rarely had to make room themselves.
	pages := (st.TailAddress - 64) / (64 << 10)
	require.Less(t, st.InlineMaintenance, pages/4, "inline maintenance %d for %d page turns", st.InlineMaintenance, pages)
}
