package supervisor

import (
	"context"
	stderrors "errors"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/stretchr/testify/require"
	"github.com/thejerf/suture/v4"
)

// Suture tests for ErrDoNotRestart with the standard library's errors.Is.
// If the give-up error hid the sentinel from it (as a cockroachdb
// errors.Mark would), suture would restart a given-up service forever.
func TestGiveUpErrorKeepsSutureSentinelVisibleToStdlib(t *testing.T) {
	err := giveUpError("syncer", 21, time.Minute, "syncer: fsync: EIO\nmore")
	require.True(t, stderrors.Is(err, suture.ErrDoNotRestart))
	require.False(t, stderrors.Is(err, suture.ErrTerminateSupervisorTree))
	require.Equal(t,
		"supervisor: syncer given up after 21 failures within 1m0s (last: syncer: fsync: EIO more): service should not be restarted",
		err.Error())
}

// asksToStop returns err from its first Serve and counts its Serves.
type asksToStop struct {
	err    error
	serves chan struct{}
}

func (a asksToStop) Serve(context.Context) error {
	a.serves <- struct{}{}
	return a.err
}

func (asksToStop) String() string { return "quitter" }

// A service that returns suture's own stop sentinels is not restarted, and
// the status says so instead of showing it stopped in a running tree.
func TestServiceAskingNotToBeRestartedIsReportedGivenUp(t *testing.T) {
	for _, sentinel := range []error{suture.ErrDoNotRestart, suture.ErrTerminateSupervisorTree} {
		svc := asksToStop{err: errors.Wrap(sentinel, "done"), serves: make(chan struct{}, 10)}
		tree, err := New(Config{Children: []Child{{Service: svc, Policy: Policy{MaxRestarts: -1}}}})
		require.NoError(t, err)
		require.NoError(t, tree.Start())
		require.Eventually(t, func() bool { return tree.Status().Services[0].GivenUp }, 5*time.Second, time.Millisecond)
		s := tree.Status().Services[0]
		require.False(t, s.Running)
		require.Zero(t, s.Restarts)
		require.True(t, tree.Running(), "the tree itself runs on")
		require.NoError(t, tree.Stop())
		require.Len(t, svc.serves, 1, "served once, never restarted")
	}
}
