package hlog

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkDeltaSyncDirty measures one delta sync of a window in which a
// fifth of 200,000 mutable records (12-byte keys, 100-byte values) were
// updated in place at random: the syncer's per-window cost under the
// churn of issue 11 (copying, checksumming and writing the images). The
// fsync's latency is in the figure: for the CPU cost, use -cpuprofile (the
// capture is deltaSyncForcedLocked minus deltaLog.commit).
//
//	go test ./internal/hlog -run '^$' -bench BenchmarkDeltaSyncDirty
func BenchmarkDeltaSyncDirty(b *testing.B) {
	g := geometry{pageBits: 20, segmentBits: 26, frames: 64, mutable: 60}
	tl := mustOpenTestLog(b, b.TempDir(), g)
	defer tl.close()
	const n = 200_000
	addrs := make([]uint64, n)
	val := make([]byte, 100)
	key := make([]byte, 12)
	for i := range addrs {
		binary.BigEndian.PutUint64(key[4:], uint64(i))
		addrs[i] = tl.append(key, val, 0)
	}
	require.NoError(b, tl.l.WaitDurable(0))
	rng := rand.New(rand.NewPCG(1, 2))
	pick := make([]uint64, n/5)
	b.SetBytes(int64(len(pick)) * int64(RecordSize(12, 100)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range pick {
			pick[j] = addrs[rng.IntN(n)]
		}
		binary.LittleEndian.PutUint64(val, uint64(i))
		tl.updateInPlace(pick, val)
		b.StartTimer()
		if err := tl.l.SyncTo(0); err != nil {
			b.Fatal(err)
		}
	}
}
