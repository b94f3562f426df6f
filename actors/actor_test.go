package actors_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/actors"
	"github.com/rskv-go/rskv/actors/actorstest"
	"github.com/stretchr/testify/require"
)

const (
	interval = time.Second
	// wait bounds how long a test waits for a goroutine to catch up. It is a
	// guard against hanging, never a measurement.
	wait = 5 * time.Second
	poll = time.Millisecond
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// panicked carries a panic out of a Serve goroutine.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("panic: %v", p.v) }

// serving is one Serve call running in its own goroutine.
type serving struct {
	cancel context.CancelFunc
	done   chan error // Serve's result, or panicked
}

// serve runs a.Serve in a goroutine and waits until its ticker exists, so
// that the test's next Advance reaches it.
func serve(t *testing.T, a *actors.Actor, clk *actorstest.Clock) *serving {
	t.Helper()
	before := clk.Tickers()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{cancel: cancel, done: make(chan error, 1)}
	go func() {
		defer func() {
			if r := recover(); r != nil {
				s.done <- panicked{r}
			}
		}()
		s.done <- a.Serve(ctx)
	}()
	t.Cleanup(cancel)
	require.NoError(t, clk.WaitForTickers(before+1, wait))
	return s
}

// stop cancels Serve and returns its result.
func (s *serving) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	return s.result(t)
}

// result waits for Serve to return by itself.
func (s *serving) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(wait):
		t.Fatal("Serve did not return")
		return nil
	}
}

func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, wait, poll, msg)
}

func TestCheckpointerTakesACheckpointEveryTick(t *testing.T) {
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewCheckpointer(tgt, interval, clk)
	s := serve(t, a, clk)

	require.Zero(t, tgt.Checkpoints.Load(), "no checkpoint before the first tick")
	clk.Advance(interval)
	eventually(t, func() bool { return tgt.Checkpoints.Load() == 1 }, "first tick")
	clk.Advance(interval)
	eventually(t, func() bool { return tgt.Checkpoints.Load() == 2 }, "second tick")

	require.NoError(t, s.stop(t))
	require.Equal(t, actors.Counters{Steps: 2, Runs: 2}, a.Counters())
}

func TestCheckpointerSkipsWhileManualOperationInProgress(t *testing.T) {
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewCheckpointer(tgt, interval, clk)
	s := serve(t, a, clk)

	tgt.Busy.Store(true)
	clk.Advance(interval)
	eventually(t, func() bool { return a.Counters().Skips == 1 }, "skip counted")
	require.Zero(t, tgt.Checkpoints.Load())

	tgt.Busy.Store(false)
	clk.Advance(interval)
	eventually(t, func() bool { return tgt.Checkpoints.Load() == 1 }, "checkpoint once free")

	require.NoError(t, s.stop(t))
	require.Equal(t, actors.Counters{Steps: 2, Runs: 1, Skips: 1}, a.Counters())
}

func TestCollectorCompactsOnlyWhenDue(t *testing.T) {
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewCollector(tgt, interval, clk)
	s := serve(t, a, clk)

	clk.Advance(interval)
	eventually(t, func() bool { return tgt.DueChecks.Load() == 1 }, "due check")
	require.Zero(t, tgt.Compactions.Load(), "not due: no compaction")

	tgt.Due.Store(true)
	clk.Advance(interval)
	eventually(t, func() bool { return tgt.Compactions.Load() == 1 }, "compaction once due")

	tgt.Busy.Store(true)
	clk.Advance(interval)
	eventually(t, func() bool { return tgt.Skipped.Load() == 1 }, "skip while busy")

	require.NoError(t, s.stop(t))
	require.Equal(t, int64(3), tgt.DueChecks.Load())
	require.Equal(t, int64(1), tgt.Compactions.Load())
	require.Equal(t, actors.Counters{Steps: 3, Runs: 1, Skips: 1}, a.Counters())
}

func TestLogShifterReactsToPressureWithoutTheClock(t *testing.T) {
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewLogShifter(tgt, time.Hour, clk)
	s := serve(t, a, clk)

	tgt.Signal()
	eventually(t, func() bool { return tgt.Passes.Load() == 1 }, "pass on pressure")
	tgt.Signal()
	eventually(t, func() bool { return tgt.Passes.Load() == 2 }, "pass on second pressure")

	// The fallback timer still works.
	clk.Advance(time.Hour)
	eventually(t, func() bool { return tgt.Passes.Load() == 3 }, "pass on fallback tick")

	require.NoError(t, s.stop(t))
	require.Equal(t, actors.Counters{Steps: 3, Runs: 3}, a.Counters())
}

func TestLogShifterMakesOneMorePassForPressureDuringAPass(t *testing.T) {
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewLogShifter(tgt, time.Hour, clk)
	s := serve(t, a, clk)

	entered, release := tgt.Hold()
	tgt.Signal()
	<-entered
	// Writers keep crossing pages while the pass runs: the signals coalesce
	// into one pending wake-up.
	for range 5 {
		tgt.Signal()
	}
	release()
	eventually(t, func() bool { return tgt.Passes.Load() == 2 }, "one more pass")

	require.NoError(t, s.stop(t))
	require.Equal(t, int64(2), a.Counters().Steps, "coalesced signals make one step")
}

func TestSyncerSyncsEveryInterval(t *testing.T) {
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewSyncer(tgt, 100*time.Millisecond, clk)
	s := serve(t, a, clk)

	clk.Advance(100 * time.Millisecond)
	eventually(t, func() bool { return tgt.Syncs.Load() == 1 }, "first sync")
	clk.Advance(50 * time.Millisecond)
	clk.Advance(50 * time.Millisecond)
	eventually(t, func() bool { return tgt.Syncs.Load() == 2 }, "second sync")

	require.NoError(t, s.stop(t))
	require.Equal(t, actors.Counters{Steps: 2, Runs: 2}, a.Counters())
}

func TestTriggerRunsAStepWithoutTheClock(t *testing.T) {
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewCheckpointer(tgt, time.Hour, clk)
	a.Trigger() // kept until Serve starts
	s := serve(t, a, clk)
	eventually(t, func() bool { return tgt.Checkpoints.Load() == 1 }, "pending trigger")
	a.Trigger()
	eventually(t, func() bool { return tgt.Checkpoints.Load() == 2 }, "trigger while serving")
	require.NoError(t, s.stop(t))
}

func TestStopWaitsForTheCurrentStep(t *testing.T) {
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewCheckpointer(tgt, interval, clk)
	s := serve(t, a, clk)

	entered, release := tgt.Hold()
	clk.Advance(interval)
	<-entered
	s.cancel()
	select {
	case err := <-s.done:
		t.Fatalf("Serve returned (%v) while its checkpoint was still being written", err)
	default:
	}
	release()
	require.NoError(t, s.result(t))
	require.Equal(t, int64(1), tgt.Checkpoints.Load(), "the checkpoint was completed")
	require.Equal(t, actors.Counters{Steps: 1, Runs: 1}, a.Counters())
}

func TestNoStepBeginsAfterCancel(t *testing.T) {
	// Both the cancelled context and a pending trigger are ready when Serve
	// first selects; whichever it picks, no step may run. Repeat to let the
	// random choice go both ways.
	for range 50 {
		tgt := actorstest.NewTarget()
		a := actors.NewCheckpointer(tgt, time.Hour, actorstest.NewClock(epoch))
		a.Trigger()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.NoError(t, a.Serve(ctx))
		require.Zero(t, a.Counters().Steps)
		require.Zero(t, tgt.Checkpoints.Load())
	}
}

// abortingTarget aborts its checkpoint when ctx is cancelled.
type abortingTarget struct{ entered chan struct{} }

func (a abortingTarget) TryCheckpoint(ctx context.Context) (bool, error) {
	a.entered <- struct{}{}
	<-ctx.Done()
	return false, errors.Wrap(ctx.Err(), "checkpoint aborted")
}

func TestStepAbortedByStopIsNotAFailure(t *testing.T) {
	clk := actorstest.NewClock(epoch)
	tgt := abortingTarget{entered: make(chan struct{}, 1)}
	a := actors.NewCheckpointer(tgt, interval, clk)
	s := serve(t, a, clk)

	clk.Advance(interval)
	<-tgt.entered
	require.NoError(t, s.stop(t))
	require.Equal(t, actors.Counters{Steps: 1}, a.Counters())
}

func TestTargetErrorEndsServe(t *testing.T) {
	boom := errors.New("disk full")
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	tgt.SetErr(boom)
	a := actors.NewSyncer(tgt, interval, clk)
	s := serve(t, a, clk)

	clk.Advance(interval)
	err := s.result(t)
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "syncer: disk full")
	require.Equal(t, actors.Counters{Steps: 1, Failures: 1}, a.Counters())
	require.Zero(t, clk.Tickers(), "the ticker was stopped")
}

func TestFailNextFailsOnlyTheNextStep(t *testing.T) {
	boom := errors.New("boom")
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewCheckpointer(tgt, interval, clk)
	a.FailNext(boom)
	s := serve(t, a, clk)

	clk.Advance(interval)
	err := s.result(t)
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "checkpointer: injected fault: boom")
	require.Zero(t, tgt.Checkpoints.Load(), "the fault replaces the step")

	// As after a restart: the fault is used up.
	s = serve(t, a, clk)
	clk.Advance(interval)
	eventually(t, func() bool { return tgt.Checkpoints.Load() == 1 }, "step after the fault")
	require.NoError(t, s.stop(t))
	require.Equal(t, actors.Counters{Steps: 2, Runs: 1, Failures: 1}, a.Counters())
}

func TestFailNextQueuesAndDefaultsToErrInjected(t *testing.T) {
	clk := actorstest.NewClock(epoch)
	a := actors.NewSyncer(actorstest.NewTarget(), interval, clk)
	a.FailNext(nil)
	a.PanicNext("second")
	s := serve(t, a, clk)
	clk.Advance(interval)
	require.ErrorIs(t, s.result(t), actors.ErrInjected)

	s = serve(t, a, clk)
	clk.Advance(interval)
	require.Equal(t, panicked{"second"}, s.result(t))
}

func TestPanicNextPanicsThroughServe(t *testing.T) {
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewCollector(tgt, interval, clk)
	a.PanicNext("kaboom")
	s := serve(t, a, clk)

	clk.Advance(interval)
	require.Equal(t, panicked{"kaboom"}, s.result(t))
	require.Zero(t, tgt.DueChecks.Load(), "the fault replaces the step")
	require.Equal(t, actors.Counters{Steps: 1, Failures: 1}, a.Counters())
	require.Zero(t, clk.Tickers(), "the ticker was stopped")
}

func TestFailAlwaysUntilCleared(t *testing.T) {
	clk, tgt := actorstest.NewClock(epoch), actorstest.NewTarget()
	a := actors.NewLogShifter(tgt, interval, clk)
	a.FailAlways(nil)
	for range 3 {
		s := serve(t, a, clk)
		tgt.Signal()
		require.ErrorIs(t, s.result(t), actors.ErrInjected)
	}
	a.ClearFaults()
	s := serve(t, a, clk)
	tgt.Signal()
	eventually(t, func() bool { return tgt.Passes.Load() == 1 }, "pass after ClearFaults")
	require.NoError(t, s.stop(t))
	require.Equal(t, actors.Counters{Steps: 4, Runs: 1, Failures: 3}, a.Counters())
}

func TestConcurrentServeIsRejected(t *testing.T) {
	clk := actorstest.NewClock(epoch)
	a := actors.NewSyncer(actorstest.NewTarget(), interval, clk)
	s := serve(t, a, clk)
	err := a.Serve(context.Background())
	require.ErrorContains(t, err, "already serving")
	require.NoError(t, s.stop(t))
}

func TestIdentity(t *testing.T) {
	tgt := actorstest.NewTarget()
	for _, tc := range []struct {
		a    *actors.Actor
		role actors.Role
		name string
	}{
		{actors.NewCheckpointer(tgt, interval, nil), actors.Checkpointer, "checkpointer"},
		{actors.NewCollector(tgt, interval, nil), actors.Collector, "collector"},
		{actors.NewLogShifter(tgt, interval, nil), actors.LogShifter, "log-shifter"},
		{actors.NewSyncer(tgt, interval, nil), actors.Syncer, "syncer"},
	} {
		require.Equal(t, tc.role, tc.a.Role())
		require.Equal(t, tc.name, tc.a.String())
		require.Equal(t, interval, tc.a.Interval())
	}
}

func TestConstructorsRejectProgrammingErrors(t *testing.T) {
	require.Panics(t, func() { actors.NewCheckpointer(nil, interval, nil) })
	require.Panics(t, func() { actors.NewSyncer(actorstest.NewTarget(), 0, nil) })
	require.Panics(t, func() { actors.NewCollector(actorstest.NewTarget(), -time.Second, nil) })
}
