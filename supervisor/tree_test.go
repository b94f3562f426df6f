package supervisor_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/actors"
	"github.com/rskv-go/rskv/supervisor"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var allRoles = []actors.Role{actors.Checkpointer, actors.Collector, actors.LogShifter, actors.Syncer}

func TestStartStop(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFixture(t, nil)

	before := f.tree.Status()
	require.False(t, before.Running)
	require.Zero(t, before.Active)
	require.Equal(t, "store-x", before.Name)
	require.Len(t, before.Services, 4)
	for i, r := range allRoles {
		require.Equal(t, string(r), before.Services[i].Name, "services listed in config order")
		require.False(t, before.Services[i].Running)
	}

	require.NoError(t, f.tree.Start())
	after := f.tree.Status()
	require.True(t, after.Running)
	require.True(t, f.tree.Running())
	require.Equal(t, 4, after.Active, "Start returns once every service runs")
	for _, s := range after.Services {
		require.True(t, s.Running, s.Name)
		require.Zero(t, s.Restarts, s.Name)
	}

	require.NoError(t, f.tree.Stop())
	stopped := f.tree.Status()
	require.False(t, stopped.Running)
	require.False(t, f.tree.Running())
	require.Zero(t, stopped.Active, "Stop returns once every service has returned")
	require.Zero(t, f.clk.Tickers(), "every service's ticker was stopped")
	// goleak.VerifyNone, deferred above, checks that no goroutine remains.
}

func TestStartTwiceIsAnError(t *testing.T) {
	f := newFixture(t, nil)
	require.NoError(t, f.tree.Start())
	err := f.tree.Start()
	require.ErrorIs(t, err, supervisor.ErrAlreadyRunning)
	require.ErrorContains(t, err, "store-x")
	require.True(t, f.tree.Running(), "the failed Start left the tree running")
	require.Equal(t, 4, f.tree.Status().Active, "and did not start services twice")
}

func TestStopIsIdempotent(t *testing.T) {
	f := newFixture(t, nil)
	require.NoError(t, f.tree.Stop(), "Stop before Start")
	require.NoError(t, f.tree.Start())
	require.NoError(t, f.tree.Stop())
	require.NoError(t, f.tree.Stop())
	require.False(t, f.tree.Running())
}

func TestStartAfterStopRunsServicesAndKeepsStatus(t *testing.T) {
	f := newFixture(t, nil)
	f.start()
	f.actor(actors.Syncer).FailNext(errors.New("flaky"))
	f.clk.Advance(syncEvery)
	f.eventually(func() bool { return f.service(actors.Syncer).Restarts == 1 }, "restart in the first run")
	require.NoError(t, f.tree.Stop())

	f.start()
	s := f.service(actors.Syncer)
	require.True(t, s.Running)
	require.Equal(t, 1, s.Restarts, "restart count carried over")
	require.Contains(t, s.LastError, "flaky", "last error carried over")

	ck := f.target(actors.Checkpointer)
	f.clk.Advance(checkpointEvery)
	f.eventually(func() bool { return ck.Checkpoints.Load() == 1 }, "checkpoint in the second run")
}

func TestServicesRunTheirTargets(t *testing.T) {
	f := newFixture(t, nil)
	f.target(actors.Collector).Due.Store(true)
	f.start()

	f.clk.Advance(gcEvery) // every ticker's period divides it: all fire
	for r, done := range map[actors.Role]func() bool{
		actors.Checkpointer: func() bool { return f.target(actors.Checkpointer).Checkpoints.Load() == 1 },
		actors.Collector:    func() bool { return f.target(actors.Collector).Compactions.Load() == 1 },
		actors.LogShifter:   func() bool { return f.target(actors.LogShifter).Passes.Load() == 1 },
		actors.Syncer:       func() bool { return f.target(actors.Syncer).Syncs.Load() == 1 },
	} {
		f.eventually(done, string(r))
	}

	// The log shifter also reacts to pressure, with no clock advance.
	f.target(actors.LogShifter).Signal()
	f.eventually(func() bool { return f.target(actors.LogShifter).Passes.Load() == 2 }, "pass on pressure")
}

func TestCheckpointerSkipCountedWhileManualOperationRuns(t *testing.T) {
	f := newFixture(t, nil)
	ck := f.target(actors.Checkpointer)
	ck.Busy.Store(true)
	f.start()
	f.clk.Advance(checkpointEvery)
	f.eventually(func() bool { return f.actor(actors.Checkpointer).Counters().Skips == 1 }, "skip")
	require.Zero(t, ck.Checkpoints.Load())
	require.Zero(t, f.service(actors.Checkpointer).Failures, "a skip is not a failure")
}

// checkSurvived checks that the failed role was restarted once with msg as
// its last error, runs its target again, and that the other roles were not
// touched.
func checkSurvived(t *testing.T, f *fixture, failed actors.Role, msg string) {
	t.Helper()
	f.eventually(func() bool { return f.service(failed).Restarts == 1 }, "restart counted")
	s := f.service(failed)
	require.True(t, s.Running)
	require.Equal(t, 1, s.Failures)
	require.Contains(t, s.LastError, msg)
	require.False(t, s.GivenUp)
	for _, r := range allRoles {
		if r != failed {
			o := f.service(r)
			require.True(t, o.Running, r)
			require.Zero(t, o.Restarts, r)
			require.Empty(t, o.LastError, r)
		}
	}
	require.Equal(t, 4, f.tree.Status().Active)

	// The restarted service works again.
	f.waitTickers()
	runs := f.actor(failed).Counters().Runs
	f.clk.Advance(gcEvery)
	f.eventually(func() bool { return f.actor(failed).Counters().Runs > runs }, "runs after restart")
}

func TestInjectedErrorIsSurvived(t *testing.T) {
	f := newFixture(t, nil)
	f.start()
	f.actor(actors.Checkpointer).FailNext(errors.New("disk hiccup"))
	f.clk.Advance(checkpointEvery)
	checkSurvived(t, f, actors.Checkpointer, "checkpointer: injected fault: disk hiccup")
	f.eventually(func() bool { return strings.Contains(f.logs.String(), "service failed") }, "failure logged")
}

func TestInjectedPanicIsSurvived(t *testing.T) {
	f := newFixture(t, nil)
	f.start()
	f.actor(actors.LogShifter).PanicNext("kaboom")
	f.target(actors.LogShifter).Signal()
	checkSurvived(t, f, actors.LogShifter, "panic: kaboom")
	f.eventually(func() bool { return strings.Contains(f.logs.String(), "service panicked") }, "panic logged")
	require.Contains(t, f.logs.String(), "kaboom")
}

func TestTargetErrorIsSurvived(t *testing.T) {
	f := newFixture(t, nil)
	f.target(actors.Collector).Due.Store(true)
	f.target(actors.Collector).SetErr(errors.New("segment unreadable"))
	f.start()
	f.clk.Advance(gcEvery)
	f.eventually(func() bool { return f.service(actors.Collector).Restarts == 1 }, "restart")
	f.target(actors.Collector).SetErr(nil)
	checkSurvived(t, f, actors.Collector, "collector: segment unreadable")
}

func TestBackoffAfterThreshold(t *testing.T) {
	p := testPolicy()
	p.FailureThreshold = 1       // back off at the second failure within the decay
	p.FailureBackoff = time.Hour // and stay backed off for the test
	f := newFixture(t, map[actors.Role]supervisor.Policy{actors.Syncer: p})
	f.start()
	sy := f.actor(actors.Syncer)

	sy.FailNext(errors.New("first"))
	f.clk.Advance(syncEvery)
	f.eventually(func() bool { return f.service(actors.Syncer).Restarts == 1 }, "first failure restarted at once")
	require.False(t, f.service(actors.Syncer).BackingOff)

	f.waitTickers()
	sy.FailNext(errors.New("second"))
	f.clk.Advance(syncEvery)
	f.eventually(func() bool { return f.service(actors.Syncer).BackingOff }, "second failure backs off")
	s := f.service(actors.Syncer)
	require.False(t, s.Running, "not restarted during the backoff")
	require.Equal(t, 1, s.Restarts)
	require.Equal(t, 2, s.Failures)
	require.Contains(t, s.LastError, "second")
	require.Contains(t, f.tree.String(), "syncer (backing off")
	require.Equal(t, 3, f.tree.Status().Active, "the others run on")
	f.eventually(func() bool { return strings.Contains(f.logs.String(), "service backing off") }, "backoff logged")

	// Stop does not wait for the backoff.
	require.NoError(t, f.tree.Stop())
	require.False(t, f.service(actors.Syncer).BackingOff)
}

func TestBackoffEndsAndServiceResumes(t *testing.T) {
	p := testPolicy()
	p.FailureThreshold = 1
	p.FailureBackoff = 5 * time.Millisecond
	f := newFixture(t, map[actors.Role]supervisor.Policy{actors.Checkpointer: p})
	f.start()
	ck := f.actor(actors.Checkpointer)
	ck.FailNext(nil)
	ck.FailNext(nil)
	f.tickUntil(checkpointEvery, func() bool { return f.service(actors.Checkpointer).Failures == 2 }, "two failures")
	f.eventually(func() bool {
		s := f.service(actors.Checkpointer)
		return s.Running && s.Restarts == 2 && !s.BackingOff
	}, "restarted after the backoff")
	f.eventually(func() bool { return strings.Contains(f.logs.String(), "resuming after backoff") }, "resume logged")
}

func TestPermanentlyFailingServiceIsGivenUp(t *testing.T) {
	p := testPolicy()
	p.MaxRestarts = 3
	f := newFixture(t, map[actors.Role]supervisor.Policy{actors.Syncer: p})
	f.start()
	sy := f.actor(actors.Syncer)
	sy.FailAlways(errors.New("EIO"))

	f.tickUntil(syncEvery, func() bool { return f.service(actors.Syncer).GivenUp }, "given up")
	s := f.service(actors.Syncer)
	require.False(t, s.Running)
	require.Equal(t, 3, s.Restarts, "MaxRestarts restarts, then given up")
	require.Equal(t, 4, s.Failures)
	require.Contains(t, s.LastError, "EIO")
	require.Equal(t, 3, f.tree.Status().Active)
	require.Contains(t, f.tree.String(), "└─ syncer (given up, restarts 3, failures 4, last error: syncer: injected fault: EIO)")
	f.eventually(func() bool { return strings.Contains(f.logs.String(), "service given up") }, "give-up logged")

	// The others keep working; the syncer is not restarted.
	steps := sy.Counters().Steps
	ck := f.target(actors.Checkpointer)
	done := ck.Checkpoints.Load()
	f.clk.Advance(checkpointEvery)
	f.eventually(func() bool { return ck.Checkpoints.Load() == done+1 }, "checkpointer still works")
	require.Equal(t, steps, sy.Counters().Steps)
	require.Equal(t, 3, f.service(actors.Syncer).Restarts)

	// Starting the tree again gives it a fresh chance.
	require.NoError(t, f.tree.Stop())
	sy.ClearFaults()
	f.start()
	s = f.service(actors.Syncer)
	require.True(t, s.Running)
	require.False(t, s.GivenUp)
	f.clk.Advance(syncEvery)
	f.eventually(func() bool { return f.target(actors.Syncer).Syncs.Load() == 1 }, "syncs again")
}

func TestGiveUpCountsOnlyFailuresWithinTheWindow(t *testing.T) {
	p := testPolicy()
	p.MaxRestarts = 2
	p.RestartWindow = time.Minute
	f := newFixture(t, map[actors.Role]supervisor.Policy{actors.Collector: p})
	f.start()
	co := f.actor(actors.Collector)

	// One failure per window, five times: never more than MaxRestarts in a
	// window, so never given up.
	for i := 1; i <= 5; i++ {
		f.waitTickers()
		co.FailNext(nil)
		f.clk.Advance(time.Minute) // a multiple of gcEvery
		f.eventually(func() bool { return f.service(actors.Collector).Restarts == i }, "restart")
	}
	require.False(t, f.service(actors.Collector).GivenUp)

	// Three failures at the same instant, a minute after the last one:
	// given up at the third. (Let the minute's tick be used up first, so
	// that it does not consume a fault.)
	f.waitTickers()
	checks := f.target(actors.Collector).DueChecks.Load()
	f.clk.Advance(time.Minute)
	f.eventually(func() bool { return f.target(actors.Collector).DueChecks.Load() == checks+1 }, "tick used up")
	co.FailNext(nil)
	co.FailNext(nil)
	co.FailNext(nil)
	for i := 0; i < 3; i++ {
		f.eventually(func() bool { return f.service(actors.Collector).Failures == 5+i }, "failure")
		co.Trigger()
	}
	f.eventually(func() bool { return f.service(actors.Collector).GivenUp }, "given up")
	require.Equal(t, 8, f.service(actors.Collector).Failures)
	require.Equal(t, 7, f.service(actors.Collector).Restarts)
}

func TestStopWaitsForTheCurrentStep(t *testing.T) {
	f := newFixture(t, nil)
	f.start()
	ck := f.target(actors.Checkpointer)
	entered, release := ck.Hold()
	f.clk.Advance(checkpointEvery)
	<-entered

	stopped := make(chan error, 1)
	go func() { stopped <- f.tree.Stop() }()
	// Stop is underway: the services' contexts are cancelled.
	f.eventually(func() bool { return f.tree.Status().Active == 1 }, "other services stopped")
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a checkpoint was being written", err)
	default:
	}
	require.True(t, f.service(actors.Checkpointer).Running)
	release()
	require.NoError(t, <-stopped)
	require.Equal(t, int64(1), ck.Checkpoints.Load(), "the checkpoint was completed, not abandoned")
	require.Zero(t, f.tree.Status().Active)
	require.Zero(t, f.service(actors.Checkpointer).Failures)
}

func TestStopReportsServicesThatDoNotStopInTime(t *testing.T) {
	p := testPolicy()
	p.Timeout = 20 * time.Millisecond
	f := newFixture(t, map[actors.Role]supervisor.Policy{actors.Checkpointer: p})
	f.start()
	ck := f.target(actors.Checkpointer)
	entered, release := ck.Hold()
	defer release()
	f.clk.Advance(checkpointEvery)
	<-entered

	err := f.tree.Stop()
	require.ErrorIs(t, err, supervisor.ErrStopTimeout)
	require.ErrorContains(t, err, "store-x: checkpointer still running")
	require.False(t, f.tree.Running())
	st := f.tree.Status()
	require.Equal(t, 1, st.Active, "the straggler is still reported as running")
	require.True(t, f.service(actors.Checkpointer).Running)
	require.Contains(t, f.logs.String(), "did not stop in time")

	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	require.ErrorIs(t, f.tree.Wait(ctx), context.DeadlineExceeded, "Wait waits for the straggler")

	release()
	require.NoError(t, f.tree.Wait(context.Background()))
	require.Zero(t, f.tree.Status().Active)
	require.Equal(t, int64(1), ck.Checkpoints.Load())
}

func TestStartWhileAStragglerFinishesNeverRunsItTwice(t *testing.T) {
	p := testPolicy()
	p.Timeout = 20 * time.Millisecond
	f := newFixture(t, map[actors.Role]supervisor.Policy{actors.Checkpointer: p})
	f.start()
	ck := f.target(actors.Checkpointer)
	entered, release := ck.Hold()
	defer release()
	f.clk.Advance(checkpointEvery)
	<-entered
	require.ErrorIs(t, f.tree.Stop(), supervisor.ErrStopTimeout)

	// Start does not wait for the straggler; the new run's checkpointer
	// waits for it instead of running the same Actor twice at once (which
	// the Actor would reject as a failure).
	require.NoError(t, f.tree.Start())
	release()
	f.eventually(func() bool { return f.actor(actors.Checkpointer).Counters().Runs == 1 }, "straggler finished")
	// The straggler's ticker lives until its Serve returns, so counting
	// tickers cannot tell when the new one exists: keep ticking instead.
	f.tickUntil(checkpointEvery, func() bool { return ck.Checkpoints.Load() == 2 }, "new run's checkpoint")
	s := f.service(actors.Checkpointer)
	require.True(t, s.Running)
	require.Zero(t, s.Failures)
	require.Empty(t, s.LastError)
}

func TestWaitWhileRunningIsAnError(t *testing.T) {
	f := newFixture(t, nil)
	require.NoError(t, f.tree.Wait(context.Background()), "nothing to wait for")
	require.NoError(t, f.tree.Start())
	require.ErrorIs(t, f.tree.Wait(context.Background()), supervisor.ErrAlreadyRunning)
}

func TestConcurrentStartStop(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFixture(t, nil)

	const workers, ops = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*ops)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range ops {
				switch rng.IntN(4) {
				case 0:
					if err := f.tree.Start(); err != nil && !errors.Is(err, supervisor.ErrAlreadyRunning) {
						errs <- errors.Wrap(err, "Start")
					}
				case 1, 2:
					if err := f.tree.Stop(); err != nil {
						errs <- errors.Wrap(err, "Stop")
					}
				case 3:
					st := f.tree.Status()
					if st.Active > len(st.Services) {
						errs <- errors.Newf("Active %d > %d services", st.Active, len(st.Services))
					}
					_ = f.tree.String()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	require.NoError(t, f.tree.Stop())
	st := f.tree.Status()
	require.False(t, st.Running)
	require.Zero(t, st.Active)
	for _, s := range st.Services {
		require.False(t, s.Running, s.Name)
		require.Zero(t, s.Failures, s.Name)
	}

	// And it still works.
	f.start()
	require.Equal(t, 4, f.tree.Status().Active)
	require.NoError(t, f.tree.Stop())
}
