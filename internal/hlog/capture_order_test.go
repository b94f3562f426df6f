package hlog

import (
	"fmt"
	"testing"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/stretchr/testify/require"
)

// TestCaptureOrdering drives writer-side capture with a capture buffer that
// holds exactly one image, so that a record's second update in a window
// falls back to the dirty list, and runs updates at the points of a sync
// (and of a truncation chunk) where the capture buffers have been swapped
// but the dirty list not yet taken (or the chunk not yet copied). Redo
// applies batches in order, the last image of an address winning, so
// after a power cut following a last sync, the record must hold the value
// it had when that sync started: its newest. Each case failed before the
// ordering fix it names:
//
//   - capture-while-dirty: the record is listed (dirty bit set); after the
//     swap an update is captured into the new buffer (next batch) and the
//     next one, buffer full again, finds the bit set and pushes nothing;
//     the sync's dirty copy (the newest value) goes into this batch, the
//     older captured image into the next one. Fix: a writer captures only
//     a record whose dirty bit is clear.
//   - push-between-swaps: the capture buffers and the dirty lists were
//     swapped in two passes; between them an update is captured into the
//     new buffer (next batch) and the next one is pushed onto the old list
//     (this batch). Fix: one critical section swaps both.
//   - chunk: a truncation chunk swaps the capture buffers into its batch,
//     then an update is captured into the new buffer (next sync's batch)
//     and the next one takes the dirty path; the chunk copies the record
//     dirty into its batch and cleared the bit, so the next sync skipped
//     it and wrote only the older captured image after it. Fix: with
//     capture on, the chunk leaves the bit set, so the next sync copies
//     the record again after its captured images.
//   - forced: the same with the copy of an owed record in the sync that
//     ends a truncation rewriting them, taken after the swap.
func TestCaptureOrdering(t *testing.T) {
	for _, c := range []struct {
		name string
		// listed: before the sync, the record is captured once (the
		// buffer is then full) and updated again (dirty bit set, listed).
		listed bool
		// chunk: the updates run in a truncation chunk, not in a sync.
		chunk bool
		// forced: the updates run in the sync that ends a truncation
		// writing its owed images again, the record among them.
		forced bool
		// roomy: buffers of the usual size; the second update of the
		// record in a window takes the dirty list because of the limit of
		// one capture per window, not because the buffer is full.
		roomy bool
	}{
		{"capture-while-dirty", true, false, false, false},
		{"push-between-swaps", false, false, false, false},
		{"chunk", false, true, false, false},
		{"chunk-listed", true, true, false, false},
		{"forced", false, false, true, false},
		{"limit-push-between-swaps", false, false, false, true},
		{"limit-chunk", false, true, false, true},
		{"limit-forced", false, false, true, true},
	} {
		t.Run(c.name, func(t *testing.T) { testCaptureOrdering(t, c.listed, c.chunk, c.forced, c.roomy) })
	}
}

func testCaptureOrdering(t *testing.T, listed, chunk, forced, roomy bool) {
	g := geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28, capture: true}
	mem := vfs.NewMem()
	require.NoError(t, mem.MkdirAll("db", 0o755))
	require.NoError(t, mem.SyncDir("."))
	tl, err := openTestLogFS(t, mem, "db", g)
	require.NoError(t, err)
	ver := 0
	val := func() []byte { ver++; return fmt.Appendf(nil, "v-%06d", ver) }
	addr := tl.append(testKey(0), val(), 0)
	// One image per buffer: the second update of the record in a window
	// falls back to the dirty list.
	if !roomy {
		tl.l.dirty.capCap = entryHeaderSize + int(tl.l.Mem(addr).Size())
	}
	require.NoError(t, tl.l.WaitDurable(0))
	require.Greater(t, tl.l.dirty.captureBelow.Load(), addr, "the record is captured from now on")
	update := func() { tl.updateInPlace([]uint64{addr}, val()) }
	dirty := func() bool { return tl.l.Mem(addr).r.lockWord().Load()&dirtyBit != 0 }
	if listed {
		update() // captured: the buffer is full
		require.False(t, dirty())
		update() // the dirty list
		require.True(t, dirty(), "the record fell back to the dirty list")
	}
	// Two updates between the swap and the rest: the first finds room in
	// the new buffer (unless the record is listed), the second does not.
	ran := false
	hook := func() {
		if !ran {
			ran = true
			update()
			update()
			require.True(t, dirty(), "the second update took the dirty list")
		}
	}
	switch {
	case forced:
		defer func(n int64) { truncateKeepSlack = n }(truncateKeepSlack)
		truncateKeepSlack = -1 << 62 // always rewrite
		afterTruncateChunk = func() {
			// A sync between chunks images the record, whose chunk is
			// written: it is owed, and the rewrite's sync copies it again.
			update()
			require.NoError(t, tl.l.SyncTo(0))
			afterCaptureSwap = hook
		}
		defer func() { afterTruncateChunk, afterCaptureSwap = nil, nil }()
		require.NoError(t, tl.l.truncate())
		require.Equal(t, uint64(1), tl.l.truncations.Load())
	case chunk:
		afterChunkImages = hook
		defer func() { afterChunkImages = nil }()
		require.NoError(t, tl.l.truncate())
		require.Equal(t, uint64(1), tl.l.truncations.Load())
	default:
		afterCaptureSwap = hook
		defer func() { afterCaptureSwap = nil }()
		require.NoError(t, tl.l.SyncTo(0))
	}
	require.True(t, ran, "the hook ran")
	afterChunkImages, afterCaptureSwap, afterTruncateChunk = nil, nil, nil
	// This sync starts after every update: the record's newest value must
	// survive it.
	require.NoError(t, tl.l.SyncTo(0))
	want := fmt.Appendf(nil, "v-%06d", ver)
	clone := mem.CrashClone()
	tl.crash()

	rl, err := openTestLogFS(t, clone, "db", g)
	require.NoError(t, err)
	defer rl.close()
	require.Len(t, rl.recs, 1)
	require.Equal(t, string(want), string(rl.recs[0].Value), "the value the last sync covered")
}
