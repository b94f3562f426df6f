package rskv

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/actors"
	"github.com/rskv-go/rskv/supervisor"
)

// The background services run under one supervision tree per store (see
// package supervisor): the checkpointer, the collector, the log shifter,
// under SyncPeriodic the syncer, and the expirer. They talk to the store only through the
// narrow interfaces of package actors, implemented by the unexported
// adapters below (checkpointTarget, compactionTarget, logTarget), so that
// none of that plumbing is part of the Store's API.

// shifterFallback is how often the log shifter runs without being signalled:
// page turns and writers finding memory full wake it sooner.
const shifterFallback = 250 * time.Millisecond

// background holds the store's services.
type background struct {
	// mu orders StartBackground and StopBackground with Close, so that no
	// start slips in between Close stopping the tree and marking the store
	// closed.
	mu       sync.Mutex
	tree     *supervisor.Tree
	byName   map[string]*actors.Actor
	pressure chan struct{}
}

// checkpointTarget adapts the store to the checkpointer.
type checkpointTarget struct{ s *Store }

func (t checkpointTarget) TryCheckpoint(ctx context.Context) (bool, error) {
	return t.s.tryCheckpoint(ctx)
}

// compactionTarget adapts the store to the collector.
type compactionTarget struct{ s *Store }

func (t compactionTarget) CompactionDue() bool { return t.s.compactionDue() }

func (t compactionTarget) TryCompact(ctx context.Context) (bool, error) {
	return t.s.tryCompact(ctx)
}

// logTarget adapts the hybrid log to the log shifter and the syncer.
type logTarget struct{ s *Store }

func (t logTarget) Pressure() <-chan struct{} { return t.s.bg.pressure }

func (t logTarget) MaintainLog(ctx context.Context) error {
	if t.s.closed.Load() {
		return nil
	}
	if err := t.s.log.Maintain(); err != nil {
		return err
	}
	// Truncations of the delta log run here, handed off by the syncs
	// (handOffTruncation), so that the syncer keeps its interval.
	return t.s.log.MaybeTruncate()
}

// handOffTruncation is the log's cue that a truncation of the delta log is
// due: with the background services running, the log shifter takes it
// (woken now, and at the latest at its next fallback pass).
func (s *Store) handOffTruncation() bool {
	if s.bg.tree == nil || !s.bg.tree.Running() {
		return false
	}
	s.signalPressure()
	return true
}

func (t logTarget) SyncLog(ctx context.Context) error {
	if t.s.closed.Load() {
		return nil
	}
	// While the syncer runs, writers are paced to its syncs (log pace.go);
	// stopBackground turns that off.
	t.s.log.SetSyncDeadline(t.s.opts.SyncInterval)
	return t.s.log.WaitDurable(t.s.log.Tail())
}

// wakeCollector asks the collector to check now whether compaction is due:
// the log just opened a segment, so the disk grew. Without it, a fast
// writer could fill many segments between two GCInterval ticks.
func (s *Store) wakeCollector() {
	if a := s.bg.byName[string(actors.Collector)]; a != nil {
		a.Trigger()
	}
}

// signalPressure wakes the log shifter without blocking.
func (s *Store) signalPressure() {
	select {
	case s.bg.pressure <- struct{}{}:
	default:
	}
}

// serviceNames are the names of the background services, in tree order.
var serviceNames = []string{
	string(actors.Checkpointer), string(actors.Collector), string(actors.LogShifter), string(actors.Syncer),
	string(actors.Expirer),
}

// validateRestartPolicies refuses a RestartPolicies key that names no
// service: a typo would otherwise silently keep the default policy.
func validateRestartPolicies(p map[string]RestartPolicy) []string {
	var problems []string
	for name := range p {
		if !slices.Contains(serviceNames, name) {
			problems = append(problems, fmt.Sprintf("RestartPolicies names unknown service %q (known: %s)",
				name, strings.Join(serviceNames, ", ")))
		}
	}
	slices.Sort(problems)
	return problems
}

// buildBackground creates the (stopped) supervision tree from the options.
func (s *Store) buildBackground() error {
	var clk actors.Clock = actors.SystemClock{}
	if s.opts.clock != nil {
		clk = s.opts.clock
	}
	var kids []supervisor.Child
	s.bg.byName = map[string]*actors.Actor{}
	add := func(a *actors.Actor, p supervisor.Policy) {
		if override, ok := s.opts.RestartPolicies[a.String()]; ok {
			p = override
		}
		kids = append(kids, supervisor.Child{Service: a, Policy: p})
		s.bg.byName[a.String()] = a
	}
	if s.opts.CheckpointInterval > 0 {
		add(actors.NewCheckpointer(checkpointTarget{s}, s.opts.CheckpointInterval, clk), supervisor.CheckpointerPolicy())
	}
	if s.opts.GCInterval > 0 {
		add(actors.NewCollector(compactionTarget{s}, s.opts.GCInterval, clk), supervisor.CollectorPolicy())
	}
	add(actors.NewLogShifter(logTarget{s}, shifterFallback, clk), supervisor.LogShifterPolicy())
	if s.opts.SyncMode == SyncPeriodic {
		add(actors.NewSyncer(logTarget{s}, s.opts.SyncInterval, clk), supervisor.SyncerPolicy())
	}
	add(actors.NewExpirer(expiryTarget{s}, expirerInterval, clk), supervisor.ExpirerPolicy())
	tree, err := supervisor.New(supervisor.Config{Name: "rskv:" + s.dir, Children: kids, Logger: s.opts.Logger})
	if err != nil {
		return errors.Wrap(err, "rskv: build background services")
	}
	if f := s.opts.ServiceFaults; f != nil {
		if err := f.bind(s); err != nil {
			return err
		}
	}
	s.bg.tree = tree
	return nil
}

// StartBackground starts the background services. It returns
// ErrAlreadyRunning if they run already, ErrClosed on a closed store.
func (s *Store) StartBackground() error {
	if err := s.writable(); err != nil {
		return err
	}
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.bg.tree.Start(); err != nil {
		if errors.Is(err, supervisor.ErrAlreadyRunning) {
			return errors.Wrapf(ErrAlreadyRunning, "%s", s.dir)
		}
		return errors.Wrap(err, "rskv: start background services")
	}
	return nil
}

// StopBackground stops the background services, waiting for each to finish
// its current step (a checkpoint or compaction in progress completes or is
// abandoned cleanly). It is idempotent. The store keeps working without the
// services: writers flush and evict inline when memory is full.
func (s *Store) StopBackground() error {
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	return s.stopBackground()
}

func (s *Store) stopBackground() error {
	err := s.bg.tree.Stop()
	if errors.Is(err, supervisor.ErrStopTimeout) {
		// A step outlived its stop timeout: it will finish; wait for it so
		// that nothing runs once we return.
		s.opts.Logger.Warn("rskv: background service slow to stop", "err", err)
		err = s.bg.tree.Wait(context.Background())
	}
	// No syncer runs now (a late step of it could have turned pacing on
	// again, hence after the wait): nothing should wait for its syncs.
	s.log.SetSyncDeadline(0)
	return errors.Wrap(err, "rskv: stop background services")
}

// BackgroundStats describes the background services.
func (s *Store) BackgroundStats() BackgroundStats {
	st := s.bg.tree.Status()
	return BackgroundStats{
		Running:            st.Running,
		CheckpointEnabled:  s.bg.byName[string(actors.Checkpointer)] != nil,
		GCEnabled:          s.bg.byName[string(actors.Collector)] != nil,
		CheckpointInterval: s.opts.CheckpointInterval,
		GCInterval:         s.opts.GCInterval,
		ActiveServices:     st.Active,
	}
}

// Services reports the supervision tree, one row per service.
func (s *Store) Services() []ServiceStatus {
	st := s.bg.tree.Status()
	out := make([]ServiceStatus, 0, len(st.Services))
	for _, r := range st.Services {
		out = append(out, ServiceStatus{
			Name: r.Name, Running: r.Running, Restarts: r.Restarts, LastError: r.LastError,
			Failures: r.Failures, BackingOff: r.BackingOff, GivenUp: r.GivenUp,
		})
	}
	return out
}

// ServicesReport renders the supervision tree as text, for people: one line
// per service with its state, restarts, failures and last error.
func (s *Store) ServicesReport() string { return s.bg.tree.String() }
