package hlog

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
	"github.com/stretchr/testify/require"
)

// TestPacedWriterWaitsForTheLateSync: a paced writer whose wait outlasts an
// interval while a sync is running (late, and slow) returns when that sync
// completes. It must not queue a sync of its own
// behind it (a group commit would), which would hold it for a second long
// sync: the capture count after it returned is the running sync's.
func TestPacedWriterWaitsForTheLateSync(t *testing.T) {
	var block atomic.Bool
	blocked := make(chan struct{}, 1)
	release := make(chan struct{})
	inj := errorfs.InjectorFunc(func(c errorfs.Call) bool {
		if c.Op == errorfs.OpSync && strings.Contains(c.Path, deltaPrefix) && block.Load() {
			blocked <- struct{}{}
			<-release
		}
		return false
	})
	mem := vfs.NewMem()
	require.NoError(t, mem.MkdirAll("db", 0o755))
	tl, err := openTestLogFS(t, errorfs.Wrap(mem, inj), "db", geometry{pageBits: 12, segmentBits: 16, frames: 32, mutable: 28})
	require.NoError(t, err)
	defer tl.crash()
	const interval = 5 * time.Millisecond
	l := tl.l
	l.SetSyncDeadline(interval)
	defer l.SetSyncDeadline(0)

	tl.append(testKey(1), testValue(1), 0)
	require.NoError(t, l.SyncTo(0)) // arms the deadline
	require.Eventually(t, l.Behind, 5*time.Second, time.Millisecond, "no sync came: the log is late")

	// A sync begins and stalls in its fsync; then the writer waits. (Had
	// the writer started waiting first, on a loaded machine its interval
	// could run out before the sync captured, and it would rightly run a
	// sync of its own.)
	tl.append(testKey(2), testValue(2), 0)
	block.Store(true)
	synced := make(chan error, 1)
	go func() { synced <- l.SyncTo(0) }()
	<-blocked
	block.Store(false)
	running := l.captureSeq.Load()
	require.True(t, l.Behind(), "the running sync has not completed: the log is still late")
	waited := make(chan error, 1)
	go func() { waited <- l.WaitCaughtUp() }()
	time.Sleep(10 * interval) // the writer's interval runs out meanwhile
	select {
	case err := <-waited:
		t.Fatalf("the paced writer returned (%v) before the late sync completed", err)
	default:
	}
	close(release)
	require.NoError(t, <-synced)
	require.NoError(t, <-waited)
	require.Equal(t, running, l.captureSeq.Load(), "the writer ran a sync of its own after the late one")
	// (Behind may be set again at once: the late sync's own deadline,
	// counted from its capture, has passed.)
	require.Equal(t, uint64(1), l.PacedWrites())
}
