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

// BenchmarkInPlaceDurable measures what an in-place update and its
// durability cost together, on one goroutine (so the time is CPU): the
// churn's 500,000 records of 12-byte keys and 100-byte values in a 72 MB
// mutable region, updated at random, with a delta sync every 150,000
// updates (the churn's window: 100 ms at 1.5 M puts/s). "dirty" leaves
// the images to the syncer (dirty list), "capture" has the writer capture
// them (dirty.go); the "-hot" cases update 1024 of the records only. The
// fsyncs (one per window) add a few ns per update.
//
//	go test ./internal/hlog -run '^$' -bench BenchmarkInPlaceDurable -count 3
func BenchmarkInPlaceDurable(b *testing.B) {
	for _, c := range []struct {
		name    string
		capture bool
		n       uint64 // keys updated, uniformly
	}{{"dirty", false, 500_000}, {"capture", true, 500_000}, {"dirty-hot", false, 1024}, {"capture-hot", true, 1024}} {
		b.Run(c.name, func(b *testing.B) {
			g := geometry{pageBits: 20, segmentBits: 28, frames: 128, mutable: 120, capture: c.capture}
			tl := mustOpenTestLog(b, b.TempDir(), g)
			defer tl.close()
			// The hot cases update 1024 keys: each changes ~150 times per
			// window, as the head of a zipfian distribution does.
			n := c.n
			const window = 150_000
			addrs := make([]uint64, n)
			val := make([]byte, 100)
			key := make([]byte, 12)
			for i := range addrs {
				binary.BigEndian.PutUint64(key[4:], uint64(i))
				addrs[i] = tl.append(key, val, 0)
			}
			require.NoError(b, tl.l.SyncTo(0))
			x := uint64(1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				binary.LittleEndian.PutUint64(val, x)
				h := tl.em.Protect()
				r := tl.l.Mem(addrs[x%n])
				if !r.Lock() || !r.UpdateLocked(val) {
					b.Fatal("not updated in place")
				}
				r.Unlock()
				h.Release()
				if i%window == window-1 {
					if err := tl.l.SyncTo(0); err != nil {
						b.Fatal(err)
					}
				}
			}
			require.NoError(b, tl.l.SyncTo(0))
		})
	}
}
