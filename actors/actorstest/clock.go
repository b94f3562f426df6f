package actorstest

import (
	"sync"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/actors"
)

// Clock is a fake [actors.Clock]. Time stands still until [Clock.Advance]
// moves it, and tickers fire only then. It is safe for concurrent use.
//
// A service creates its ticker when its Serve starts, so a test that
// advances the clock right after starting a service may advance it before
// the ticker exists, and the tick is lost. [Clock.WaitForTickers] closes
// that race.
type Clock struct {
	mu      sync.Mutex // protects the fields below
	now     time.Time
	tickers map[*ticker]struct{} // live (not stopped) tickers
	// changed is closed, and replaced, whenever tickers changes, to wake
	// WaitForTickers.
	changed chan struct{}
}

// NewClock returns a fake clock that reads start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, tickers: map[*ticker]struct{}{}, changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTicker returns a ticker whose first tick is due d after the current
// fake time. It panics if d is not positive, like time.NewTicker.
func (c *Clock) NewTicker(d time.Duration) actors.Ticker {
	if d <= 0 {
		panic(errors.AssertionFailedf("actorstest: non-positive ticker period %s", d))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &ticker{clock: c, period: d, next: c.now.Add(d), c: make(chan time.Time, 1)}
	c.tickers[t] = struct{}{}
	c.notifyLocked()
	return t
}

// Advance moves the fake time forward by d and fires every ticker whose tick
// fell due. Like a real ticker, one that is not read in time keeps a single
// pending tick and drops the rest.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.tickers {
		if t.next.After(c.now) {
			continue
		}
		missed := c.now.Sub(t.next) / t.period
		t.next = t.next.Add((missed + 1) * t.period)
		select {
		case t.c <- c.now:
		default:
		}
	}
}

// Tickers returns the number of live tickers.
func (c *Clock) Tickers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tickers)
}

// WaitForTickers waits until at least n tickers are live, so that the next
// Advance reaches the services that should be waiting on them. It returns
// an error if that does not happen within timeout (a real-time guard against
// a hung test, not a measurement).
func (c *Clock) WaitForTickers(n int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		have, changed := len(c.tickers), c.changed
		c.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return errors.Newf("actorstest: %d tickers live after %s, want %d", have, timeout, n)
		}
	}
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type ticker struct {
	clock  *Clock
	period time.Duration
	next   time.Time // guarded by clock.mu
	c      chan time.Time
}

func (t *ticker) C() <-chan time.Time { return t.c }

func (t *ticker) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	if _, ok := t.clock.tickers[t]; ok {
		delete(t.clock.tickers, t)
		t.clock.notifyLocked()
	}
}
