package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-redis keeps a process-wide goroutine for its connection checks.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		goleak.IgnoreTopFunction("time.Sleep"))
}

type testServer struct {
	t    testing.TB
	dir  string
	st   *rskv.Store
	srv  *Server
	addr string
	done chan error
}

// startServer runs a Server over a new store in a temporary directory on
// 127.0.0.1; the test's cleanup shuts it down and closes the store.
func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: t.TempDir()}
	ts.open(cfg)
	return ts
}

// testConfig, when set, adjusts the Config of every server a test starts
// (TestGoroutineIO, TestBlockingWritesIO run other tests under it).
var testConfig func(*Config)

func (ts *testServer) open(cfg Config) {
	t := ts.t
	if testConfig != nil {
		testConfig(&cfg)
	}
	st, err := rskv.Open(ts.dir, &rskv.Options{MemorySize: 16 << 20, DisableBackground: true})
	require.NoError(t, err)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := New(st, cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ts.st, ts.srv, ts.addr, ts.done = st, srv, ln.Addr().String(), make(chan error, 1)
	go func() { ts.done <- srv.Serve(ln) }()
	t.Cleanup(ts.stop)
}

// stop shuts the server down and closes the store (idempotent).
func (ts *testServer) stop() {
	if ts.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(ts.t, ts.srv.Shutdown(ctx))
	require.ErrorIs(ts.t, <-ts.done, ErrServerClosed)
	require.NoError(ts.t, ts.st.Close())
	ts.srv = nil
}

// restart stops the server and serves the same store directory again.
func (ts *testServer) restart(cfg Config) {
	ts.stop()
	ts.open(cfg)
}

func (ts *testServer) client(proto int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: ts.addr, Protocol: proto, DisableIdentity: false,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, PoolSize: 4})
	ts.t.Cleanup(func() { _ = c.Close() })
	return c
}
