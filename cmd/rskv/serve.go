package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rskv-go/rskv/internal/server"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/rskv-go/rskv/pkg/rskv/rskvprom"
	"github.com/spf13/cobra"
)

// serveFlags are the flags of rskv serve (see SERVER.md).
type serveFlags struct {
	store        storeFlags
	addr         string
	password     string
	metricsAddr  string
	sync         string
	writeTimeout time.Duration
	maxClients   int
	raft         raftFlags // replicated mode (serve_raft.go)
	io           string
	ioLoops      int
	ioHold       time.Duration
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --dir DIR [--addr 127.0.0.1:6380]",
		Short: "Serve a store over the Redis protocol (RESP2 and RESP3)",
		Long: "serve opens (or creates) the store in --dir and answers Redis clients on --addr.\n" +
			"SIGTERM or SIGINT stops accepting, finishes the commands received, closes the store and exits 0.",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), &f, cmd) },
	}
	f.store.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:6380", "address to listen on")
	fl.StringVar(&f.password, "password", "", "require AUTH with this password")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics")
	fl.StringVar(&f.sync, "sync", "periodic", "when writes are durable: none, periodic or always (always: before the reply)")
	fl.DurationVar(&f.writeTimeout, "client-write-timeout", 60*time.Second, "close a client that reads no reply for this long")
	fl.IntVar(&f.maxClients, "maxclients", 10000, "most clients connected at once")
	f.raft.register(fl)
	fl.StringVar(&f.io, "io", server.IOEpoll, "how connections are served: epoll (event loops; Linux) or goroutine (one per connection)")
	fl.IntVar(&f.ioLoops, "io-loops", 0, "event loops with --io epoll (0: 1 up to 2 CPUs, else half the CPUs)")
	fl.DurationVar(&f.ioHold, "io-hold", server.DefaultIOHold, "with --io epoll, how long a loop keeps polling after serving before it blocks "+
		"(saves the wake-up of unpipelined clients; costs at most this much CPU after the last request; 0 or negative, as -1ns: block at once)")
	return cmd
}

// openServeStore opens or creates the store as openOrCreate does, with the
// background services on and the sync mode set.
func openServeStore(f *serveFlags) (*rskv.Store, error) {
	mode, err := parseSyncMode(f.sync)
	if err != nil {
		return nil, err
	}
	opts, err := f.store.options(true)
	if err != nil {
		return nil, err
	}
	opts.SyncMode = mode
	err = checkStore(f.store.dir)
	switch {
	case err == nil, errors.Is(err, errNoDir):
	case errors.Is(err, errNoStore):
		entries, rerr := os.ReadDir(f.store.dir)
		if rerr != nil {
			return nil, errors.Wrapf(rerr, "read %s", f.store.dir)
		}
		if len(entries) > 0 {
			return nil, errors.Newf("%s is not empty and holds no rskv store (no %s file); refusing to create one there", f.store.dir, storeMarker)
		}
	default:
		return nil, err
	}
	return f.store.open(opts)
}

// ioHold is --io-hold as Config.IOHold, whose 0 means the default: a
// --io-hold=0 blocks at once, as a negative one does.
func ioHold(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func runServe(ctx context.Context, f *serveFlags, cmd *cobra.Command) (err error) {
	if f.io != server.IOEpoll && f.io != server.IOGoroutine {
		return errors.Newf("--io %q: want %s or %s", f.io, server.IOEpoll, server.IOGoroutine)
	}
	var stopRaft func() error
	var (
		st   *rskv.Store
		repl *replicated
	)
	if f.raft.enabled() {
		repl, st, err = openReplicated(f)
	} else {
		st, err = openServeStore(f)
	}
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	scfg := server.Config{
		Password: f.password, MaxClients: f.maxClients, WriteTimeout: f.writeTimeout,
		Logger: logger, Dir: f.store.dir, SyncMode: f.sync, IO: f.io, Loops: f.ioLoops,
		IOHold: ioHold(f.ioHold),
	}
	if repl != nil {
		scfg.Clock = repl.clock.Now
		// A replicated command waits for a raft commit or a forward to the
		// leader, and a read for a leadership round: those waits must not
		// stall an event loop's other connections, so this mode serves a
		// goroutine per connection.
		scfg.IO = server.IOGoroutine
	}
	srv, err := server.New(st, scfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return errors.Wrapf(err, "listen on %s", f.addr)
	}
	if repl != nil {
		// Raft stops first (its in-flight commands answer an error), then
		// the connections, then the store (deferred above).
		node, err := repl.start(srv, st, ln.Addr().String(), f.password, logger)
		if err != nil {
			_ = ln.Close()
			return err
		}
		srv.SetReplicator(node)
		defer func() {
			if cerr := node.Close(); cerr != nil && err == nil {
				err = errors.Wrap(cerr, "stop raft")
			}
		}()
		stopRaft = node.Close
	}
	var metrics *http.Server
	metricsDone := make(chan error, 1)
	if f.metricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(srv.Collector(), rskvprom.NewCollector(st, "rskv"),
			collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mln, err := net.Listen("tcp", f.metricsAddr)
		if err != nil {
			_ = ln.Close()
			return errors.Wrapf(err, "listen on --metrics-addr %s", f.metricsAddr)
		}
		metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { metricsDone <- metrics.Serve(mln) }()
	}
	rep := srv.Recovery()
	logger.Info("rskv serve ready", "addr", ln.Addr().String(), "dir", f.store.dir, "sync", f.sync, "io", srv.IO(), "keys", rep.Keys,
		"expiring", rep.Expiring, "removed_orphans", rep.Orphans)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case sig := <-sigs:
		logger.Info("shutting down", "signal", sig.String())
	case <-ctx.Done():
	case err := <-served:
		served <- err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if stopRaft != nil {
		if err := stopRaft(); err != nil {
			logger.Warn("stopping raft", "err", err)
		}
	}
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown cut connections off", "err", err)
	}
	if serr := <-served; serr != nil && !errors.Is(serr, server.ErrServerClosed) {
		err = errors.Wrap(serr, "serve")
	}
	if metrics != nil {
		_ = metrics.Shutdown(sctx)
		if merr := <-metricsDone; merr != nil && !errors.Is(merr, http.ErrServerClosed) && err == nil {
			err = errors.Wrap(merr, "metrics server")
		}
	}
	fmt.Fprintln(cmd.OutOrStdout(), "rskv serve: stopped; store closed")
	return err
}
