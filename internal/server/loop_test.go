//go:build linux

package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBlockingCommandDoesNotStallLoop: while a blocking command (SAVE)
// waits in its worker, the one event loop keeps answering the other
// connections, and the blocked connection's pipeline is answered in order
// once the command ends.
func TestBlockingCommandDoesNotStallLoop(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	testHookBlocking = func(args [][]byte) {
		if strings.EqualFold(string(args[0]), "save") {
			entered <- struct{}{}
			<-release
		}
	}
	t.Cleanup(func() { testHookBlocking = nil })
	ts := startServer(t, Config{IO: IOEpoll, Loops: 1})
	require.Equal(t, IOEpoll, ts.srv.IO())
	ctx := context.Background()
	other := ts.client(2)
	require.NoError(t, other.Set(ctx, "k", "v1", 0).Err())

	blocked := ts.raw()
	blocked.send("*1\r\n$4\r\nSAVE\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n")
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("SAVE did not reach its worker")
	}
	// The loop serves others meanwhile (their commands go to workers while
	// a blocking command runs), reads and writes alike.
	for i := 0; i < 20; i++ {
		require.NoError(t, other.Set(ctx, "k", "v2", 0).Err())
		require.Equal(t, "v2", other.Get(ctx, "k").Val())
	}
	r := ts.raw()
	r.cmd("PING")
	require.Equal(t, "+PONG\r\n", r.reply())
	close(release)
	require.Equal(t, "+OK\r\n", blocked.reply())
	require.Equal(t, "$2\r\nv2\r\n", blocked.reply())
	require.Equal(t, "+PONG\r\n", blocked.reply())
	require.Equal(t, int64(0), ts.srv.blockers.Load())
	// And the connection is back on the loop: its commands run inline again.
	blocked.cmd("GET", "k")
	require.Equal(t, "$2\r\nv2\r\n", blocked.reply())
}

// TestMixedPipelineOrder: a pipeline that alternates blocking and inline
// commands gets its replies in order.
func TestMixedPipelineOrder(t *testing.T) {
	ts := startServer(t, Config{IO: IOEpoll, Loops: 1})
	r := ts.raw()
	var b strings.Builder
	var want strings.Builder
	for i := 0; i < 200; i++ {
		k := "k" + itoa(i)
		b.WriteString("*3\r\n$3\r\nSET\r\n$" + itoa(len(k)) + "\r\n" + k + "\r\n$1\r\nv\r\n")
		want.WriteString("+OK\r\n")
		b.WriteString("*2\r\n$6\r\nEXISTS\r\n$" + itoa(len(k)) + "\r\n" + k + "\r\n")
		want.WriteString(":1\r\n")
		if i%10 == 0 {
			b.WriteString("*1\r\n$6\r\nDBSIZE\r\n*2\r\n$4\r\nKEYS\r\n$" + itoa(len(k)) + "\r\n" + k + "\r\n")
			want.WriteString(":" + itoa(i+1) + "\r\n*1\r\n$" + itoa(len(k)) + "\r\n" + k + "\r\n")
		}
	}
	r.send(b.String())
	var got strings.Builder
	for got.Len() < want.Len() {
		got.WriteString(r.reply())
	}
	require.Equal(t, want.String(), got.String())
}

// TestGoroutineIO runs the connection tests with a goroutine per
// connection (Config.IO IOGoroutine, rskv serve --io goroutine).
func TestGoroutineIO(t *testing.T) {
	runUnder(t, func(c *Config) { c.IO = IOGoroutine }, map[string]func(*testing.T){
		"Pipeline": TestPipeline, "SlowConsumer": TestSlowConsumer, "BadProtocol": TestBadProtocolClosesOnlyThatConnection,
		"Shutdown": TestShutdownFinishesReceivedCommands, "ShutdownSlow": TestShutdownDoesNotWaitForSlowConsumer,
		"Multi": TestMultiGoRedis, "WatchSameValue": TestWatchSameValueAborts, "LargeCommands": TestLargeCommandsInSmallReads,
		"Quit": TestQuit,
	})
}

// TestBlockingWritesIO runs the write-heavy tests with every write handed
// to a worker, as under --sync always (Config.BlockingWrites).
func TestBlockingWritesIO(t *testing.T) {
	runUnder(t, func(c *Config) { c.BlockingWrites = true; c.Loops = 2 }, map[string]func(*testing.T){
		"Pipeline": TestPipeline, "ConcurrentWriters": TestConcurrentWriters, "Multi": TestMultiGoRedis,
		"WatchCounter": TestWatchOptimisticCounter, "Shutdown": TestShutdownFinishesReceivedCommands,
		"SlowConsumer": TestSlowConsumer, "Strings": TestStrings,
	})
}

func runUnder(t *testing.T, cfg func(*Config), tests map[string]func(*testing.T)) {
	testConfig = cfg
	t.Cleanup(func() { testConfig = nil })
	for name, fn := range tests {
		t.Run(name, fn)
	}
}

// TestNoIOHold runs the connection tests with the loops blocking at once
// after every pass (Config.IOHold negative, rskv serve --io-hold=-1ns);
// the other tests run with the default hold.
func TestNoIOHold(t *testing.T) {
	runUnder(t, func(c *Config) { c.IOHold = -1 }, map[string]func(*testing.T){
		"Pipeline": TestPipeline, "SlowConsumer": TestSlowConsumer, "Shutdown": TestShutdownFinishesReceivedCommands,
		"ShutdownSlow": TestShutdownDoesNotWaitForSlowConsumer, "BlockingCommand": TestBlockingCommandDoesNotStallLoop,
		"MixedPipeline": TestMixedPipelineOrder, "ConcurrentWriters": TestConcurrentWriters,
	})
}

// TestIOHoldEndsInABlockingWait: after serving, a loop polls for IOHold
// and then blocks in epoll_wait (an idle server does not keep its CPU),
// and a request sent while it polls or after it blocked is answered.
func TestIOHoldEndsInABlockingWait(t *testing.T) {
	require.Equal(t, DefaultIOHold, (&Config{}).withDefaults().IOHold)
	require.Equal(t, time.Duration(-1), (&Config{IOHold: -1}).withDefaults().IOHold)
	blocked := make(chan struct{}, 1)
	testHookWait = func() {
		select {
		case blocked <- struct{}{}:
		default:
		}
	}
	t.Cleanup(func() { testHookWait = nil })
	ts := startServer(t, Config{IO: IOEpoll, Loops: 1, IOHold: 20 * time.Millisecond})
	r := ts.raw()
	for i := 0; i < 3; i++ {
		// Drain the blocking waits so far: the next one comes after this
		// round's request was served and its hold ran out.
		select {
		case <-blocked:
		default:
		}
		r.cmd("SET", "k", itoa(i))
		require.Equal(t, "+OK\r\n", r.reply())
		r.cmd("GET", "k") // within the hold, most likely: found by a poll
		require.Equal(t, "$1\r\n"+itoa(i)+"\r\n", r.reply())
		select {
		case <-blocked:
		case <-time.After(30 * time.Second): // a hang guard, not a timing
			t.Fatal("the loop never blocked after its hold")
		}
	}
}
