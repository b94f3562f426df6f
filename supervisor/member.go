package supervisor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/thejerf/suture/v4"
)

// member wraps one service of the tree. Suture runs the member, and the
// member runs the service, so that the tree learns of every start, return
// and panic of the service synchronously, before suture decides anything.
// That is what keeps the status exact (a restart is counted when it
// happens, not when an event arrives later), lets the give-up rule act on
// the failure itself, and keeps the service from ever running twice at once
// across successive suture trees.
type member struct {
	tree    *Tree
	name    string
	svc     suture.Service
	policy  Policy
	supName string // the name of the member's own child supervisor

	// slot holds one token while svc.Serve runs. A service that outlived
	// Stop's timeout still holds it, so the next tree's Serve waits for it
	// to return instead of running the same service twice at once, which
	// suture's Service contract forbids.
	slot chan struct{}

	// st is the member's status. Guarded by tree.mu.
	st memberState
}

// memberState is what the tree knows about one service. Every field is
// guarded by Tree.mu.
type memberState struct {
	running    bool
	restarts   int
	failures   int
	lastError  string
	backingOff bool
	givenUp    bool
	// restartPending says the last Serve failed while the tree ran, so the
	// next Serve is a restart.
	restartPending bool
	// failedAt holds the times of the failures within the policy's
	// RestartWindow, oldest first.
	failedAt []time.Time
	// arrived is closed when the member's first Serve of the current run
	// has begun (or found the previous run's Serve still going); Start
	// waits for it. Nil once closed.
	arrived chan struct{}
}

// String returns the service's name; suture uses it in its events.
func (m *member) String() string { return m.name }

// Serve implements suture.Service.
func (m *member) Serve(ctx context.Context) (err error) {
	defer m.arrive() // whatever happens, never leave Start waiting
	select {
	case m.slot <- struct{}{}:
	default:
		// The previous tree's Serve has not returned yet. Let Start
		// return, and begin once it has.
		m.arrive()
		select {
		case m.slot <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
	}
	defer func() { <-m.slot }() // runs last, after the status is updated
	if ctx.Err() != nil {
		return nil
	}
	m.tree.serviceStarted(m)

	defer func() {
		r := recover()
		if giveUp := m.tree.serviceEnded(ctx, m, err, r); giveUp != nil {
			// Suture sees ErrDoNotRestart and drops the service. A final
			// panic is swallowed here: it is recorded and logged, and
			// there is nothing left for suture to restart.
			err = giveUp
			return
		}
		if r != nil {
			// Observed, not handled: suture recovers it and counts it.
			panic(r)
		}
	}()
	return m.svc.Serve(ctx)
}

// arrive tells Start that this member's Serve has begun.
func (m *member) arrive() {
	m.tree.mu.Lock()
	defer m.tree.mu.Unlock()
	m.arriveLocked()
}

// arriveLocked is arrive with tree.mu held.
func (m *member) arriveLocked() {
	if m.st.arrived != nil {
		close(m.st.arrived)
		m.st.arrived = nil
	}
}

// serviceStarted records that m's service is about to run.
func (t *Tree) serviceStarted(m *member) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m.st.running = true
	if m.st.restartPending {
		m.st.restartPending = false
		m.st.restarts++
	}
	m.arriveLocked()
}

// serviceEnded records how m's service returned: with err, or panicking
// with r (non-nil). If the failure exceeds the policy's give-up rule it
// returns the error for Serve to return instead, which stops suture from
// restarting the service.
func (t *Tree) serviceEnded(ctx context.Context, m *member, err error, r any) error {
	stopping := ctx.Err() != nil
	var msg string
	switch {
	case r != nil:
		msg = fmt.Sprintf("panic: %v", r)
	case err != nil:
		msg = err.Error()
	case !stopping:
		// Suture restarts a service that returns nil unasked; so do we.
		msg = "service returned without being asked to stop"
	}

	t.mu.Lock()
	st := &m.st
	st.running = false
	if msg == "" {
		t.mu.Unlock()
		return nil // a clean stop
	}
	st.failures++
	st.lastError = msg
	if stopping {
		// Suture does not restart a service of a stopping tree.
		t.mu.Unlock()
		return nil
	}
	if r == nil && (errors.Is(err, suture.ErrDoNotRestart) || errors.Is(err, suture.ErrTerminateSupervisorTree)) {
		// The service asked not to be restarted (or to end its
		// supervisor, which for a child of ours amounts to the same):
		// honour it, and report it as given up, since it will not run
		// again in this run.
		st.givenUp = true
		t.mu.Unlock()
		return nil
	}
	now := t.now()
	keep := st.failedAt[:0]
	for _, at := range st.failedAt {
		if at.After(now.Add(-m.policy.RestartWindow)) {
			keep = append(keep, at)
		}
	}
	st.failedAt = append(keep, now)
	n := len(st.failedAt)
	if m.policy.MaxRestarts < 0 || n <= m.policy.MaxRestarts {
		st.restartPending = true
		t.mu.Unlock()
		return nil
	}
	st.givenUp = true
	st.failedAt = nil
	t.mu.Unlock()

	t.logger.Error("service given up", "service", m.name,
		"failures", n, "window", m.policy.RestartWindow, "last_error", msg)
	return giveUpError(m.name, n, m.policy.RestartWindow, msg)
}

// giveUpError is what a given-up member returns to suture.
//
// Suture recognises ErrDoNotRestart with the standard library's errors.Is,
// which follows Unwrap. errors.Wrapf keeps the sentinel as the cause, in
// the Unwrap chain, where the standard errors.Is finds it. (A cockroachdb
// errors.Mark would not do: its wrapper has no Is method, so only
// cockroachdb's own errors.Is sees the mark.) A test pins this.
func giveUpError(name string, failures int, window time.Duration, last string) error {
	return errors.Wrapf(suture.ErrDoNotRestart,
		"supervisor: %s given up after %d failures within %s (last: %s)",
		name, failures, window, strings.ReplaceAll(last, "\n", " "))
}
