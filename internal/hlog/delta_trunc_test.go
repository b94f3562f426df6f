package hlog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
	"github.com/stretchr/testify/require"
)

// TestTruncationWithSyncsBetweenChunks: syncs run between the chunks of a
// truncation, imaging records of chunks already written (newer than the
// segment) and records appended after the truncation's range. The
// truncation must still leave a single generation behind (the images such
// syncs wrote are written again into it), and a power cut before any file
// operation of the truncation or of the syncs, or after it, must recover
// every record with a value it had no earlier than the last completed
// sync.
//
// It runs with the syncer copying dirty records, with writer-side capture
// (every update's image buffered by the writer, drained by the syncs and
// by each chunk), and with capture buffers so small that most updates fall
// back to the dirty list while others are buffered.
func TestTruncationWithSyncsBetweenChunks(t *testing.T) {
	for _, c := range []struct {
		name       string
		g          geometry
		batchBytes int  // deltaBatchBytes, if not 0
		rewrite    bool // the truncation writes the owed images again instead of keeping its generation
		pending    bool // syncs also run during each chunk's I/O, between its batch's fsync and its write
	}{
		{"dirty-list", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28}, 0, false, false},
		{"capture", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28, capture: true}, 0, false, false},
		{"capture-full", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28, capture: true, captureBytes: 200}, 0, false, false},
		// The syncs, the last one's owed images included, spill into
		// several batches: the new base must come after all of them.
		{"dirty-list-spill", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28}, 2048, false, false},
		{"capture-spill", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28, capture: true}, 2048, false, false},
		{"rewrite-dirty-list", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28}, 0, true, false},
		{"rewrite-capture", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28, capture: true}, 0, true, false},
		{"rewrite-dirty-list-spill", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28}, 2048, true, false},
		{"rewrite-capture-spill", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28, capture: true}, 2048, true, false},
		// A chunk's I/O runs without maintMu: a sync between its batch's
		// fsync and its write images records of that chunk, newer than the
		// copy about to be written, so they must be owed (the hand moved
		// before the lock was let go); the rewrite cases fail otherwise.
		{"pending-dirty-list", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28}, 0, false, true},
		{"pending-capture", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28, capture: true}, 0, false, true},
		{"rewrite-pending-dirty-list", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28}, 0, true, true},
		{"rewrite-pending-capture", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28, capture: true}, 0, true, true},
		{"rewrite-pending-capture-spill", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28, capture: true}, 2048, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.rewrite {
				defer func(n int64) { truncateKeepSlack = n }(truncateKeepSlack)
				truncateKeepSlack = -1 << 62
			}
			if c.batchBytes > 0 {
				defer func(n int) { deltaBatchBytes = n }(deltaBatchBytes)
				deltaBatchBytes = c.batchBytes
			}
			testTruncationWithSyncsBetweenChunks(t, c.g, c.pending)
		})
	}
}

func testTruncationWithSyncsBetweenChunks(t *testing.T, g geometry, pending bool) {
	defer func(n int) { truncateChunk = n }(truncateChunk)
	truncateChunk = 4096 // a page: the region below is several chunks
	mem := vfs.NewMem()
	require.NoError(t, mem.MkdirAll("db", 0o755))
	require.NoError(t, mem.SyncDir("."))
	type cut struct {
		fs    *vfs.MemFS
		floor []int // per key: index of the oldest value it may hold (-1: may be absent)
	}
	var (
		armed  bool
		cuts   []cut
		vals   [][][]byte // per key: every value written, in order
		floor  []int      // per key: the value the last completed sync covered
		nCalls int
	)
	inj := errorfs.InjectorFunc(func(c errorfs.Call) bool {
		if armed {
			nCalls++
			cuts = append(cuts, cut{fs: mem.CrashCloneTorn(rand.New(rand.NewPCG(uint64(nCalls), 11))), floor: append([]int(nil), floor...)})
		}
		return false
	})
	tl, err := openTestLogFS(t, errorfs.Wrap(mem, inj), "db", g)
	require.NoError(t, err)
	var addrs []uint64
	put := func(i int, v []byte) {
		for len(vals) <= i {
			vals = append(vals, nil)
			floor = append(floor, -1)
		}
		vals[i] = append(vals[i], v)
		if i < len(addrs) {
			tl.updateInPlace(addrs[i:i+1], v)
			return
		}
		addrs = append(addrs, tl.append(testKey(i), v, 0))
	}
	synced := func() {
		for i := range vals {
			floor[i] = len(vals[i]) - 1
		}
	}
	val := func(ver int) []byte { return fmt.Appendf(nil, "v-%06d", ver) }
	const keys = 300
	for i := range keys {
		put(i, val(1))
	}
	require.NoError(t, tl.l.WaitDurable(0))
	synced()
	for i := range keys {
		put(i, val(2))
	}
	require.NoError(t, tl.l.WaitDurable(0))
	synced()
	require.Greater(t, tl.l.Tail()-tl.l.Flushed(), uint64(3*truncateChunk), "the region spans several chunks")

	chunks, ver := 0, 100
	changeAndSync := func() {
		// Every record changes (those of the chunks written, too), new
		// records are appended above the truncation's range, and a sync
		// makes it all durable.
		ver++
		for i := range keys {
			put(i, val(ver))
		}
		put(len(addrs), val(ver))
		require.NoError(t, tl.l.SyncTo(0))
		synced()
	}
	afterTruncateChunk = func() {
		chunks++
		if !pending {
			changeAndSync()
		}
	}
	if pending {
		// Only there: a change after the write would be imaged with the
		// hand past the chunk whatever the code did.
		beforeChunkWrite = changeAndSync
		// And between the rewrite's fsync and the new base (rewrite cases).
		beforeRewriteBase = changeAndSync
	}
	defer func() { afterTruncateChunk, beforeChunkWrite, beforeRewriteBase = nil, nil, nil }()
	armed = true
	require.NoError(t, tl.l.truncate())
	armed = false
	afterTruncateChunk, beforeChunkWrite, beforeRewriteBase = nil, nil, nil
	require.Greater(t, chunks, 2, "the truncation wrote several chunks")
	st := tl.l.DeltaStats()
	require.Equal(t, 1, st.Generations, "only the truncation's last generation is left")
	if g.capture {
		require.Positive(t, st.CapturedBytes, "the writers captured images")
	} else {
		require.Zero(t, st.CapturedBytes)
	}
	cuts = append(cuts, cut{fs: mem.CrashClone(), floor: append([]int(nil), floor...)})
	tl.crash()

	for n, c := range cuts {
		rl, err := openTestLogFS(t, c.fs, "db", g)
		require.NoError(t, err, "power cut %d of %d", n+1, len(cuts))
		got := map[string][]byte{}
		for _, r := range rl.recs {
			got[string(r.Key)] = r.Value
		}
		for i := range vals {
			fl := -1
			if i < len(c.floor) {
				fl = c.floor[i]
			}
			v, ok := got[string(testKey(i))]
			if !ok {
				require.Equal(t, -1, fl, "cut %d: key %d lost", n+1, i)
				continue
			}
			found := -1
			for j := len(vals[i]) - 1; j >= 0; j-- {
				if bytes.Equal(vals[i][j], v) {
					found = j
					break
				}
			}
			require.GreaterOrEqual(t, found, max(fl, 0), "cut %d: key %d = %q, synced %q", n+1, i, v, vals[i][max(fl, 0)])
		}
		rl.close()
	}
}
