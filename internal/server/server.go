package server

import (
	"context"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// Config configures a Server. Zero fields take their documented default.
type Config struct {
	// Password, if set, is required by AUTH or HELLO ... AUTH before any
	// other command (but QUIT).
	Password string
	// MaxBulkLen is proto-max-bulk-len; default 512 MB.
	MaxBulkLen int64
	// MaxClients is maxclients; default 10,000. A client beyond it gets
	// "-ERR max number of clients reached" and is closed.
	MaxClients int
	// OutputFlush is how many reply bytes a connection accumulates while it
	// executes pipelined commands before it writes them out; default 64 KiB.
	// It bounds a connection's reply buffer: a client that does not read
	// blocks its own connection (TCP backpressure), never the server.
	OutputFlush int
	// WriteTimeout closes a client that does not take its pending replies
	// within this long (a slow consumer); default 60s. The client gets no
	// error reply (it does not read); the server logs it and counts it in
	// INFO stats (slow_consumers_closed) and in the metrics.
	WriteTimeout time.Duration
	// ShutdownGrace bounds how long Shutdown waits for replies to be written
	// to clients that do not read; default 5s.
	ShutdownGrace time.Duration
	// Logger receives connection errors and shutdown messages; default
	// slog.Default().
	Logger *slog.Logger
	// Dir and SyncMode describe the store in INFO and CONFIG GET; optional.
	Dir      string
	SyncMode string
	// Version is reported by INFO and HELLO; default "dev".
	Version string
	// Clock, if set, is the time the commands judge expiry by (a
	// replicated server's: see replicated.go); nil: the system clock. The
	// store must be opened with the same clock (rskv.Options.Now).
	Clock func() time.Time
	// IO is how connections are served: IOEpoll (the default on Linux),
	// a few event loops for all connections, or IOGoroutine, a goroutine
	// per connection (the only one elsewhere). See loop.go.
	IO string
	// Loops is the number of event loops with IOEpoll; default 1 when
	// GOMAXPROCS is at most 2, else GOMAXPROCS/2 (the commands' store work
	// and the client's own processes want the other cores).
	Loops int
	// IOHold is how long an event loop keeps polling its connections
	// (without blocking, yielding to other goroutines between polls) after
	// a pass that served something, before it blocks in epoll_wait again;
	// default DefaultIOHold, negative: never (block at once). A client that
	// sends its next request within the hold is served without the
	// wake-up of a blocked thread (see loop.go, "Holding the CPU").
	IOHold time.Duration
	// BlockingWrites makes every write command a blocking one for the
	// event loops (run by a worker, never by a loop): a write that waits
	// for an fsync (SyncMode "always", the default for it) or for a
	// replication round trip must not stall the loop's other connections.
	BlockingWrites bool
}

// DefaultIOHold is Config.IOHold's default: a few round trips of an
// unpipelined client on the same machine.
const DefaultIOHold = 200 * time.Microsecond

// Config.IO values.
const (
	IOEpoll     = "epoll"
	IOGoroutine = "goroutine"
)

func (c *Config) withDefaults() Config {
	o := *c
	if o.MaxBulkLen <= 0 {
		o.MaxBulkLen = DefaultMaxBulkLen
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 10000
	}
	if o.OutputFlush <= 0 {
		o.OutputFlush = 64 << 10
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 60 * time.Second
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.IO == "" {
		o.IO = defaultIO
	}
	if o.IO != IOEpoll || !epollSupported {
		o.IO = IOGoroutine
	}
	if o.Loops <= 0 {
		o.Loops = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if o.IOHold == 0 {
		o.IOHold = DefaultIOHold
	}
	if o.SyncMode == "always" {
		o.BlockingWrites = true
	}
	return o
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("rskv server: closed")

// Server answers the Redis protocol over one Store. It does not own the
// Store: the caller closes it after Serve has returned.
type Server struct {
	cfg     Config
	st      *rskv.Store
	db      *db
	stats   *cmdStats
	started time.Time
	report  RecoveryReport

	mu      sync.Mutex
	ln      net.Listener
	clients map[uint64]*client
	closing atomic.Bool
	conns   sync.WaitGroup // connections (goroutines, or owned by a loop)
	loops   []*evloop      // IOEpoll's event loops
	loopWG  sync.WaitGroup // the loops' goroutines
	workers sync.WaitGroup // the loops' workers (blocking commands)
	// blockers counts the blocking commands announced or running (quiesce):
	// while it is not 0, loops run no command themselves.
	blockers atomic.Int64
	bg       sync.WaitGroup // BGSAVE
	served   chan struct{}  // closed when Serve has returned
	stop     chan struct{}  // closed by Shutdown or Serve's end: stops the sweeper
	stopped  sync.Once

	nextID        atomic.Uint64
	totalConns    atomic.Int64
	rejectedConns atomic.Int64
	protoErrors   atomic.Int64
	slowClosed    atomic.Int64

	lastSave      atomic.Int64 // unix seconds of the last successful checkpoint
	bgsaveRunning atomic.Bool
	lastBgsaveErr atomic.Pointer[string]
	saves         atomic.Int64

	scanCacheBytes atomic.Int64 // memory of the connections' SCAN snapshots

	repl Replicator // nil: not replicated (replicated.go)
}

// New makes a server over st and runs the startup pass (counting keys,
// finishing what a crash left half done; see RecoveryReport).
func New(st *rskv.Store, cfg Config) (*Server, error) {
	s := &Server{
		cfg:     cfg.withDefaults(),
		st:      st,
		db:      newDB(st),
		stats:   newCmdStats(),
		started: time.Now(),
		clients: map[uint64]*client{},
		served:  make(chan struct{}),
		stop:    make(chan struct{}),
	}
	s.db.clock = s.cfg.Clock
	rep, err := s.db.recover()
	if err != nil {
		return nil, err
	}
	s.report = rep
	if cps, err := st.Checkpoints(); err == nil && len(cps) > 0 {
		s.lastSave.Store(cps[len(cps)-1].Time.Unix())
	} else {
		s.lastSave.Store(s.started.Unix())
	}
	return s, nil
}

// IO returns how connections are served (Config.IO after defaults).
func (s *Server) IO() string { return s.cfg.IO }

// Recovery returns what the startup pass found.
func (s *Server) Recovery() RecoveryReport { return s.report }

// Serve accepts connections on ln until Shutdown, and returns only after
// every connection goroutine has ended. It returns ErrServerClosed after
// Shutdown, or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.ln != nil || s.closing.Load() {
		s.mu.Unlock()
		return errors.New("rskv server: Serve called twice or after Shutdown")
	}
	s.ln = ln
	s.bg.Add(1)
	go s.sweeper(s.stop)
	if s.ioEpoll() {
		s.startLoops()
	}
	s.mu.Unlock()
	defer close(s.served)
	var err error
	for {
		var nc net.Conn
		nc, err = ln.Accept()
		if err != nil {
			if s.closing.Load() {
				err = ErrServerClosed
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				break
			}
			// Out of file descriptors and the like: back off, keep serving.
			s.cfg.Logger.Warn("accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.accept(nc)
	}
	s.stopSweeper()
	s.conns.Wait()
	s.stopLoops()
	s.workers.Wait()
	s.bg.Wait()
	return err
}

func (s *Server) stopSweeper() { s.stopped.Do(func() { close(s.stop) }) }

func (s *Server) accept(nc net.Conn) {
	s.mu.Lock()
	if len(s.clients) >= s.cfg.MaxClients || s.closing.Load() {
		s.mu.Unlock()
		s.rejectedConns.Add(1)
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write([]byte("-ERR max number of clients reached\r\n"))
		_ = nc.Close()
		return
	}
	c := newClient(s, nc)
	s.clients[c.id] = c
	s.conns.Add(1)
	s.mu.Unlock()
	s.totalConns.Add(1)
	if s.ioEpoll() && s.adopt(c) {
		return
	}
	go s.serveConn(c)
}

// Shutdown stops accepting, lets every connection finish the commands it
// has received and write their replies, and waits until every connection
// goroutine has ended (or ctx is done). The caller closes the Store after.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	already := s.closing.Swap(true)
	if !already {
		s.stopSweeper()
	}
	ln := s.ln
	if ln != nil && !already {
		_ = ln.Close()
	}
	for _, c := range s.clients {
		c.wake(s.cfg.ShutdownGrace)
	}
	s.shutdownLoops(false)
	s.mu.Unlock()
	if ln == nil {
		s.conns.Wait()
		s.bg.Wait()
		return nil
	}
	select {
	case <-s.served:
		return nil
	case <-ctx.Done():
		// Cut the rest off; Serve still waits for their goroutines.
		s.mu.Lock()
		for _, c := range s.clients {
			if c.nc != nil {
				_ = c.nc.Close()
			}
		}
		s.shutdownLoops(true)
		s.mu.Unlock()
		<-s.served
		return ctx.Err()
	}
}

// serveConn is one connection's goroutine: it parses commands as they
// arrive, runs them in order, and writes their replies once it has run all
// it has received (or OutputFlush bytes of replies): pipelining costs one
// read and one write per batch.
func (s *Server) serveConn(c *client) {
	defer s.conns.Done()
	defer s.dropClient(c)
	for {
		for {
			args, err := c.rd.next()
			if err != nil {
				s.protoErrors.Add(1)
				c.w.err("ERR " + err.Error())
				_ = c.flush()
				s.cfg.Logger.Debug("protocol error, closing client", "client", c.addr, "err", err)
				return
			}
			if args == nil {
				break
			}
			if s.loops != nil && s.mayBlock(c, args) {
				// A goroutine connection beside event loops (a listener
				// without descriptors): its blocking commands quiesce the
				// loops as a worker's do.
				s.quiesce()
				s.exec(c, args)
				s.blockers.Add(-1)
			} else {
				s.exec(c, args)
			}
			if c.quit {
				_ = c.flush()
				return
			}
			if len(c.w.b) >= s.cfg.OutputFlush {
				if err := c.flush(); err != nil {
					s.writeFailed(c, err)
					return
				}
			}
		}
		if err := c.flush(); err != nil {
			s.writeFailed(c, err)
			return
		}
		if s.closing.Load() {
			return
		}
		n, err := c.rd.fill()
		if err != nil {
			return // EOF, reset, or the deadline Shutdown set
		}
		s.stats.shards[c.shard].netIn.Add(uint64(n))
		c.clock = monoNow()
		c.lastActive.Store(c.clock)
	}
}

func (s *Server) writeFailed(c *client, err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) && !s.closing.Load() {
		s.slowClosed.Add(1)
		s.cfg.Logger.Warn("closing a client that read no reply for the write timeout (slow consumer)",
			"client", c.addr, "timeout", s.cfg.WriteTimeout)
	}
}

func (s *Server) dropClient(c *client) {
	c.dropScanCache()
	s.db.unwatch(c.multi.watched)
	c.multi.watched = nil
	if c.nc != nil {
		_ = c.nc.Close()
	}
	s.mu.Lock()
	delete(s.clients, c.id)
	s.mu.Unlock()
}

// mayBlock reports whether the command args may wait for long (on the
// disk, on every stripe, on other transactions, on a scan of the store):
// an event loop hands it to a worker rather than run it.
func (s *Server) mayBlock(c *client, args [][]byte) bool {
	return s.mayBlockCmd(c, lookup(c, args[0]))
}

// mayBlockCmd is mayBlock for the command looked up (nil: unknown).
func (s *Server) mayBlockCmd(c *client, cmd *command) bool {
	if cmd == nil {
		return false
	}
	if cmd.flags&flagMayBlock != 0 {
		return true
	}
	if !c.repl.applier && s.repl != nil {
		// Replicated: a command may wait for a raft commit, a forward to
		// the leader or a leadership round (replicated.go).
		return true
	}
	return s.cfg.BlockingWrites && cmd.flags&flagWrite != 0 && !c.multi.on
}

// exec runs one command: lookup, arity, authentication, then the handler.
// The order of the checks is Redis's.
func (s *Server) exec(c *client, args [][]byte) {
	s.execCmd(c, lookup(c, args[0]), args)
}

// execCmd is exec with args[0] looked up already (nil: unknown).
func (s *Server) execCmd(c *client, cmd *command, args [][]byte) { s.run(c, cmd, args, false) }

// run is exec. batched (an event loop running a connection's commands
// inline, loop.go) leaves the clock alone and notes the command in c.batch,
// which observeBatch counts.
func (s *Server) run(c *client, cmd *command, args [][]byte, batched bool) {
	if cmd == nil {
		c.w.err(errUnknownCommand(args))
		s.stats.unknown.Add(1)
		c.multi.dirty = c.multi.on
		return
	}
	if (cmd.arity > 0 && len(args) != cmd.arity) || (cmd.arity < 0 && len(args) < -cmd.arity) {
		c.w.err(errArity(cmd.name))
		s.stats.failed(cmd)
		c.multi.dirty = c.multi.on
		return
	}
	if !c.authed && cmd.flags&flagNoAuth == 0 {
		c.w.err(errNoAuth)
		s.stats.failed(cmd)
		c.multi.dirty = c.multi.on
		return
	}
	if c.multi.on && queues(cmd) {
		c.queue(args)
		return
	}
	if c.lastCmd.Load() != cmd {
		c.lastCmd.Store(cmd) // a store only when it changes: the same command in a row costs a load
	}
	var touched []*watchEntry
	if cmd.flags&flagWrite != 0 && s.db.watching.Load() != 0 {
		touched = s.db.touchBegin(cmd, args, c.sc.tx != nil)
	}
	// One clock read per command: it starts when the one before ended (or
	// when its batch was read), which charges it its own parsing too.
	start := c.clock
	before := len(c.w.b)
	// The applier's test comes first: the state machine applies entries
	// (at restart, from raft's log) before SetReplicator has run.
	if c.repl.applier || s.repl == nil || !s.routed(c, cmd, args) {
		cmd.fn(c, args)
	}
	if touched != nil {
		touchEnd(touched)
	}
	failed := len(c.w.b) > before && c.w.b[before] == '-'
	if batched {
		c.batch = append(c.batch, batchedCmd{cmd: cmd, failed: failed})
		return
	}
	c.clock = monoNow()
	s.stats.observe(c.shard, cmd, time.Duration(c.clock-start), failed)
}

// batchedCmd is a command run inline by an event loop, not yet counted.
type batchedCmd struct {
	cmd    *command
	failed bool
}

// maxBatch bounds c.batch: a longer batch is counted in parts.
const maxBatch = 64

// observeBatch counts the commands of c.batch, which ran one after the
// other since c.clock, and shares the time among them: one clock read per
// batch (a pipeline of 16 GETs costs one, not 16). A batch of one command,
// every unpipelined request, is timed exactly; in a longer one each
// command gets the batch's mean (the commands a loop runs inline are the
// short ones: anything that may block goes to a worker, timed on its own).
func (s *Server) observeBatch(c *client) {
	if len(c.batch) == 0 {
		return
	}
	now := monoNow()
	d := time.Duration(now-c.clock) / time.Duration(len(c.batch))
	// A run of the same command (a pipeline of INCRs) is counted at once.
	for i := 0; i < len(c.batch); {
		b := c.batch[i]
		j := i + 1
		for j < len(c.batch) && c.batch[j] == b {
			j++
		}
		s.stats.observeN(c.shard, b.cmd, j-i, d, b.failed)
		i = j
	}
	clear(c.batch) // no command pointers kept
	c.batch = c.batch[:0]
	c.clock = now
}

// clientList returns the connected clients (CLIENT LIST, INFO clients).
func (s *Server) clientList() []*client {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, c)
	}
	return out
}

// client is one connection.
type client struct {
	s      *Server
	id     uint64
	nc     net.Conn // nil once an event loop serves the connection (fd)
	addr   string
	laddr  string
	rd     *reader
	w      replies
	sc     scratch
	rmw    rmwState
	multi  multiState
	txs    txState
	repl   replState
	scan   *scanCache
	shard  int
	authed bool
	quit   bool
	since  time.Time

	lastCmd    atomic.Pointer[command]
	lastActive atomic.Int64 // monoNow of the last read
	clock      int64        // monoNow of the last read or the last command's end (exec)
	wdl        int64        // monoNow of the write deadline set last (0: none)

	mu      sync.Mutex // name, lib
	name    string
	libName string
	libVer  string

	proto atomic.Int32 // 2 or 3, for CLIENT LIST (w.resp3 is the connection's own copy)

	// batch: the commands an event loop ran inline and has not counted
	// yet (observeBatch).
	batch []batchedCmd

	lower [32]byte // the command name lowercased, for the table lookup
	// The last name looked up as sent and its command: a pipeline of one
	// command costs a comparison, not a lowercasing and a map lookup.
	memo    [16]byte
	memoLen int
	memoCmd *command

	// With IOEpoll (loop.go): the descriptor, the loop, the offset of the
	// replies written so far, whether the loop waits for the socket to take
	// them, and a command parsed by a worker for the loop to run.
	fd      int
	lp      *evloop
	wOff    int
	blocked bool
	next    [][]byte
	queued  bool // in its loop's flushq
}

func newClient(s *Server, nc net.Conn) *client {
	c := &client{
		s:      s,
		id:     s.nextID.Add(1),
		nc:     nc,
		addr:   nc.RemoteAddr().String(),
		laddr:  nc.LocalAddr().String(),
		authed: s.cfg.Password == "",
		since:  time.Now(),
		fd:     -1,
	}
	c.shard = int(c.id % statShards)
	c.proto.Store(2)
	c.rd = newReader(nc, s.cfg.MaxBulkLen, func() bool { return c.authed })
	c.clock = monoNow()
	c.lastActive.Store(c.clock)
	return c
}

// flush writes the pending replies.
func (c *client) flush() error {
	if len(c.w.b) == 0 {
		return nil
	}
	d := c.s.cfg.WriteTimeout
	if c.s.closing.Load() {
		d = min(d, c.s.cfg.ShutdownGrace) // Shutdown does not wait longer for a client that does not read
	}
	// Setting a deadline re-arms a runtime timer (and reads the wall clock
	// twice): keep the one set while it ends within the last 1/32 of d from
	// now, so a client that keeps reading costs one SetWriteDeadline every
	// d/32, not one per reply. A client that stops reading is closed after
	// between 31/32 d and d.
	if now, want := monoNow(), int64(d); c.wdl-now > want || c.wdl-now < want-want/32 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(d)); err != nil {
			return err
		}
		c.wdl = now + want
	}
	n, err := c.nc.Write(c.w.b)
	c.s.stats.shards[c.shard].netOut.Add(uint64(n))
	if cap(c.w.b) > 4*c.s.cfg.OutputFlush {
		c.w.b = nil // a huge reply: do not keep its buffer
	} else {
		c.w.b = c.w.b[:0]
	}
	return err
}

// wake makes a connection blocked in a read return at once, and bounds the
// time left for its writes (Shutdown).
//
// It runs on Shutdown's goroutine, so it leaves c.wdl alone: flush, seeing
// the server closing, re-arms the deadline to ShutdownGrace itself.
func (c *client) wake(grace time.Duration) {
	if c.nc == nil {
		return // a loop's: the loop is told (shutdownLoops)
	}
	_ = c.nc.SetReadDeadline(time.Now())
	_ = c.nc.SetWriteDeadline(time.Now().Add(grace))
}

// monoBase is the origin of monoNow.
var monoBase = time.Now()

// monoNow is the monotonic clock in nanoseconds since monoBase: one clock
// read where time.Now takes two (wall and monotonic), for the per-command
// latency, the per-read activity stamp and the write deadline.
func monoNow() int64 { return int64(time.Since(monoBase)) }

func (c *client) getName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// lowerName lowercases a command name into the client's buffer; a name too
// long for any command returns nil.
func (c *client) lowerName(b []byte) []byte {
	if len(b) > len(c.lower) {
		return nil
	}
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		c.lower[i] = ch
	}
	return c.lower[:len(b)]
}

func lower(b []byte) string { return strings.ToLower(string(b)) }
