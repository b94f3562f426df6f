package actorstest

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/rskv-go/rskv/actors"
)

// Target is a fake store that implements every target interface of package
// actors: [actors.CheckpointTarget], [actors.CompactionTarget],
// [actors.LogTarget] and [actors.SyncTarget]. It counts the work it is asked
// to do, and its knobs make it report a manual operation in progress, make
// compaction due, fail, or hold a call until released. The zero value is not
// usable; call NewTarget. It is safe for concurrent use.
//
// Give each service under test its own Target when a test wants to fail one
// service and watch the others carry on.
type Target struct {
	// Checkpoints counts checkpoints taken (TryCheckpoint calls that were
	// neither skipped nor failed).
	Checkpoints atomic.Int64
	// DueChecks counts CompactionDue calls.
	DueChecks atomic.Int64
	// Compactions counts compactions run.
	Compactions atomic.Int64
	// Passes counts MaintainLog calls that succeeded.
	Passes atomic.Int64
	// Syncs counts SyncLog calls that succeeded.
	Syncs atomic.Int64
	// Skipped counts TryCheckpoint and TryCompact calls skipped because
	// Busy was set.
	Skipped atomic.Int64

	// Busy makes TryCheckpoint and TryCompact report skipped=true, as when
	// a manual Checkpoint or Compact is in progress.
	Busy atomic.Bool
	// Due is CompactionDue's answer.
	Due atomic.Bool

	pressure chan struct{}

	mu sync.Mutex // protects the fields below
	// err, if not nil, is returned by every call that can fail.
	err error
	// gate, if not nil, holds every call until it is closed; entered gets
	// a value (if there is room) each time a call starts waiting on gate.
	gate    chan struct{}
	entered chan struct{}
}

// NewTarget returns a Target with nothing due, nothing busy and no error.
func NewTarget() *Target {
	return &Target{pressure: make(chan struct{}, 1)}
}

// SetErr makes every later call that can fail return err; nil restores
// success.
func (t *Target) SetErr(err error) {
	t.mu.Lock()
	t.err = err
	t.mu.Unlock()
}

// Hold makes every later call block until release is called, ignoring its
// context: it plays a step that finishes its work even when asked to stop,
// such as writing a checkpoint. entered receives a value when a call starts
// waiting (it buffers a few, enough for one call per service). release may be
// called more than once.
func (t *Target) Hold() (entered <-chan struct{}, release func()) {
	gate, ent := make(chan struct{}), make(chan struct{}, 8)
	t.mu.Lock()
	t.gate, t.entered = gate, ent
	t.mu.Unlock()
	var once sync.Once
	return ent, func() {
		once.Do(func() {
			t.mu.Lock()
			t.gate, t.entered = nil, nil
			t.mu.Unlock()
			close(gate)
		})
	}
}

// Signal signals write pressure, as the log does when the tail crosses a
// page: a non-blocking send on the Pressure channel.
func (t *Target) Signal() {
	select {
	case t.pressure <- struct{}{}:
	default:
	}
}

// enter waits on the gate, if any, and returns the error to fail with.
func (t *Target) enter() error {
	t.mu.Lock()
	gate, entered := t.gate, t.entered
	t.mu.Unlock()
	if gate != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-gate
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// TryCheckpoint implements actors.CheckpointTarget.
func (t *Target) TryCheckpoint(ctx context.Context) (bool, error) {
	if t.Busy.Load() {
		t.Skipped.Add(1)
		return true, nil
	}
	if err := t.enter(); err != nil {
		return false, err
	}
	t.Checkpoints.Add(1)
	return false, nil
}

// CompactionDue implements actors.CompactionTarget.
func (t *Target) CompactionDue() bool {
	t.DueChecks.Add(1)
	return t.Due.Load()
}

// TryCompact implements actors.CompactionTarget.
func (t *Target) TryCompact(ctx context.Context) (bool, error) {
	if t.Busy.Load() {
		t.Skipped.Add(1)
		return true, nil
	}
	if err := t.enter(); err != nil {
		return false, err
	}
	t.Compactions.Add(1)
	return false, nil
}

// Pressure implements actors.LogTarget.
func (t *Target) Pressure() <-chan struct{} { return t.pressure }

// MaintainLog implements actors.LogTarget.
func (t *Target) MaintainLog(ctx context.Context) error {
	if err := t.enter(); err != nil {
		return err
	}
	t.Passes.Add(1)
	return nil
}

// SyncLog implements actors.SyncTarget.
func (t *Target) SyncLog(ctx context.Context) error {
	if err := t.enter(); err != nil {
		return err
	}
	t.Syncs.Add(1)
	return nil
}

var (
	_ actors.CheckpointTarget = (*Target)(nil)
	_ actors.CompactionTarget = (*Target)(nil)
	_ actors.LogTarget        = (*Target)(nil)
	_ actors.SyncTarget       = (*Target)(nil)
)
