package supervisor_test

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/actors"
	"github.com/rskv-go/rskv/actors/actorstest"
	"github.com/rskv-go/rskv/supervisor"
	"github.com/stretchr/testify/require"
)

// anonymous is a service with no String method.
type anonymous struct{}

func (anonymous) Serve(ctx context.Context) error { <-ctx.Done(); return nil }

func TestNewRejectsBadConfig(t *testing.T) {
	tgt := actorstest.NewTarget()
	bad := supervisor.Policy{FailureThreshold: -1, FailureDecay: -time.Second, Timeout: -time.Second}
	_, err := supervisor.New(supervisor.Config{Children: []supervisor.Child{
		{Service: actors.NewSyncer(tgt, time.Second, nil)},
		{Service: actors.NewSyncer(tgt, time.Second, nil)},
		{Service: anonymous{}},
		{Name: "ghost"},
		{Service: actors.NewCheckpointer(tgt, time.Second, nil), Policy: bad},
	}})
	require.ErrorIs(t, err, supervisor.ErrInvalidConfig)
	for _, want := range []string{
		`child 1: name "syncer" is used twice`,
		"child 2 has no Name",
		`child 3 ("ghost") has no Service`,
		"checkpointer: FailureThreshold -1 is not positive",
		"checkpointer: FailureDecay -1s is negative",
		"checkpointer: Timeout -1s is negative",
	} {
		require.ErrorContains(t, err, want)
	}
}

func TestNewDefaults(t *testing.T) {
	tree, err := supervisor.New(supervisor.Config{Children: []supervisor.Child{
		{Service: anonymous{}, Name: "custom"},
	}})
	require.NoError(t, err)
	require.Equal(t, "rskv", tree.Name())
	require.Equal(t, "rskv (stopped, 0 of 1 services active)\n└─ custom (stopped)", tree.String())

	empty, err := supervisor.New(supervisor.Config{Name: "empty"})
	require.NoError(t, err)
	require.NoError(t, empty.Start())
	require.Zero(t, empty.Status().Active)
	require.NoError(t, empty.Stop())
}

func TestRolePoliciesAreValidAndFitTheirJobs(t *testing.T) {
	policies := map[string]supervisor.Policy{
		"default":      supervisor.DefaultPolicy(),
		"checkpointer": supervisor.CheckpointerPolicy(),
		"collector":    supervisor.CollectorPolicy(),
		"log-shifter":  supervisor.LogShifterPolicy(),
		"syncer":       supervisor.SyncerPolicy(),
	}
	var children []supervisor.Child
	for name, p := range policies {
		require.Positive(t, p.MaxRestarts, name)
		children = append(children, supervisor.Child{Service: anonymous{}, Name: name, Policy: p})
	}
	_, err := supervisor.New(supervisor.Config{Children: children})
	require.NoError(t, err)

	// The reasoning in the policies' docs, pinned: heavy work backs off
	// longer than the work writers wait on, and is given up sooner.
	ck, co := supervisor.CheckpointerPolicy(), supervisor.CollectorPolicy()
	ls, sy := supervisor.LogShifterPolicy(), supervisor.SyncerPolicy()
	for _, heavy := range []supervisor.Policy{ck, co} {
		for _, quick := range []supervisor.Policy{ls, sy} {
			require.Greater(t, heavy.FailureBackoff, quick.FailureBackoff)
			require.Less(t, heavy.FailureThreshold, quick.FailureThreshold)
			require.Less(t, heavy.MaxRestarts, quick.MaxRestarts)
			require.Greater(t, heavy.Timeout, quick.Timeout, "a checkpoint or compaction is let finish")
		}
	}
}

func TestStatusString(t *testing.T) {
	st := supervisor.Status{Name: "store-x", Running: true, Active: 2, Services: []supervisor.ServiceStatus{
		{Name: "checkpointer", Running: true, Restarts: 1, Failures: 1, LastError: "checkpointer: disk\nfull"},
		{Name: "collector", Running: true},
		{Name: "log-shifter", BackingOff: true, Restarts: 9, Failures: 11, LastError: "panic: x"},
		{Name: "syncer", GivenUp: true, Failures: 21, Restarts: 20, LastError: "syncer: EIO"},
	}}
	require.Equal(t, `store-x (running, 2 of 4 services active)
├─ checkpointer (running, restarts 1, failures 1, last error: checkpointer: disk full)
├─ collector (running)
├─ log-shifter (backing off, restarts 9, failures 11, last error: panic: x)
└─ syncer (given up, restarts 20, failures 21, last error: syncer: EIO)`, st.String())
}

// Without a Logger the tree is silent: nothing reaches slog's default
// logger, nor the standard logger that suture's default hook would use.
func TestQuietByDefault(t *testing.T) {
	var std, def bytes.Buffer
	oldStd, oldDefault := log.Writer(), slog.Default()
	log.SetOutput(&std)
	slog.SetDefault(slog.New(slog.NewTextHandler(&def, nil)))
	defer func() {
		slog.SetDefault(oldDefault)
		log.SetOutput(oldStd)
	}()

	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewLogShifter(tgt, time.Hour, clk)
	tree, err := supervisor.New(supervisor.Config{Children: []supervisor.Child{{Service: a}}})
	require.NoError(t, err)
	require.NoError(t, tree.Start())
	a.FailNext(errors.New("boom"))
	tgt.Signal()
	require.Eventually(t, func() bool { return tree.Status().Services[0].Restarts == 1 }, wait, poll)
	a.PanicNext("kaboom")
	tgt.Signal()
	require.Eventually(t, func() bool { return tree.Status().Services[0].Restarts == 2 }, wait, poll)
	require.NoError(t, tree.Stop())

	require.Empty(t, std.String())
	require.Empty(t, def.String())
}
