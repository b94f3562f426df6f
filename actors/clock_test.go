package actors_test

import (
	"testing"
	"time"

	"github.com/rskv-go/rskv/actors"
	"github.com/stretchr/testify/require"
)

func TestSystemClockTicks(t *testing.T) {
	var clk actors.Clock = actors.SystemClock{}
	before := clk.Now()
	tk := clk.NewTicker(time.Millisecond)
	defer tk.Stop()
	tick := <-tk.C()
	require.False(t, tick.Before(before), "a tick is not older than the ticker")
}
