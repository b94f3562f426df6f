package actors

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"
)

// Role names a maintenance role. Its string is the service's name in the
// supervision tree, in log lines and in rskv.ServiceStatus.
type Role string

// The roles of rskv's background work.
const (
	// Checkpointer takes periodic checkpoints.
	Checkpointer Role = "checkpointer"
	// Collector runs compaction when enough of the log is dead.
	Collector Role = "collector"
	// LogShifter moves the hybrid log's read-only and head addresses.
	LogShifter Role = "log-shifter"
	// Syncer flushes and fsyncs the log for SyncPeriodic.
	Syncer Role = "syncer"
	// Expirer deletes expired keys from the in-memory part of the log.
	Expirer Role = "expirer"
)

// Counters say what a service's steps did. Each field is read atomically,
// but the four are not one snapshot: a step may complete between the reads.
// Steps that found nothing to do (the collector when compaction is not due)
// are Steps - Runs - Skips - Failures.
type Counters struct {
	// Steps counts wake-ups that ran the step: ticks, triggers and pressure
	// signals (several signals that arrive during one step make one more).
	Steps int64
	// Runs counts steps in which the target did its work.
	Runs int64
	// Skips counts steps the target declined because a manual Checkpoint or
	// Compact was in progress.
	Skips int64
	// Failures counts steps that returned an error or panicked, injected
	// faults included. A step aborted because the service was stopping is
	// not a failure.
	Failures int64
}

// outcome is what a successful step did.
type outcome int

const (
	idle    outcome = iota // nothing was due
	ran                    // the target did its work
	skipped                // a manual operation held the target
)

// Actor is one background service: a loop that runs its role's step every
// interval (and, for the log shifter, whenever the log signals pressure). It
// implements suture.Service; String gives its role.
//
// The step, the fault plan and the counters are safe for concurrent use.
// Serve must not run twice at the same time (the supervisor never does
// that); a second concurrent Serve returns an error at once.
type Actor struct {
	role     Role
	interval time.Duration
	clock    Clock
	step     func(ctx context.Context) (outcome, error)
	// wake is a second source of wake-ups besides the ticker: the log's
	// pressure channel for the log shifter, nil (never ready) otherwise.
	wake <-chan struct{}
	// trigger has room for one request; Trigger never blocks and requests
	// made while one is pending coalesce.
	trigger chan struct{}

	faults  faultPlan
	serving atomic.Bool // a Serve is running

	steps, runs, skips, failures atomic.Int64
}

func newActor(role Role, interval time.Duration, clock Clock, target any,
	step func(context.Context) (outcome, error)) *Actor {
	// Both are programming errors of the engine, which has already
	// validated its options and leaves disabled roles out of the tree.
	if target == nil {
		panic(errors.AssertionFailedf("actors: %s: nil target", role))
	}
	if interval <= 0 {
		panic(errors.AssertionFailedf("actors: %s: interval %s is not positive", role, interval))
	}
	if clock == nil {
		clock = SystemClock{}
	}
	return &Actor{
		role:     role,
		interval: interval,
		clock:    clock,
		step:     step,
		trigger:  make(chan struct{}, 1),
	}
}

// NewCheckpointer returns the checkpointer: every interval it calls
// target.TryCheckpoint, and counts a skip when a manual operation was in
// progress. A nil clock means SystemClock. It panics if target is nil or
// interval is not positive.
func NewCheckpointer(target CheckpointTarget, interval time.Duration, clock Clock) *Actor {
	return newActor(Checkpointer, interval, clock, target, func(ctx context.Context) (outcome, error) {
		return tryOutcome(target.TryCheckpoint(ctx))
	})
}

// NewCollector returns the collector: every interval it asks
// target.CompactionDue and, only if compaction is due, calls
// target.TryCompact. A nil clock means SystemClock. It panics if target is
// nil or interval is not positive.
func NewCollector(target CompactionTarget, interval time.Duration, clock Clock) *Actor {
	return newActor(Collector, interval, clock, target, func(ctx context.Context) (outcome, error) {
		if !target.CompactionDue() {
			return idle, nil
		}
		return tryOutcome(target.TryCompact(ctx))
	})
}

// NewLogShifter returns the log shifter: it calls target.MaintainLog
// whenever target.Pressure() is signalled, and every fallback interval in
// case a signal was missed or the log needs a pass without new writes (for
// example to finish shifting the head after a flush). A nil clock means
// SystemClock. It panics if target is nil or fallback is not positive.
//
// Signals that arrive while a pass runs leave one pending in the channel, so
// the shifter makes one more pass at once: writers under pressure are never
// left waiting for the timer.
func NewLogShifter(target LogTarget, fallback time.Duration, clock Clock) *Actor {
	a := newActor(LogShifter, fallback, clock, target, func(ctx context.Context) (outcome, error) {
		return ran, target.MaintainLog(ctx)
	})
	a.wake = target.Pressure()
	return a
}

// NewSyncer returns the syncer: every interval it calls target.SyncLog. A
// nil clock means SystemClock. It panics if target is nil or interval is not
// positive.
func NewSyncer(target SyncTarget, interval time.Duration, clock Clock) *Actor {
	return newActor(Syncer, interval, clock, target, func(ctx context.Context) (outcome, error) {
		return ran, target.SyncLog(ctx)
	})
}

// NewExpirer returns the expirer: every interval it calls
// target.SweepExpired, which deletes the expired keys held in memory. A nil
// clock means SystemClock. It panics if target is nil or interval is not
// positive.
func NewExpirer(target ExpiryTarget, interval time.Duration, clock Clock) *Actor {
	return newActor(Expirer, interval, clock, target, func(ctx context.Context) (outcome, error) {
		swept, err := target.SweepExpired(ctx)
		if !swept && err == nil {
			return idle, nil
		}
		return ran, err
	})
}

func tryOutcome(skip bool, err error) (outcome, error) {
	if skip {
		return skipped, err
	}
	return ran, err
}

// Role returns the service's role.
func (a *Actor) Role() Role { return a.role }

// String returns the role's name; suture uses it in its events.
func (a *Actor) String() string { return string(a.role) }

// Interval returns the period of the service's timer (for the log shifter,
// its fallback period).
func (a *Actor) Interval() time.Duration { return a.interval }

// Counters returns what the service's steps have done so far, across all
// runs of Serve.
func (a *Actor) Counters() Counters {
	return Counters{
		Steps:    a.steps.Load(),
		Runs:     a.runs.Load(),
		Skips:    a.skips.Load(),
		Failures: a.failures.Load(),
	}
}

// Trigger asks the service to run its step as soon as it can, without
// waiting for its timer. It never blocks; requests made while one is pending
// count as one. A request made while the service is not serving is kept for
// its next Serve.
func (a *Actor) Trigger() {
	select {
	case a.trigger <- struct{}{}:
	default:
	}
}

// Serve runs the service's loop until ctx is cancelled, then returns nil.
// It returns an error, without waiting for ctx, when a step fails, and lets
// a step's panic through: both are for the supervisor to count and act on.
//
// Cancelling ctx never interrupts a step half-way: Serve waits for the step
// to return (the target sees ctx and may abort cleanly) and then returns.
// Each Serve starts a fresh timer, so after a restart the next tick is one
// interval away.
func (a *Actor) Serve(ctx context.Context) error {
	if !a.serving.CompareAndSwap(false, true) {
		return errors.AssertionFailedf("actors: %s: Serve called while already serving", a.role)
	}
	defer a.serving.Store(false)

	ticker := a.clock.NewTicker(a.interval)
	defer ticker.Stop()
	wake := a.wake
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		case <-a.trigger:
		case _, ok := <-wake:
			if !ok {
				wake = nil // closed: rely on the timer alone
				continue
			}
		}
		// select chooses at random among ready cases: never begin a step
		// once asked to stop.
		if ctx.Err() != nil {
			return nil
		}
		if err := a.runStep(ctx); err != nil {
			return err
		}
	}
}

// runStep runs one step and counts its outcome. It returns nil for a step
// that the target aborted because ctx was cancelled: that is a clean stop,
// and Serve notices the cancelled ctx next.
func (a *Actor) runStep(ctx context.Context) error {
	a.steps.Add(1)
	returned := false
	defer func() {
		// A panic passes through to the supervisor, which recovers it; it
		// is counted here without recovering, so the stack stays intact.
		if !returned {
			a.failures.Add(1)
		}
	}()
	out, err := a.doStep(ctx)
	returned = true

	switch {
	case err != nil && ctx.Err() != nil &&
		(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return nil
	case err != nil:
		a.failures.Add(1)
		return errors.Wrapf(err, "%s", a.role)
	case out == ran:
		a.runs.Add(1)
	case out == skipped:
		a.skips.Add(1)
	}
	return nil
}

// doStep runs the planned fault, if any, in place of the step.
func (a *Actor) doStep(ctx context.Context) (outcome, error) {
	if f, ok := a.faults.take(); ok {
		if f.panics {
			panic(f.value)
		}
		return idle, errors.Wrap(f.err, "injected fault")
	}
	return a.step(ctx)
}
