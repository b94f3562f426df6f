package hlog

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The images of one record reach the delta log through two ways, the
// writer's capture buffer and the syncer's copy of a listed (dirty)
// record, and redo applies them in batch order, entry by entry. These
// tests drive the interleavings in which a later value of a record could
// end up in an earlier batch than an older captured image of it: after
// redo the record must hold the newest value the last sync covered.

// captureOrderLog opens a log with capture on, appends one record, syncs
// it (so that its in-place updates are captured) and shrinks the capture
// buffers to exactly one image of it: the second update in a window falls
// back to the dirty list.
func captureOrderLog(t *testing.T, dir string) (*testLog, uint64) {
	tl := mustOpenTestLog(t, dir, geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28, capture: true})
	key := []byte("the-key")
	addr := tl.append(key, []byte("v0"), 0)
	require.NoError(t, tl.l.SyncTo(0))
	tl.l.dirty.capCap = entryHeaderSize + int(RecordSize(len(key), 2))
	return tl, addr
}

// recoveredValue reopens the log in dir and returns the value recovery
// replayed last for the record at addr.
func recoveredValue(t *testing.T, dir string, addr uint64) string {
	tl := mustOpenTestLog(t, dir, geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28, capture: true})
	defer tl.close()
	v, found := "", false
	for _, r := range tl.recs {
		if r.Address == addr {
			v, found = string(r.Value), true
		}
	}
	require.True(t, found, "record %#x not recovered", addr)
	return v
}

// TestCaptureAfterSwapThenDirtyList: right after a sync swapped the
// capture buffers, a writer captures A into the new buffer (the next
// batch) and, the buffer being full, lists the record for its update to B.
// The listing must belong to the next batch too; had it gone to this
// sync's list (swapped after the buffers), this batch would copy B and the
// next one would write A after it.
func TestCaptureAfterSwapThenDirtyList(t *testing.T) {
	dir := t.TempDir()
	tl, addr := captureOrderLog(t, dir)
	fired := false
	testHookAfterSwap = func() {
		if !fired {
			fired = true
			tl.updateInPlace([]uint64{addr}, []byte("vA")) // captured: the new buffer has room
			tl.updateInPlace([]uint64{addr}, []byte("vB")) // buffer full: dirty list
		}
	}
	defer func() { testHookAfterSwap = nil }()
	require.NoError(t, tl.l.SyncTo(0)) // the sync whose swap the writer follows
	testHookAfterSwap = nil
	require.True(t, fired)
	require.NoError(t, tl.l.SyncTo(0)) // covers vA and vB
	tl.crash()
	require.Equal(t, "vB", recoveredValue(t, dir, addr))
}

// TestCaptureWhileListed: a record listed in this sync's dirty list (its
// update to B0 fell back: buffer full) is updated again after the swap,
// to A then B. Its dirty copy, taken after those updates, is B and goes
// into this batch; an image of A captured into the new buffer would go
// into the next batch and be applied after it. A record whose dirty bit is
// set is not captured: the pending copy covers its update.
func TestCaptureWhileListed(t *testing.T) {
	dir := t.TempDir()
	tl, addr := captureOrderLog(t, dir)
	tl.updateInPlace([]uint64{addr}, []byte("a0")) // captured, fills the buffer
	tl.updateInPlace([]uint64{addr}, []byte("b0")) // listed, dirty bit set
	fired := false
	testHookAfterSwap = func() {
		if !fired {
			fired = true
			tl.updateInPlace([]uint64{addr}, []byte("vA"))
			tl.updateInPlace([]uint64{addr}, []byte("vB"))
		}
	}
	defer func() { testHookAfterSwap = nil }()
	require.NoError(t, tl.l.SyncTo(0))
	testHookAfterSwap = nil
	require.True(t, fired)
	require.NoError(t, tl.l.SyncTo(0))
	tl.crash()
	require.Equal(t, "vB", recoveredValue(t, dir, addr))
}

// TestChunkCopyAfterCapture: a truncation chunk swaps the capture buffers
// into its own batch, then copies its records. A writer between the two
// captures A into the new buffer (the next sync's batch) and lists the
// record for its update to B; the chunk's batch gets B. The record must
// stay listed, so that the next sync writes a copy after A.
func TestChunkCopyAfterCapture(t *testing.T) {
	dir := t.TempDir()
	tl, addr := captureOrderLog(t, dir)
	tl.updateInPlace([]uint64{addr}, []byte("v1")) // something for the truncation to fold
	require.NoError(t, tl.l.SyncTo(0))
	fired := false
	testHookAfterChunkSwap = func() {
		if !fired {
			fired = true
			tl.updateInPlace([]uint64{addr}, []byte("vA")) // captured into the new buffer
			tl.updateInPlace([]uint64{addr}, []byte("vB")) // buffer full: listed
		}
	}
	defer func() { testHookAfterChunkSwap = nil }()
	require.NoError(t, tl.l.truncate())
	testHookAfterChunkSwap = nil
	require.True(t, fired, "the truncation copied no chunk")
	require.NoError(t, tl.l.SyncTo(0)) // covers vA and vB
	tl.crash()
	require.Equal(t, "vB", recoveredValue(t, dir, addr))
}
