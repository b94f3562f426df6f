//go:build linux

package server

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cockroachdb/errors"
	"golang.org/x/sys/unix"
)

// The event loops (Config.IO "epoll", the default on Linux): a few
// goroutines, each with its own epoll instance, serve every connection.
// One epoll_wait returns the ready connections; each is read once (up to
// the free space of its buffer, as Redis reads 16 KiB), its complete
// commands are run in order, and once every ready connection has been
// served their replies are written, one write per connection (flushPass).
// A request costs a read and a write and a share of an epoll_wait, where a
// goroutine per connection costs a read that fails with EAGAIN, a park, a
// netpoll wake-up and a futex on top (see bench/redisbench/README.md).
// The reads and writes never block, so they are raw system calls (no
// entersyscall/exitsyscall).
//
// A command that may block (mayBlock: SAVE, FLUSHALL, EXEC, KEYS, a write
// under --sync always, ...) must not stall the loop's other connections:
// the loop stops watching that connection and hands it, with that command,
// to a worker goroutine, which runs it and the commands after it until the
// next one that need not block, then hands the connection back; the loop
// writes the replies. A connection is owned by one goroutine at a time, so
// its replies keep their order.
//
// A blocking command may hold stripes for long (FLUSHALL holds them all):
// a loop must not wait on them. So a worker announces it (Server.blockers)
// and waits until every loop has left the batch it was running inline
// (evloop.sect, odd while running); a loop that starts a batch while a
// blocker is announced runs nothing inline and hands every command to
// workers. Loops thus never wait on a blocking command's locks.

// Holding the CPU (Config.IOHold). Unpipelined, a request is a short
// burst of work between two waits: the loop blocks in epoll_wait, the
// client's next request wakes it. Each wake-up of a blocked thread costs
// more than the request itself on a VM (the idle CPU is woken by an IPI,
// the Go runtime hands the loop's P back and forth around the blocking
// call). So after a pass that served something the loop keeps polling
// (epoll_wait with a zero timeout, a raw call) for Config.IOHold, yielding
// to other goroutines between polls, and blocks only once nothing came for
// that long: under load the next request is found by a poll, and an idle
// server spends at most IOHold of CPU after its last request. Redis has no
// such hold but needs none: it is a single-threaded C process, and its
// blocked epoll_wait is woken without a runtime in between.

// testHookBlocking, set by tests only, runs in a worker before each
// blocking command, once the loops are quiesced.
var testHookBlocking func(args [][]byte)

// testHookWait, set by tests only, runs before each blocking epoll_wait.
var testHookWait func()

// errAgain is the fdReader's EAGAIN: nothing to read now.
var errAgain = errors.New("rskv server: would block")

// fdReader reads a non-blocking socket for the reader.
type fdReader int

func (f fdReader) Read(b []byte) (int, error) {
	for {
		n, errno := rawRead(int(f), b)
		switch {
		case n > 0:
			return n, nil
		case errno == 0:
			return 0, io.EOF
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			return 0, errAgain
		default:
			return 0, errno
		}
	}
}

// rawRead and rawWrite are the loop's calls that never block (its sockets
// are non-blocking): RawSyscall skips the
// runtime's entersyscall/exitsyscall, which a blocking call needs so the
// scheduler can hand the P on, and which cost more than the call itself
// here, three times a request unpipelined.
func rawRead(fd int, b []byte) (int, unix.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

func rawWrite(fd int, b []byte) (int, unix.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// evloop is one event loop.
type evloop struct {
	s      *Server
	epfd   int
	efd    int // eventfd: posts wake the loop
	events []unix.EpollEvent
	// conns are the connections the loop watches, by descriptor (a slice:
	// a lookup per event costs an index, not a map access).
	conns []*client
	// pending are the connections with replies the socket did not take:
	// the loop waits for EPOLLOUT and reads nothing from them meanwhile.
	pending map[*client]struct{}
	working int // connections owned by a worker
	// flushq are the connections this pass served, whose replies
	// flushPass writes at its end.
	flushq []*client

	// sect is odd while the loop runs commands inline (see blockers).
	sect atomic.Uint64
	_    [56]byte

	mu       sync.Mutex
	incoming []*client // new connections to register
	back     []*client // connections a worker hands back
	closing  bool      // Shutdown: finish what was read, flush, close
	abort    bool      // Shutdown's context ended: close everything now
	exit     bool      // Serve: every connection is gone, return
	notified atomic.Bool

	closeAt int64 // monoNow after which pending output is dropped (closing)
}

// ioEpoll reports whether connections are served by event loops.
func (s *Server) ioEpoll() bool { return s.cfg.IO == IOEpoll }

// startLoops makes the event loops; on failure (no epoll) the server falls
// back to a goroutine per connection.
func (s *Server) startLoops() {
	n := s.cfg.Loops
	for i := 0; i < n; i++ {
		l, err := newLoop(s)
		if err != nil {
			s.cfg.Logger.Warn("epoll unavailable, serving a goroutine per connection", "err", err)
			for _, l := range s.loops {
				l.closeFDs()
			}
			s.loops = nil
			s.cfg.IO = IOGoroutine
			return
		}
		s.loops = append(s.loops, l)
	}
	for _, l := range s.loops {
		s.loopWG.Add(1)
		go l.run()
	}
}

func newLoop(s *Server) (*evloop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, errors.Wrap(err, "epoll_create1")
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, errors.Wrap(err, "eventfd")
	}
	l := &evloop{s: s, epfd: epfd, efd: efd, events: make([]unix.EpollEvent, 256),
		pending: map[*client]struct{}{}}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}); err != nil {
		l.closeFDs()
		return nil, errors.Wrap(err, "epoll_ctl eventfd")
	}
	return l, nil
}

func (l *evloop) closeFDs() {
	_ = unix.Close(l.efd)
	_ = unix.Close(l.epfd)
}

// wait returns the ready events, waiting up to timeout milliseconds (-1:
// until there are some), in a blocking epoll_wait: it returns at once when
// events are ready.
//
// Parking the loop on the Go netpoller instead (epfd registered with it)
// was tried: it removes the runtime's futex and nanosleep calls around the
// blocking call (sysmon takes the P of a thread blocked 20 µs and hands it
// to a spinning thread) and lowers CPU per request by a few percent, but
// unpipelined throughput fell 10-40% against this (bench/results/redis.md,
// third pass): on this VM a CPU that goes idle is slow to wake, and the
// runtime's activity around a blocking call keeps it awake.
func (l *evloop) wait(timeout int) (int, error) {
	if testHookWait != nil {
		testHookWait()
	}
	return unix.EpollWait(l.epfd, l.events, timeout)
}

// poll returns the ready events without blocking, polling until some are
// ready or until Config.IOHold has passed since its first empty poll (then
// it returns 0, and the caller blocks in wait). Between polls it yields,
// so the store's background goroutines and the accepting one run.
func (l *evloop) poll() (int, error) {
	var until int64
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(l.epfd),
			uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), 0, 0, 0)
		switch {
		case errno == unix.EINTR:
		case errno != 0:
			return 0, errno
		case n > 0:
			return int(n), nil
		}
		now := monoNow()
		if until == 0 {
			until = now + int64(l.s.cfg.IOHold)
		} else if now >= until {
			return 0, nil
		}
		runtime.Gosched()
	}
}

// conn returns the connection on descriptor fd, nil if none.
func (l *evloop) conn(fd int32) *client {
	if fd < 0 || int(fd) >= len(l.conns) {
		return nil
	}
	return l.conns[fd]
}

// setConn records c (nil: none) as the connection on descriptor fd.
func (l *evloop) setConn(fd int, c *client) {
	if fd >= len(l.conns) {
		if c == nil {
			return
		}
		l.conns = append(l.conns, make([]*client, fd+1-len(l.conns)+len(l.conns)/2)...)
	}
	l.conns[fd] = c
}

// adopt moves an accepted connection to an event loop: the loop serves a
// duplicate of its descriptor, and the net.Conn is closed (so the Go
// netpoller forgets it). It reports false if nc has no descriptor (the
// caller then serves it with a goroutine).
func (s *Server) adopt(c *client) bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	var derr error
	if err := raw.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		return false
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return false
	}
	_ = c.nc.Close()
	// Under s.mu: Shutdown reads c.nc of every registered client (wake),
	// and this one was registered before it was adopted.
	s.mu.Lock()
	c.nc = nil
	s.mu.Unlock()
	c.fd = fd
	c.rd.rd = fdReader(fd)
	l := s.loops[int(c.id)%len(s.loops)]
	c.lp = l
	l.mu.Lock()
	l.incoming = append(l.incoming, c)
	l.mu.Unlock()
	l.wake()
	return true
}

// wake makes the loop's epoll_wait return, once per batch of posts.
func (l *evloop) wake() {
	if l.notified.Swap(true) {
		return
	}
	var one = [8]byte{1}
	for {
		_, err := unix.Write(l.efd, one[:])
		if err != unix.EINTR {
			return // EAGAIN: the counter is full, the loop wakes anyway
		}
	}
}

// post hands a connection back from a worker.
func (l *evloop) post(c *client) {
	l.mu.Lock()
	l.back = append(l.back, c)
	l.mu.Unlock()
	l.wake()
}

// shutdown tells the loop to stop reading, flush and close (abort: close
// at once).
func (l *evloop) shutdown(abort bool) {
	l.mu.Lock()
	l.closing = true
	l.abort = l.abort || abort
	l.mu.Unlock()
	l.wake()
}

func (l *evloop) stop() {
	l.mu.Lock()
	l.exit = true
	l.mu.Unlock()
	l.wake()
}

func (l *evloop) run() {
	defer l.s.loopWG.Done()
	defer l.closeFDs()
	var closing, abort bool
	hold := l.s.cfg.IOHold > 0
	busy := false // the last pass served something: poll before blocking
	for {
		timeout := -1
		if len(l.pending) > 0 || closing {
			timeout = 10 // ms: write timeouts and the shutdown grace are checked this often
		}
		var n int
		var err error
		if busy {
			n, err = l.poll()
		}
		if n == 0 && err == nil {
			n, err = l.wait(timeout)
		}
		busy = hold && n > 0
		if err != nil && err != unix.EINTR {
			l.s.cfg.Logger.Error("epoll_wait failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.sect.Add(1) // odd: running
		inline := l.s.blockers.Load() == 0
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			if ev.Fd == int32(l.efd) {
				var exit bool
				closing, abort, exit = l.drain(inline)
				if exit {
					l.sect.Add(1)
					return
				}
				continue
			}
			c := l.conn(ev.Fd)
			if c == nil {
				continue
			}
			if c.blocked {
				l.writable(c, inline)
				continue
			}
			if closing {
				continue // handled below
			}
			l.readable(c, inline)
		}
		l.sect.Add(1) // even: idle
		l.flushPass()
		if len(l.pending) > 0 {
			l.checkTimeouts(closing)
		}
		if closing {
			l.closeIdle(abort)
		}
	}
}

// drain takes the loop's posts: new connections, connections back from a
// worker, and Shutdown's requests.
func (l *evloop) drain(inline bool) (closing, abort, exit bool) {
	var b [8]byte
	_, _ = unix.Read(l.efd, b[:])
	l.notified.Store(false)
	l.mu.Lock()
	in, back := l.incoming, l.back
	l.incoming, l.back = nil, nil
	closing, abort, exit = l.closing, l.abort, l.exit
	if closing && l.closeAt == 0 {
		l.closeAt = monoNow() + int64(l.s.cfg.ShutdownGrace)
	}
	l.mu.Unlock()
	for _, c := range in {
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)}); err != nil {
			l.s.cfg.Logger.Warn("epoll_ctl add failed, closing client", "client", c.addr, "err", err)
			l.closeConn(c)
			continue
		}
		l.setConn(c.fd, c)
	}
	for _, c := range back {
		l.working--
		if abort {
			l.closeConn(c)
			continue
		}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)}); err != nil {
			l.closeConn(c)
			continue
		}
		l.setConn(c.fd, c)
		l.process(c, inline)
	}
	return closing, abort, exit
}

// readable reads what the connection has sent and serves it.
func (l *evloop) readable(c *client, inline bool) {
	n, err := c.rd.fill()
	if n == 0 {
		if err != errAgain {
			l.closeConn(c) // EOF or reset
		}
		return
	}
	l.s.stats.shards[c.shard].netIn.Add(uint64(n))
	c.clock = monoNow()
	c.lastActive.Store(c.clock)
	l.process(c, inline)
}

// process runs the connection's complete commands in order (inline, or by
// handing the connection to a worker), then writes the replies.
func (l *evloop) process(c *client, inline bool) {
	s := l.s
	for !c.quit {
		if len(c.w.b)-c.wOff >= s.cfg.OutputFlush {
			s.observeBatch(c)
			if !l.write(c) {
				return
			}
		}
		args := c.next
		c.next = nil
		if args == nil {
			var err error
			args, err = c.rd.next()
			if err != nil {
				s.protoErrors.Add(1)
				c.w.err("ERR " + err.Error())
				s.cfg.Logger.Debug("protocol error, closing client", "client", c.addr, "err", err)
				c.quit = true
				break
			}
			if args == nil {
				break
			}
		}
		cmd := lookup(c, args[0])
		if !inline || s.mayBlockCmd(c, cmd) {
			s.observeBatch(c)
			l.handoff(c, args)
			return
		}
		s.run(c, cmd, args, true)
		if len(c.batch) == maxBatch {
			s.observeBatch(c)
		}
	}
	s.observeBatch(c)
	// The replies are written at the end of the pass (flushPass), each
	// connection's in one write, as Redis writes them before it sleeps.
	if !c.queued {
		c.queued = true
		l.flushq = append(l.flushq, c)
	}
}

// flushPass writes the replies of the connections the pass served, one
// write each, back to back: the client, woken by the first, finds the
// others ready instead of going back to sleep between them (a sleeping
// client's wake-up is an IPI on a VM, charged to the writer). A connection
// closed or handed to a worker since is skipped.
func (l *evloop) flushPass() {
	for i, c := range l.flushq {
		l.flushq[i] = nil
		c.queued = false
		if c.fd < 0 || l.conn(int32(c.fd)) != c {
			continue
		}
		if !l.write(c) {
			continue
		}
		if c.quit {
			l.closeConn(c)
		}
	}
	l.flushq = l.flushq[:0]
}

// write writes the pending replies without blocking. If the socket does not
// take them all, the connection waits for EPOLLOUT (and is not read) and
// write returns false; so does a failed write, which closes it.
func (l *evloop) write(c *client) bool {
	for c.wOff < len(c.w.b) {
		n, err := rawWrite(c.fd, c.w.b[c.wOff:])
		if n > 0 {
			c.wOff += n
			l.s.stats.shards[c.shard].netOut.Add(uint64(n))
			if c.blocked {
				c.wdl = monoNow() // progress: the write timeout counts from here
			}
			continue
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if !c.blocked {
				c.blocked = true
				c.wdl = monoNow()
				l.pending[c] = struct{}{}
				l.mod(c, unix.EPOLLOUT)
			}
			return false
		}
		l.closeConn(c) // EPIPE, ECONNRESET
		return false
	}
	if cap(c.w.b) > 4*l.s.cfg.OutputFlush {
		c.w.b = nil // a huge reply: do not keep its buffer
	} else {
		c.w.b = c.w.b[:0]
	}
	c.wOff = 0
	if c.blocked {
		c.blocked = false
		delete(l.pending, c)
		l.mod(c, unix.EPOLLIN)
	}
	return true
}

// writable continues a blocked connection: write, then serve what it had
// sent.
func (l *evloop) writable(c *client, inline bool) {
	if !l.write(c) {
		return
	}
	if c.quit {
		l.closeConn(c)
		return
	}
	c.clock = monoNow() // the wait for the socket is not the commands'
	l.process(c, inline)
}

func (l *evloop) mod(c *client, events uint32) {
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd)}); err != nil {
		l.s.cfg.Logger.Warn("epoll_ctl mod failed", "client", c.addr, "err", err)
	}
}

// checkTimeouts closes the blocked connections that took nothing for
// WriteTimeout (slow consumers), or beyond the shutdown grace.
func (l *evloop) checkTimeouts(closing bool) {
	now := monoNow()
	for c := range l.pending {
		switch {
		case closing && now > l.closeAt:
			l.closeConn(c)
		case now-c.wdl > int64(l.s.cfg.WriteTimeout):
			l.s.slowClosed.Add(1)
			l.s.cfg.Logger.Warn("closing a client that read no reply for the write timeout (slow consumer)",
				"client", c.addr, "timeout", l.s.cfg.WriteTimeout)
			l.closeConn(c)
		}
	}
}

// closeIdle closes, once Shutdown has begun, every connection with nothing
// left to write (abort: every connection). Connections owned by a worker
// are closed when they come back.
func (l *evloop) closeIdle(abort bool) {
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		if c.blocked && !abort {
			continue
		}
		l.closeConn(c)
	}
}

// closeConn closes a connection the loop owns and forgets it.
func (l *evloop) closeConn(c *client) {
	if c.fd < 0 {
		return
	}
	l.setConn(c.fd, nil)
	delete(l.pending, c)
	_ = unix.Close(c.fd) // also removes it from the epoll set
	c.fd = -1
	l.s.dropClient(c)
	l.s.conns.Done()
}

// handoff gives the connection and its next command to a worker: the loop
// stops watching it until the worker hands it back.
func (l *evloop) handoff(c *client, args [][]byte) {
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil); err != nil {
		l.s.cfg.Logger.Warn("epoll_ctl del failed", "client", c.addr, "err", err)
	}
	l.setConn(c.fd, nil)
	l.working++
	l.s.workers.Add(1)
	go l.s.work(c, args)
}

// work runs a handed-off connection's commands, starting with args, until
// the next one need not block (or OutputFlush bytes of replies are
// pending), and hands the connection back to its loop.
func (s *Server) work(c *client, args [][]byte) {
	defer s.workers.Done()
	start := monoNow()
	for {
		blocking := s.mayBlock(c, args)
		if blocking {
			s.quiesce()
			if testHookBlocking != nil {
				testHookBlocking(args)
			}
		}
		if c.clock < start {
			c.clock = start // the time in the hand-off is not the command's
		}
		s.exec(c, args)
		if blocking {
			s.blockers.Add(-1)
		}
		if c.quit || len(c.w.b)-c.wOff >= s.cfg.OutputFlush {
			break
		}
		next, err := c.rd.next()
		if err != nil || next == nil {
			if err != nil {
				s.protoErrors.Add(1)
				c.w.err("ERR " + err.Error())
				c.quit = true
			}
			break
		}
		if !s.mayBlock(c, next) && s.blockers.Load() == 0 {
			c.next = next // the loop runs it
			break
		}
		args = next
	}
	c.lp.post(c)
}

// quiesce announces a blocking command and waits until no loop runs
// commands inline: from then until blockers is decremented, loops hand
// every command to workers, so none waits on what the command holds.
func (s *Server) quiesce() {
	s.blockers.Add(1)
	for _, l := range s.loops {
		v := l.sect.Load()
		for v&1 == 1 && l.sect.Load() == v {
			runtime.Gosched()
		}
	}
}

// shutdownLoops tells every loop that Shutdown began (abort: its context
// ended).
func (s *Server) shutdownLoops(abort bool) {
	for _, l := range s.loops {
		l.shutdown(abort)
	}
}

// stopLoops ends the loops once every connection is gone.
func (s *Server) stopLoops() {
	for _, l := range s.loops {
		l.stop()
	}
	s.loopWG.Wait()
}
