package actors

import (
	"sync"

	"github.com/cockroachdb/errors"
)

// ErrInjected is the error an injected fault returns when it was planned
// with a nil error ([Actor.FailNext](nil)).
var ErrInjected = errors.New("actors: injected fault")

// fault is one planned failure of a step.
type fault struct {
	err    error // returned by the step, unless panics
	panics bool
	value  any // the panic value, when panics
}

// faultPlan is an actor's list of planned failures. It is per actor on
// purpose: two stores in one process, or two services in one store, never
// share faults.
type faultPlan struct {
	mu     sync.Mutex // protects the fields below
	queue  []fault    // consumed one per step, oldest first
	always *fault     // once the queue is empty, fails every step; nil: none
}

func (p *faultPlan) push(f fault) {
	p.mu.Lock()
	p.queue = append(p.queue, f)
	p.mu.Unlock()
}

func (p *faultPlan) setAlways(f *fault) {
	p.mu.Lock()
	p.always = f
	p.mu.Unlock()
}

func (p *faultPlan) clear() {
	p.mu.Lock()
	p.queue, p.always = nil, nil
	p.mu.Unlock()
}

// take returns the fault planned for the step about to run, if any.
func (p *faultPlan) take() (fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) > 0 {
		f := p.queue[0]
		p.queue = p.queue[1:]
		return f, true
	}
	if p.always != nil {
		return *p.always, true
	}
	return fault{}, false
}

// FailNext makes the next step return err (ErrInjected if err is nil)
// instead of calling the target. Calls queue up: after FailNext three times,
// the next three steps fail. Like a real failure, an injected one makes
// Serve return the error, so the supervisor restarts the service.
func (a *Actor) FailNext(err error) {
	if err == nil {
		err = ErrInjected
	}
	a.faults.push(fault{err: err})
}

// PanicNext makes the next step panic with v instead of calling the target.
// It queues up with FailNext.
func (a *Actor) PanicNext(v any) {
	a.faults.push(fault{panics: true, value: v})
}

// FailAlways makes every step return err (ErrInjected if err is nil), once
// the faults queued by FailNext and PanicNext are used up, until
// ClearFaults. It simulates a service that is broken for good, which its
// supervisor should eventually give up.
func (a *Actor) FailAlways(err error) {
	if err == nil {
		err = ErrInjected
	}
	a.faults.setAlways(&fault{err: err})
}

// ClearFaults removes every planned fault.
func (a *Actor) ClearFaults() { a.faults.clear() }
