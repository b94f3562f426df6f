package rskv

import (
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/actors"
)

// Fault injection is a feature: programs that embed rskv test their own
// handling of its failures. It has two homes, both set in Options:
//
//   - the storage side is Options.FS: wrap the file system with
//     log/vfs/errorfs (pebble's model) to fail, tear or count any file
//     operation, and use vfs.NewMem's CrashClone to simulate power loss;
//   - the service side is Options.ServiceFaults: a ServiceFaults plants
//     failures and panics in the background services, to see the
//     supervisor restart them, back off and give up while the store serves.

// ErrUnknownService is returned by the ServiceFaults methods for a name that
// is not one of the store's services.
var ErrUnknownService = errors.New("rskv: no such background service")

// ServiceFaults plans failures of a store's background services
// ("checkpointer", "collector", "log-shifter", "syncer", "expirer"; the ones the store
// runs are listed by Store.Services). Set it as Options.ServiceFaults, then,
// once the store is open, plant faults by service name: each fires on that
// service's next step, which Trigger runs at once. A failed step is handled
// as a real one: the supervisor restarts the service, counts the restart
// (ServiceStatus.Restarts), backs off per its RestartPolicy and, if it keeps
// failing, gives it up, while the store keeps serving.
//
// The zero value is ready to use. One ServiceFaults serves one open Store
// at a time (Open refuses a second with ErrInvalidOptions); after Close it
// may be passed to the next Open. All methods are safe for concurrent use.
type ServiceFaults struct {
	mu     sync.Mutex
	owner  *Store
	byName map[string]*actors.Actor
}

func (f *ServiceFaults) bind(s *Store) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owner != nil && !f.owner.closed.Load() {
		return errors.Wrapf(ErrInvalidOptions, "ServiceFaults is in use by the open store in %s", f.owner.dir)
	}
	f.owner, f.byName = s, s.bg.byName
	return nil
}

// actor returns the named service of the store f is bound to.
func (f *ServiceFaults) actor(service string) (*actors.Actor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owner == nil || f.owner.closed.Load() {
		return nil, errors.Wrapf(ErrClosed, "ServiceFaults: no open store uses them (plant faults after Open)")
	}
	a := f.byName[service]
	if a == nil {
		names := make([]string, 0, len(f.byName))
		for n := range f.byName {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, errors.Wrapf(ErrUnknownService, "%q (this store runs: %s)", service, strings.Join(names, ", "))
	}
	return a, nil
}

// FailNext makes the service's next step return err (a generic injected
// error if err is nil). Calls queue up: three FailNext fail three steps.
func (f *ServiceFaults) FailNext(service string, err error) error {
	a, aerr := f.actor(service)
	if aerr != nil {
		return aerr
	}
	a.FailNext(err)
	return nil
}

// PanicNext makes the service's next step panic with v. It queues up with
// FailNext.
func (f *ServiceFaults) PanicNext(service string, v any) error {
	a, err := f.actor(service)
	if err != nil {
		return err
	}
	a.PanicNext(v)
	return nil
}

// FailAlways makes every step of the service fail with err (a generic
// injected error if nil), once the queued faults are used up, until Clear:
// a service broken for good, which its supervisor eventually gives up.
func (f *ServiceFaults) FailAlways(service string, err error) error {
	a, aerr := f.actor(service)
	if aerr != nil {
		return aerr
	}
	a.FailAlways(err)
	return nil
}

// Clear removes every fault planned for the service. A service its
// supervisor gave up stays stopped until StopBackground and StartBackground.
func (f *ServiceFaults) Clear(service string) error {
	a, err := f.actor(service)
	if err != nil {
		return err
	}
	a.ClearFaults()
	return nil
}

// Trigger asks the service to run a step now rather than at its next tick,
// so that a planted fault fires without waiting. It never blocks; requests
// made while one is pending coalesce.
func (f *ServiceFaults) Trigger(service string) error {
	a, err := f.actor(service)
	if err != nil {
		return err
	}
	a.Trigger()
	return nil
}
