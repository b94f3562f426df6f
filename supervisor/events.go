package supervisor

import (
	"fmt"

	"github.com/thejerf/suture/v4"
)

// onEvent is the EventHook of every supervisor in the tree. Suture calls
// it from its supervisors' own goroutines, so it only takes t.mu briefly
// and logs; it must never block on the tree's lifecycle.
//
// Failures, panics and restarts are recorded by the members themselves,
// synchronously (see member); the events add what only suture knows, the
// backoff state, and the log lines.
//
// Errors are logged as their message: slog formats an error value with
// %+v, which for cockroachdb errors prints every stack trace.
func (t *Tree) onEvent(e suture.Event) {
	switch ev := e.(type) {
	case suture.EventServiceTerminate:
		t.logger.Warn("service failed", "supervisor", ev.SupervisorName, "service", ev.ServiceName,
			"error", fmt.Sprint(ev.Err), "failures", ev.CurrentFailures, "threshold", ev.FailureThreshold,
			"restarting", ev.Restarting)
	case suture.EventServicePanic:
		t.logger.Error("service panicked", "supervisor", ev.SupervisorName, "service", ev.ServiceName,
			"panic", ev.PanicMsg, "failures", ev.CurrentFailures, "threshold", ev.FailureThreshold,
			"restarting", ev.Restarting, "stack", ev.Stacktrace)
	case suture.EventBackoff:
		t.setBackingOff(ev.SupervisorName, true)
		t.logger.Warn("service backing off", "supervisor", ev.SupervisorName)
	case suture.EventResume:
		t.setBackingOff(ev.SupervisorName, false)
		t.logger.Info("service resuming after backoff", "supervisor", ev.SupervisorName)
	case suture.EventStopTimeout:
		t.logger.Error("service did not stop in time", "supervisor", ev.SupervisorName,
			"service", ev.ServiceName)
	default:
		t.logger.Warn("supervisor event", "event", e.String())
	}
}

// setBackingOff records the backoff state of the service under the named
// child supervisor. Events of the root supervisor name no member and are
// only logged.
func (t *Tree) setBackingOff(supervisor string, on bool) {
	m, ok := t.bySupervisor[supervisor]
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// A Resume that races with Stop must not mark a stopped tree's
	// service as backing off; Stop clears the flag after the run ends.
	if t.running || !on {
		m.st.backingOff = on
	}
}
