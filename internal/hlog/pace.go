package hlog

import (
	"sync"
	"sync/atomic"
	"time"
)

// Pacing: SyncPeriodic promises that a write is durable within about one
// SyncInterval. When writers produce more than the device can make durable
// in that time, syncs fall behind: each one has more to write than the last,
// and the time a write waits to become durable (the sync lag) grows without
// bound, and with it the delta log. The pacer turns that into back-pressure,
// the way a group commit does under SyncAlways, only gentler:
//
//   - every completed sync arms a deadline, its capture point plus
//     paceSlack × the interval: by then the next sync should have completed;
//   - if the deadline passes first, the log is behind: SyncPeriodic writers
//     (WaitCaughtUp) wait until a sync completes before they return; one that
//     has waited an interval with no sync running (captured, not completed)
//     runs a sync itself (WaitDurable), so a stalled syncer cannot hold
//     writers up for long;
//   - when syncs keep up the cost to a writer is one atomic load.
//
// The pacer also measures the sync lag: from one sync's capture point to the
// end of the next sync, the longest any write waited to become durable.
type pacer struct {
	// behind is set when a deadline passed with no sync completed; writers
	// read it on every write.
	behind atomic.Bool
	// lagMax is the longest sync lag seen, in nanoseconds; paced counts
	// the writes that waited.
	lagMax atomic.Int64
	paced  atomic.Uint64
	// completed is the capture number (Log.captureSeq) of the last
	// completed sync: a larger captureSeq means one is running (or failed).
	completed atomic.Uint64

	mu sync.Mutex
	// interval is the sync interval the deadlines are armed with; 0 means
	// pacing is off (no syncer runs).
	interval time.Duration
	timer    *time.Timer
	deadline time.Time
	// caughtUp is closed by the first sync that completes while behind.
	caughtUp chan struct{}
	// lastCapture is the capture time of the last completed sync.
	lastCapture time.Time
}

// paceSlack is how many sync intervals after a sync's capture point the next
// sync must have completed before writers are paced: one interval for the
// syncer's wait, half of one for the sync's own writing.
const paceSlack = 1.5

// SetSyncDeadline turns pacing on with the given sync interval, or off with
// 0. The store turns it on while its syncer runs and off when the
// background services stop, so that nothing waits for syncs nobody runs.
func (l *Log) SetSyncDeadline(interval time.Duration) {
	p := &l.pace
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.interval == interval {
		return
	}
	p.interval = interval
	if interval > 0 {
		return // armed by the next completed sync
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.deadline = time.Time{}
	p.catchUpLocked()
}

// syncCompleted is called (with maintMu held) by every sync that completed,
// with the time its capture began and its capture number.
func (p *pacer) syncCompleted(capture time.Time, seq uint64) {
	p.completed.Store(seq)
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.lastCapture.IsZero() {
		if lag := int64(now.Sub(p.lastCapture)); lag > p.lagMax.Load() {
			p.lagMax.Store(lag)
		}
	}
	p.lastCapture = capture
	p.catchUpLocked()
	if p.interval <= 0 {
		return
	}
	p.deadline = capture.Add(time.Duration(paceSlack * float64(p.interval)))
	d := time.Until(p.deadline)
	if p.timer == nil {
		p.timer = time.AfterFunc(d, p.expire)
	} else {
		p.timer.Reset(d)
	}
}

// expire runs when a deadline timer fires: if no sync completed since it
// was armed (the deadline is still the one it fired for), the log is behind.
func (p *pacer) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.interval <= 0 || p.deadline.IsZero() || time.Now().Before(p.deadline) {
		return // stale: pacing went off, or a sync re-armed it
	}
	if !p.behind.Load() {
		p.caughtUp = make(chan struct{})
		p.behind.Store(true)
	}
}

// catchUpLocked ends a behind period, releasing the paced writers.
func (p *pacer) catchUpLocked() {
	if p.behind.Load() {
		p.behind.Store(false)
		close(p.caughtUp)
		p.caughtUp = nil
	}
}

// Behind says whether syncs are late and SyncPeriodic writers should wait
// (WaitCaughtUp). It is one atomic load.
func (l *Log) Behind() bool { return l.pace.behind.Load() }

// WaitCaughtUp is called by a SyncPeriodic writer after its write when
// Behind says the syncs are late: it returns once a sync completes, or,
// when a sync interval passed with no sync running, after running one
// itself.
// The caller must not be epoch-protected.
func (l *Log) WaitCaughtUp() error {
	p := &l.pace
	p.mu.Lock()
	ch, interval := p.caughtUp, p.interval
	p.mu.Unlock()
	if ch == nil || interval <= 0 {
		return nil
	}
	p.paced.Add(1)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ch:
			return nil
		case <-t.C:
		}
		select {
		case <-ch:
			// Caught up as the interval ran out (select picks at random
			// between two ready cases): no sync of our own is needed.
			return nil
		default:
		}
		if err := l.Err(); err != nil {
			return err // the late sync failed: it will never catch up
		}
		if l.captureSeq.Load() != p.completed.Load() {
			// A sync has captured and not completed: it is running, late
			// rather than stalled. Wait for it rather than queue a sync
			// of our own behind it, which would hold this writer for a
			// second long sync.
			t.Reset(interval)
			continue
		}
		// No sync is running (the syncer is stalled before its capture,
		// or stopped without turning pacing off yet): join a group
		// commit, which also makes this write durable.
		return l.WaitDurable(l.Tail())
	}
}

// SyncLagMax is the longest sync lag seen since the log opened: the time
// from one sync's capture point to the end of the next sync, which bounds
// how long a write waited to become durable under periodic syncs.
func (l *Log) SyncLagMax() time.Duration { return time.Duration(l.pace.lagMax.Load()) }

// PacedWrites counts the writes that WaitCaughtUp held up.
func (l *Log) PacedWrites() uint64 { return l.pace.paced.Load() }
