package actors

import "time"

// Clock is the source of time for the services' loops. Production code uses
// [SystemClock]; tests use a fake they advance by hand (actorstest.Clock),
// so that no test waits for real time to pass.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTicker returns a ticker that delivers a tick every d, dropping ticks
	// for a slow receiver, like [time.NewTicker]. d must be positive.
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers ticks on a channel until stopped. It is what [time.Ticker]
// offers, as an interface so that a fake clock can implement it.
type Ticker interface {
	// C returns the channel on which ticks are delivered. It has a buffer of
	// one tick; further ticks are dropped until it is read.
	C() <-chan time.Time
	// Stop turns the ticker off. It does not close the channel.
	Stop()
}

// SystemClock is the [Clock] of the operating system, backed by package
// time. Its zero value is ready to use.
type SystemClock struct{}

// Now returns [time.Now].
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker returns a [time.Ticker] wrapped as a [Ticker].
func (SystemClock) NewTicker(d time.Duration) Ticker { return systemTicker{time.NewTicker(d)} }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }
func (t systemTicker) Stop()               { t.t.Stop() }
