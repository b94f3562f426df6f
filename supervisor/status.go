package supervisor

import (
	"fmt"
	"strings"
)

// ServiceStatus is one service's row in a Status.
type ServiceStatus struct {
	// Name is the service's name ("checkpointer", "log-shifter", ...).
	Name string
	// Running says whether the service's Serve is running now. A service
	// that outlived Stop's timeout is still running while the tree is not.
	Running bool
	// Restarts counts the times the service was started again after a
	// failure, over the tree's whole life.
	Restarts int
	// Failures counts the service's errors, panics and unasked returns,
	// over the tree's whole life. It exceeds Restarts by the failures not
	// (yet) restarted: one that gave the service up, one waiting out a
	// backoff, one during Stop.
	Failures int
	// LastError is the message of the latest failure ("panic: ..." for a
	// panic), or empty if the service never failed.
	LastError string
	// BackingOff says the service's supervisor is waiting out its policy's
	// FailureBackoff before restarting it.
	BackingOff bool
	// GivenUp says the service failed more often than its policy allows
	// and will not be restarted until the tree is started again.
	GivenUp bool
}

// Status is a snapshot of a Tree.
type Status struct {
	// Name is the tree's name.
	Name string
	// Running says whether the tree is started.
	Running bool
	// Active is the number of services running now.
	Active int
	// Services lists every service, in the order of Config.Children.
	Services []ServiceStatus
}

// Status returns a snapshot of the tree and its services. It never waits
// for a Start or Stop in progress.
func (t *Tree) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Status{Name: t.name, Running: t.running, Services: make([]ServiceStatus, len(t.members))}
	for i, m := range t.members {
		if m.st.running {
			s.Active++
		}
		s.Services[i] = ServiceStatus{
			Name:       m.name,
			Running:    m.st.running,
			Restarts:   m.st.restarts,
			Failures:   m.st.failures,
			LastError:  m.st.lastError,
			BackingOff: m.st.backingOff,
			GivenUp:    m.st.givenUp,
		}
	}
	return s
}

// String renders the tree as a current status report, one line per
// service, for logs and debugging:
//
//	store-x (running, 3 of 4 services active)
//	├─ checkpointer (running, restarts 1, failures 1, last error: checkpointer: disk full)
//	├─ collector (running)
//	├─ log-shifter (running)
//	└─ syncer (given up, restarts 20, failures 21, last error: syncer: fsync: EIO)
func (t *Tree) String() string { return t.Status().String() }

// String renders s as Tree.String describes.
func (s Status) String() string {
	var b strings.Builder
	state := "stopped"
	if s.Running {
		state = "running"
	}
	fmt.Fprintf(&b, "%s (%s, %d of %d services active)", s.Name, state, s.Active, len(s.Services))
	for i, svc := range s.Services {
		branch := "├─"
		if i == len(s.Services)-1 {
			branch = "└─"
		}
		fmt.Fprintf(&b, "\n%s %s (%s", branch, svc.Name, svc.state())
		if svc.Restarts > 0 {
			fmt.Fprintf(&b, ", restarts %d", svc.Restarts)
		}
		if svc.Failures > 0 {
			fmt.Fprintf(&b, ", failures %d", svc.Failures)
		}
		if svc.LastError != "" {
			// One line per service, whatever the message holds.
			fmt.Fprintf(&b, ", last error: %s", strings.Join(strings.Fields(svc.LastError), " "))
		}
		b.WriteString(")")
	}
	return b.String()
}

// state is the one word or two that best describe the service now.
func (s ServiceStatus) state() string {
	switch {
	case s.GivenUp:
		return "given up"
	case s.BackingOff:
		return "backing off"
	case s.Running:
		return "running"
	default:
		return "stopped"
	}
}
