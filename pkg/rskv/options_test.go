package rskv_test

import (
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/actors/actorstest"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// TestRestartPoliciesUnknownService: a policy for a service that does not
// exist (a typo) is refused, naming the known services.
func TestRestartPoliciesUnknownService(t *testing.T) {
	_, err := rskv.Open("db", &rskv.Options{FS: vfs.NewMem(), MemorySize: 1 << 20,
		RestartPolicies: map[string]rskv.RestartPolicy{"compactor": {MaxRestarts: 1}}})
	require.True(t, errors.Is(err, rskv.ErrInvalidOptions), "%v", err)
	require.Contains(t, err.Error(), `"compactor"`)
	require.Contains(t, err.Error(), "checkpointer, collector, log-shifter, syncer, expirer")
	// Known names are accepted.
	s, err := rskv.Open("db", &rskv.Options{FS: vfs.NewMem(), MemorySize: 1 << 20,
		RestartPolicies: map[string]rskv.RestartPolicy{"collector": {MaxRestarts: 1}}})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// TestServiceFaultsBinding: a ServiceFaults serves one open store at a time,
// refuses use before Open and after Close, and names the store's services
// when asked for another.
func TestServiceFaultsBinding(t *testing.T) {
	f := &rskv.ServiceFaults{}
	require.ErrorIs(t, f.Trigger("checkpointer"), rskv.ErrClosed)
	mem := vfs.NewMem()
	o := &rskv.Options{FS: mem, MemorySize: 1 << 20, ServiceFaults: f}
	s, err := rskv.Open("a", o)
	require.NoError(t, err)
	_, err = rskv.Open("b", o)
	require.ErrorIs(t, err, rskv.ErrInvalidOptions)
	err = f.Clear("nope")
	require.ErrorIs(t, err, rskv.ErrUnknownService)
	require.Contains(t, err.Error(), "checkpointer, collector, expirer, log-shifter, syncer")
	require.NoError(t, f.Trigger("log-shifter"))
	require.NoError(t, s.Close())
	require.ErrorIs(t, f.Trigger("log-shifter"), rskv.ErrClosed)
	// Free again after Close.
	s, err = rskv.Open("b", o)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// TestCompactionNotDueOnIdleStore: with nothing behind the read-only region
// the collector finds nothing to do.
func TestCompactionNotDueOnIdleStore(t *testing.T) {
	s, err := rskv.Open("db", lifeOptions(vfs.NewMem()))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, s.Put([]byte("k"), []byte("v")))
	_, err = s.Compact()
	require.NoError(t, err)
	require.False(t, s.CompactionDueForTest())
}

// TestInjectedClockDrivesServices: the services' timers run on the clock
// the in-package hook installs, so a test steps time instead of waiting.
func TestInjectedClockDrivesServices(t *testing.T) {
	clk := actorstest.NewClock(time.Unix(0, 0))
	o := &rskv.Options{FS: vfs.NewMem(), MemorySize: 1 << 20, CheckpointInterval: time.Hour}
	s, err := rskv.Open("db", rskv.SetClock(o, clk))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, clk.WaitForTickers(1, 10*time.Second))
	require.NoError(t, s.Put([]byte("k"), []byte("v")))
	require.Zero(t, s.Stats().Checkpoints)
	deadline := time.Now().Add(20 * time.Second)
	for s.Stats().Checkpoints == 0 && time.Now().Before(deadline) {
		clk.Advance(time.Hour) // an hour passes at once
		time.Sleep(time.Millisecond)
	}
	require.Positive(t, s.Stats().Checkpoints, "the checkpointer ran on the fake clock")
}
