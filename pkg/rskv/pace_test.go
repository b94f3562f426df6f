package rskv

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
	"github.com/stretchr/testify/require"
)

// blockingDeltaSyncs returns a file system whose delta-file fsyncs block,
// while *on is set, until release is closed.
func blockingDeltaSyncs(on *atomic.Bool, release <-chan struct{}) vfs.FS {
	return errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(c errorfs.Call) bool {
		if c.Op == errorfs.OpSync && on.Load() && strings.Contains(c.Path, "delta-") {
			<-release
		}
		return false
	}))
}

// A SyncPeriodic write made while the syncs are late (here: a delta fsync
// that does not return) waits until a sync completes, and the stall shows in
// SyncLagMax. Without pacing the write returns at once and the lag grows
// unseen.
func TestPacingWaitsForLateSyncs(t *testing.T) {
	var on atomic.Bool
	release := make(chan struct{})
	const interval = 20 * time.Millisecond
	o := &Options{FS: blockingDeltaSyncs(&on, release), MemorySize: 8 << 20, SyncInterval: interval}
	o.SetSyncMode(SyncPeriodic)
	s, err := Open("db", o)
	require.NoError(t, err)
	released := false
	unblock := func() {
		if !released {
			released = true
			on.Store(false)
			close(release)
		}
	}
	defer func() {
		unblock() // on failure too: Close waits for the stalled sync
		require.NoError(t, s.Close())
	}()

	require.NoError(t, s.Put([]byte("k"), []byte("v0")))
	// A sync completes and arms the pacer's deadline.
	require.Eventually(t, func() bool { return s.log.Durable() >= s.log.Tail() }, 5*time.Second, time.Millisecond)
	require.Zero(t, s.Stats().PacedWrites)

	on.Store(true)
	require.NoError(t, s.Put([]byte("k"), []byte("v1"))) // gives the next sync something to write
	require.Eventually(t, s.log.Behind, 5*time.Second, time.Millisecond, "the stalled sync never made the log late")

	done := make(chan error, 1)
	go func() { done <- s.Put([]byte("k"), []byte("v2")) }()
	select {
	case err := <-done:
		t.Fatalf("a write returned (%v) while the syncs were stalled", err)
	case <-time.After(10 * interval):
	}
	stalled := time.Now()
	unblock()
	require.NoError(t, <-done)
	st := s.Stats()
	require.GreaterOrEqual(t, st.PacedWrites, uint64(1))
	require.GreaterOrEqual(t, st.SyncLagMax, 10*interval, "the stall is not in SyncLagMax")
	require.Less(t, time.Since(stalled), 5*time.Second)
	v, err := s.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v2", string(v))
}

// Without a syncer (background services stopped) nothing paces the writers,
// however long ago the last sync was.
func TestPacingOffWithoutSyncer(t *testing.T) {
	const interval = 10 * time.Millisecond
	o := &Options{FS: vfs.NewMem(), MemorySize: 8 << 20, SyncInterval: interval}
	o.SetSyncMode(SyncPeriodic)
	s, err := Open("db", o)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, s.Put([]byte("k"), []byte("v0")))
	require.Eventually(t, func() bool { return s.log.Durable() >= s.log.Tail() }, 5*time.Second, time.Millisecond)
	require.NoError(t, s.StopBackground())
	time.Sleep(5 * interval) // past every deadline an earlier sync armed
	require.False(t, s.log.Behind())
	for i := 0; i < 100; i++ {
		require.NoError(t, s.Put([]byte("k"), []byte("v")))
	}
	require.Zero(t, s.Stats().PacedWrites)
	require.NoError(t, s.StartBackground())
}
