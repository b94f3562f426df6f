package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/thejerf/suture/v4"
)

// Child is one service of a Tree and the policy it runs under.
type Child struct {
	// Service is the service to run. It must stop promptly when its
	// context is cancelled, after finishing its current step, and must not
	// be run by anything else.
	Service suture.Service
	// Name names the service in the status and in log lines. Default: the
	// service's String method (fmt.Stringer), which every actors.Actor has.
	Name string
	// Policy is how the service's own supervisor treats its failures. Zero
	// fields take DefaultPolicy's values; see CheckpointerPolicy and its
	// siblings for the roles of rskv.
	Policy Policy
}

// Config describes a Tree.
type Config struct {
	// Name names the tree: the store's name (its directory, say). It names
	// the root supervisor and prefixes the child supervisors' names.
	// Default "rskv".
	Name string
	// Children are the services, in the order Status lists them. Names
	// must be unique. An empty tree is allowed.
	Children []Child
	// Logger receives the tree's log lines: failures, panics, backoffs,
	// give-ups, and stops that time out. Default: discarded.
	Logger *slog.Logger
	// Now is the clock of the give-up rule's RestartWindow. Default
	// time.Now; tests pass a fake clock's Now.
	Now func() time.Time
}

// Tree is the supervision tree of one store's background services: a root
// suture supervisor named after the store, and under it one child
// supervisor per service, so that each service has its own restart policy
// and one service's backoff never holds another back.
//
// A Tree starts stopped. Start and Stop may be called any number of times,
// from any number of goroutines; each Start builds a fresh suture tree
// (a suture Supervisor cannot be served twice) over the same services, and
// the status (restarts, failures, last error) carries over from run to run.
// All methods are safe for concurrent use.
type Tree struct {
	name    string
	logger  *slog.Logger
	now     func() time.Time
	members []*member
	// bySupervisor maps a child supervisor's name to its member, to route
	// suture's backoff events. Read-only after New.
	bySupervisor map[string]*member
	// rootTimeout is the root supervisor's stop timeout: longer than any
	// child's, so that the root waits for every child to finish waiting for
	// its service.
	rootTimeout time.Duration

	// lifecycle serializes Start, Stop and Wait, and protects run. It is
	// held while Stop waits for the services, so a Start that comes in
	// meanwhile waits for the stop to finish rather than overlapping it.
	lifecycle sync.Mutex
	run       *run // the current run; nil when stopped

	// mu protects running and every member's st. It is never held while
	// waiting, so Status stays quick even while Stop waits.
	mu      sync.Mutex
	running bool
}

// run is one Start-to-Stop span of the tree.
type run struct {
	cancel context.CancelFunc
	done   <-chan error // the root supervisor's Serve result
}

// New returns a stopped Tree for cfg, or an error marked ErrInvalidConfig
// that lists every problem with it.
func New(cfg Config) (*Tree, error) {
	t := &Tree{
		name:         cfg.Name,
		logger:       cfg.Logger,
		now:          cfg.Now,
		bySupervisor: map[string]*member{},
	}
	if t.name == "" {
		t.name = "rskv"
	}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	t.logger = t.logger.With("tree", t.name)
	if t.now == nil {
		t.now = time.Now
	}

	var problems []string
	seen := map[string]bool{}
	for i, c := range cfg.Children {
		name := c.Name
		if name == "" {
			if s, ok := c.Service.(fmt.Stringer); ok {
				name = s.String()
			}
		}
		switch {
		case c.Service == nil:
			problems = append(problems, fmt.Sprintf("child %d (%q) has no Service", i, name))
			continue
		case name == "":
			problems = append(problems, fmt.Sprintf("child %d has no Name and its Service has no String method", i))
			continue
		case seen[name]:
			problems = append(problems, fmt.Sprintf("child %d: name %q is used twice", i, name))
			continue
		}
		seen[name] = true
		p := c.Policy.withDefaults()
		for _, pr := range p.problems() {
			problems = append(problems, fmt.Sprintf("%s: %s", name, pr))
		}
		m := &member{
			tree:    t,
			name:    name,
			svc:     c.Service,
			policy:  p,
			supName: t.name + "/" + name,
			slot:    make(chan struct{}, 1),
		}
		t.members = append(t.members, m)
		t.bySupervisor[m.supName] = m
		t.rootTimeout = max(t.rootTimeout, p.Timeout)
	}
	if len(problems) > 0 {
		return nil, errors.Wrapf(ErrInvalidConfig, "%s", strings.Join(problems, "; "))
	}
	// The root waits for each child supervisor, which waits up to its own
	// Timeout for its service; the margin lets the child report first.
	t.rootTimeout += time.Second
	return t, nil
}

// Name returns the tree's name.
func (t *Tree) Name() string { return t.name }

// Start starts every service, each under its own supervisor, and returns
// once each has begun running (or, for a service still finishing after the
// previous Stop timed out, is queued to begin as soon as it returns). It
// returns an error matching ErrAlreadyRunning if the tree is running.
//
// Services given up in an earlier run get a fresh chance; their restart
// and failure counts and last error are kept.
func (t *Tree) Start() error {
	t.lifecycle.Lock()
	defer t.lifecycle.Unlock()
	if t.run != nil {
		return errors.Wrapf(ErrAlreadyRunning, "%s", t.name)
	}

	hook := t.onEvent
	// The root only supervises the child supervisors, which do not fail
	// unless suture itself does; its policy matters little beyond Timeout.
	root := suture.New(t.name, Policy{Timeout: t.rootTimeout}.withDefaults().spec(hook))
	for _, m := range t.members {
		child := suture.New(m.supName, m.policy.spec(hook))
		child.Add(m)
		root.Add(child)
	}
	arrived := make([]chan struct{}, len(t.members))
	t.mu.Lock()
	for i, m := range t.members {
		arrived[i] = make(chan struct{})
		m.st.arrived = arrived[i]
		m.st.givenUp, m.st.backingOff, m.st.restartPending, m.st.failedAt = false, false, false, nil
	}
	t.running = true
	t.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	t.run = &run{cancel: cancel, done: root.ServeBackground(ctx)}
	// Suture starts the child supervisors, and they the services, in
	// goroutines of their own. Waiting for them makes Start's promise
	// exact: when it returns, Status shows every service running.
	for _, a := range arrived {
		<-a
	}
	t.logger.Info("background services started", "services", len(t.members))
	return nil
}

// Stop stops every service and returns once each has returned from its
// current step, or its policy's Timeout has passed. It returns an error
// matching ErrStopTimeout, naming the services, if any did not return in
// time; the tree is stopped all the same, and Wait waits for them. Stop on
// a stopped tree does nothing and returns nil.
func (t *Tree) Stop() error {
	t.lifecycle.Lock()
	defer t.lifecycle.Unlock()
	if t.run == nil {
		return nil
	}
	t.run.cancel()
	<-t.run.done // the root's Serve returns once its children have stopped or timed out
	t.run = nil

	var stuck []string
	t.mu.Lock()
	t.running = false
	for _, m := range t.members {
		m.st.backingOff = false
		if m.st.running {
			stuck = append(stuck, m.name)
		}
	}
	t.mu.Unlock()

	if len(stuck) > 0 {
		err := errors.Wrapf(ErrStopTimeout, "%s: %s still running", t.name, strings.Join(stuck, ", "))
		t.logger.Error("background services did not stop in time", "services", stuck)
		return err
	}
	t.logger.Info("background services stopped")
	return nil
}

// Wait waits until every service that outlived Stop's timeout has
// returned, or ctx is done (then it returns ctx's error). It returns at
// once if there are none, and an error matching ErrAlreadyRunning if the
// tree is running. A store's Close calls it after a Stop that returned
// ErrStopTimeout, so that no service touches files being closed.
func (t *Tree) Wait(ctx context.Context) error {
	t.lifecycle.Lock()
	defer t.lifecycle.Unlock()
	if t.run != nil {
		return errors.Wrapf(ErrAlreadyRunning, "%s: Wait", t.name)
	}
	for _, m := range t.members {
		select {
		case m.slot <- struct{}{}:
			<-m.slot
		case <-ctx.Done():
			return errors.Wrapf(ctx.Err(), "%s: waiting for %s to stop", t.name, m.name)
		}
	}
	return nil
}

// Running reports whether the tree is started.
func (t *Tree) Running() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.running
}
