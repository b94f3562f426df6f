package actorstest_test

import (
	"testing"
	"time"

	"github.com/rskv-go/rskv/actors/actorstest"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func ready(c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestClockFiresOnlyDueTickers(t *testing.T) {
	clk := actorstest.NewClock(epoch)
	fast, slow := clk.NewTicker(time.Second), clk.NewTicker(time.Minute)
	defer fast.Stop()
	defer slow.Stop()

	clk.Advance(999 * time.Millisecond)
	require.False(t, ready(fast.C()), "not due yet")
	clk.Advance(time.Millisecond)
	require.True(t, ready(fast.C()))
	require.False(t, ready(slow.C()))
	require.Equal(t, epoch.Add(time.Second), clk.Now())
}

func TestClockDropsTicksForASlowReader(t *testing.T) {
	clk := actorstest.NewClock(epoch)
	tk := clk.NewTicker(time.Second)
	defer tk.Stop()
	clk.Advance(10 * time.Second)
	clk.Advance(time.Second)
	require.Equal(t, epoch.Add(10*time.Second), <-tk.C(), "the first pending tick is kept")
	require.False(t, ready(tk.C()), "the rest were dropped")
	// The schedule stays on the period grid: next tick at 12s.
	clk.Advance(999 * time.Millisecond)
	require.False(t, ready(tk.C()))
	clk.Advance(time.Millisecond)
	require.True(t, ready(tk.C()))
}

func TestClockStoppedTickerNeverFires(t *testing.T) {
	clk := actorstest.NewClock(epoch)
	tk := clk.NewTicker(time.Second)
	require.Equal(t, 1, clk.Tickers())
	tk.Stop()
	tk.Stop() // idempotent
	require.Zero(t, clk.Tickers())
	clk.Advance(time.Hour)
	require.False(t, ready(tk.C()))
}

func TestClockWaitForTickers(t *testing.T) {
	clk := actorstest.NewClock(epoch)
	require.Error(t, clk.WaitForTickers(1, time.Millisecond), "times out with no ticker")

	done := make(chan error, 1)
	go func() { done <- clk.WaitForTickers(2, time.Minute) }()
	a := clk.NewTicker(time.Second)
	b := clk.NewTicker(time.Second)
	require.NoError(t, <-done)
	a.Stop()
	b.Stop()
}

func TestClockRejectsNonPositivePeriod(t *testing.T) {
	require.Panics(t, func() { actorstest.NewClock(epoch).NewTicker(0) })
}
