package supervisor_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/rskv-go/rskv/actors"
	"github.com/rskv-go/rskv/actors/actorstest"
	"github.com/rskv-go/rskv/supervisor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	checkpointEvery = 5 * time.Second
	gcEvery         = 10 * time.Second
	shiftEvery      = time.Second
	syncEvery       = 100 * time.Millisecond

	// wait bounds how long a test waits for goroutines to catch up: a guard
	// against hanging, never a measurement.
	wait = 5 * time.Second
	poll = time.Millisecond
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// testPolicy never backs off or gives up unless a test asks it to, so that
// each test controls exactly what it checks.
func testPolicy() supervisor.Policy {
	return supervisor.Policy{
		FailureThreshold: 1000,
		FailureDecay:     time.Hour,
		FailureBackoff:   10 * time.Millisecond,
		Timeout:          wait,
		MaxRestarts:      -1,
		RestartWindow:    time.Hour,
	}
}

// role is one service of the fixture and its own fake target.
type role struct {
	actor  *actors.Actor
	target *actorstest.Target
}

// fixture is a tree of the four rskv roles over fake targets and a fake
// clock, as a store would build it.
type fixture struct {
	t     *testing.T
	clk   *actorstest.Clock
	tree  *supervisor.Tree
	roles map[actors.Role]role
	logs  *syncBuffer
}

// newFixture builds the tree; policies override testPolicy per role.
func newFixture(t *testing.T, policies map[actors.Role]supervisor.Policy) *fixture {
	t.Helper()
	f := &fixture{t: t, clk: actorstest.NewClock(epoch), roles: map[actors.Role]role{}, logs: &syncBuffer{}}
	add := func(r actors.Role, tgt *actorstest.Target, a *actors.Actor) supervisor.Child {
		f.roles[r] = role{actor: a, target: tgt}
		p, ok := policies[r]
		if !ok {
			p = testPolicy()
		}
		return supervisor.Child{Service: a, Policy: p}
	}
	ck, co, sh, sy := actorstest.NewTarget(), actorstest.NewTarget(), actorstest.NewTarget(), actorstest.NewTarget()
	children := []supervisor.Child{
		add(actors.Checkpointer, ck, actors.NewCheckpointer(ck, checkpointEvery, f.clk)),
		add(actors.Collector, co, actors.NewCollector(co, gcEvery, f.clk)),
		add(actors.LogShifter, sh, actors.NewLogShifter(sh, shiftEvery, f.clk)),
		add(actors.Syncer, sy, actors.NewSyncer(sy, syncEvery, f.clk)),
	}
	tree, err := supervisor.New(supervisor.Config{
		Name:     "store-x",
		Children: children,
		Logger:   slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      f.clk.Now,
	})
	require.NoError(t, err)
	f.tree = tree
	t.Cleanup(func() { assert.NoError(t, tree.Stop(), "cleanup Stop") })
	return f
}

func (f *fixture) actor(r actors.Role) *actors.Actor       { return f.roles[r].actor }
func (f *fixture) target(r actors.Role) *actorstest.Target { return f.roles[r].target }

// service returns the named service's row of the status.
func (f *fixture) service(r actors.Role) supervisor.ServiceStatus {
	f.t.Helper()
	for _, s := range f.tree.Status().Services {
		if s.Name == string(r) {
			return s
		}
	}
	f.t.Fatalf("no service %q in status", r)
	return supervisor.ServiceStatus{}
}

// start starts the tree and waits until every service's ticker exists.
func (f *fixture) start() {
	f.t.Helper()
	require.NoError(f.t, f.tree.Start())
	f.waitTickers()
}

// waitTickers waits until every running service has its ticker, so that
// the next Advance reaches all of them.
func (f *fixture) waitTickers() {
	f.t.Helper()
	require.NoError(f.t, f.clk.WaitForTickers(f.tree.Status().Active, wait))
}

// eventually waits for cond, advancing nothing.
func (f *fixture) eventually(cond func() bool, msg string) {
	f.t.Helper()
	require.Eventually(f.t, cond, wait, poll, msg)
}

// tickUntil advances the clock by d on every poll until cond holds. It
// drives a service through repeated steps (and restarts) without caring
// when exactly each of its tickers appears.
func (f *fixture) tickUntil(d time.Duration, cond func() bool, msg string) {
	f.t.Helper()
	require.Eventually(f.t, func() bool {
		if cond() {
			return true
		}
		f.clk.Advance(d)
		return false
	}, wait, poll, msg)
}

// syncBuffer is a bytes.Buffer safe for the tree's concurrent log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
