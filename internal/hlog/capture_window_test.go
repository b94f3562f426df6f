package hlog

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCaptureOncePerWindow: a writer captures a record's image at most once
// per sync window; further updates of the record in the same window go to
// the dirty list, whose copy (taken at the sync, after the buffers) is the
// newest. So a key updated many times in a window costs at most two images,
// and after a crash the record holds its last synced value.
func TestCaptureOncePerWindow(t *testing.T) {
	dir := t.TempDir()
	g := geometry{pageBits: 12, segmentBits: 16, frames: 16, mutable: 12, capture: true}
	tl := mustOpenTestLog(t, dir, g)
	addr := tl.append(testKey(1), []byte("value-00"), 0)
	require.NoError(t, tl.l.WaitDurable(0))

	// One update in a window: one captured image.
	before := tl.l.DeltaStats().CapturedBytes
	tl.updateInPlace([]uint64{addr}, []byte("value-01"))
	require.NoError(t, tl.l.WaitDurable(0))
	one := tl.l.DeltaStats().CapturedBytes - before
	require.Positive(t, one, "the first update in a window is captured")

	// Many updates in the next window: still one captured image, and the
	// last value reaches the delta log through the dirty list.
	before = tl.l.DeltaStats().CapturedBytes
	for i := 2; i <= 9; i++ {
		tl.updateInPlace([]uint64{addr}, fmt.Appendf(nil, "value-%02d", i))
	}
	require.NoError(t, tl.l.WaitDurable(0))
	require.Equal(t, one, tl.l.DeltaStats().CapturedBytes-before, "one capture per window")

	// Unsynced updates after it are not promised; the synced one is.
	tl.updateInPlace([]uint64{addr}, []byte("value-99"))
	tl.crash()
	tl = mustOpenTestLog(t, dir, g)
	defer tl.close()
	got := tl.recoveredValue(testKey(1))
	require.Equal(t, "value-09", string(got), "the last synced update survives the crash")
}
