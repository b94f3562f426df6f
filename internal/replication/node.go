package replication

import (
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/rskv-go/rskv/internal/server"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// Config configures a Node.
type Config struct {
	// NodeID is this member's raft server ID (--node-id).
	NodeID string
	// RaftAddr is the raft transport's address (--raft-addr); with the TCP
	// transport it is listened on and advertised.
	RaftAddr string
	// RESPAddr is this node's RESP address, which other nodes forward to.
	RESPAddr string
	// Dir holds the raft state: the snapshots and, with the default
	// LogStore, raft.db. A node with state there restarts with it.
	Dir string
	// Bootstrap starts a new cluster with this node alone, if Dir has no
	// raft state.
	Bootstrap bool
	// Join is a member's RESP address to ask, if Dir has no raft state,
	// to add this node as a voter.
	Join string
	// JoinTimeout bounds the retries of Join; default 60s.
	JoinTimeout time.Duration
	// Password authenticates this node's connections to other nodes
	// (forwarding and joining): the cluster's --password.
	Password string
	// Store is the raft log and stable store; nil: OpenLogStore(Dir,
	// LogStore). The Node closes it.
	Store LogStableStore
	// LogStore is the kind of log store a new node creates when Store is
	// nil: LogBoltDB (default) or LogWAL (OpenLogStore).
	LogStore string
	// Transport carries raft; nil: TCP on RaftAddr. The Node closes it.
	Transport raft.Transport
	// Snapshots stores snapshots; nil: files in Dir/snapshots.
	Snapshots raft.SnapshotStore
	// SnapshotThreshold is how many entries past the last snapshot start a
	// new one; default 8192. TrailingLogs is how many entries a snapshot
	// leaves in the log; a follower further behind gets the snapshot;
	// default 4096. SnapshotInterval is how often the threshold is
	// checked; default 10s.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	SnapshotInterval  time.Duration
	// HeartbeatTimeout and ElectionTimeout (default 1s each, raft's) bound
	// how long a leader's loss goes unnoticed; LeaderLeaseTimeout (default
	// 500ms) how long a leader cut off from a majority keeps leading.
	// Shorter ones fail over faster but, on a loaded machine, make leaders
	// change for nothing.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// RaftLog receives hashicorp/raft's own log (warnings and errors);
	// default os.Stderr.
	RaftLog io.Writer
}

// LogStableStore is a raft log store that is also its stable store
// (raft-boltdb's BoltStore, raft's InmemStore).
type LogStableStore interface {
	raft.LogStore
	raft.StableStore
}

// Errors.
var (
	// ErrDirInUse is another process holding the raft state.
	ErrDirInUse = errors.New("replication: the raft state is in use by another process")
	// ErrJoin is a --join that did not succeed before JoinTimeout.
	ErrJoin = errors.New("replication: could not join the cluster")
	// ErrConfig is an incomplete or contradictory Config.
	ErrConfig = errors.New("replication: invalid configuration")
)

// Node is one member of a replicated rskv cluster. It implements
// server.Replicator.
type Node struct {
	cfg   Config
	raft  *raft.Raft
	fsm   *fsm
	store LogStableStore
	trans raft.Transport
	fwd   *forwarder
	log   *slog.Logger

	notify chan bool
	stop   chan struct{}
	wg     sync.WaitGroup
	closed atomic.Bool
	once   sync.Once

	// readyTerm is the term in which this node, as leader, committed a
	// barrier of its own: only then does its commit index cover every
	// entry committed before (a valid read index). 0: none.
	readyTerm atomic.Uint64

	lastPropose atomic.Int64 // monotonic ns of the last proposal (ticks fill the gaps)

	verify *verifier // batched leadership checks of reads (readindex.go)
}

var _ server.Replicator = (*Node)(nil)

// Start starts the raft member of srv (whose store is st, opened with
// clock.Now and empty: see docs/replication.md, "Restart") and, on a new
// node, bootstraps or joins. It returns once the node is a member (a
// joiner: once the cluster added it). Call srv.SetReplicator(node) before
// srv.Serve, and Close before srv.Shutdown.
func Start(cfg Config, srv *server.Server, st *rskv.Store, clock *Clock) (*Node, error) {
	if cfg.NodeID == "" || (cfg.RaftAddr == "" && cfg.Transport == nil) || cfg.RESPAddr == "" {
		return nil, errors.Wrap(ErrConfig, "NodeID, RaftAddr and RESPAddr are required")
	}
	if cfg.Bootstrap && cfg.Join != "" {
		return nil, errors.Wrap(ErrConfig, "--bootstrap and --join exclude each other")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = 60 * time.Second
	}
	n := &Node{cfg: cfg, log: cfg.Logger, fwd: newForwarder(cfg.Password), notify: make(chan bool, 16), stop: make(chan struct{}), verify: newVerifier()}
	ok := false
	defer func() {
		if !ok {
			_ = n.Close()
		}
	}()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, errors.Wrap(err, "replication: create the raft directory")
	}
	n.store = cfg.Store
	if n.store == nil {
		bs, err := OpenLogStore(cfg.Dir, cfg.LogStore)
		if err != nil {
			return nil, err
		}
		n.store = bs
	}
	logs, err := raft.NewLogCache(1024, n.store)
	if err != nil {
		return nil, errors.Wrap(err, "replication: log cache")
	}
	if cfg.RaftLog == nil {
		cfg.RaftLog = os.Stderr
	}
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: cfg.RaftLog})
	snaps := cfg.Snapshots
	if snaps == nil {
		fs, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hl)
		if err != nil {
			return nil, errors.Wrap(err, "replication: snapshot store")
		}
		snaps = fs
	}
	n.trans = cfg.Transport
	if n.trans == nil {
		addr, err := net.ResolveTCPAddr("tcp", cfg.RaftAddr)
		if err != nil {
			return nil, errors.Wrapf(err, "replication: --raft-addr %q", cfg.RaftAddr)
		}
		t, err := raft.NewTCPTransportWithLogger(cfg.RaftAddr, addr, 4, 5*time.Second, hl)
		if err != nil {
			return nil, errors.Wrapf(err, "replication: listen on --raft-addr %s", cfg.RaftAddr)
		}
		n.trans = t
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hl
	rc.NotifyCh = n.notify
	rc.HeartbeatTimeout = orDur(cfg.HeartbeatTimeout, time.Second)
	rc.ElectionTimeout = orDur(cfg.ElectionTimeout, time.Second)
	rc.LeaderLeaseTimeout = orDur(cfg.LeaderLeaseTimeout, 500*time.Millisecond)
	rc.CommitTimeout = 5 * time.Millisecond
	rc.SnapshotThreshold = orU(cfg.SnapshotThreshold, 8192)
	rc.TrailingLogs = orU(cfg.TrailingLogs, 4096)
	rc.SnapshotInterval = orDur(cfg.SnapshotInterval, 10*time.Second)
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256

	existing, err := raft.HasExistingState(logs, n.store, snaps)
	if err != nil {
		return nil, errors.Wrap(err, "replication: read raft state")
	}
	n.fsm = newFSM(srv.NewApplier(), st, clock, scratchDir(cfg.Dir), n.log)
	r, err := raft.NewRaft(rc, n.fsm, logs, n.store, snaps, n.trans)
	if err != nil {
		return nil, errors.Wrap(err, "replication: start raft")
	}
	n.raft = r
	n.wg.Add(2)
	go n.leaderLoop()
	go n.verifyLoop()
	switch {
	case existing:
		if cfg.Bootstrap || cfg.Join != "" {
			n.log.Info("raft state found: --bootstrap/--join ignored", "dir", cfg.Dir)
		}
		n.wg.Add(1)
		go n.reRegister()
	case cfg.Bootstrap:
		f := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: n.trans.LocalAddr(),
		}}})
		if err := f.Error(); err != nil {
			return nil, errors.Wrap(err, "replication: bootstrap")
		}
	case cfg.Join != "":
		if err := n.join(); err != nil {
			return nil, err
		}
	default:
		n.log.Warn("new raft node with neither --bootstrap nor --join: it waits to be added by RAFT JOIN on a member")
	}
	ok = true
	return n, nil
}

func orDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func orU(v, def uint64) uint64 {
	if v > 0 {
		return v
	}
	return def
}

// join asks the member at cfg.Join to add this node, with backoff, until
// it succeeds or JoinTimeout passes.
func (n *Node) join() error {
	end := time.Now().Add(n.cfg.JoinTimeout)
	wait := 100 * time.Millisecond
	cmd := [][]byte{[]byte("RAFT"), []byte("JOIN"), []byte(n.cfg.NodeID), []byte(n.trans.LocalAddr()), []byte(n.cfg.RESPAddr)}
	var last string
	for {
		dl := time.Now().Add(10 * time.Second)
		reply, err := n.fwd.do(nil, n.cfg.Join, false, [][][]byte{cmd}, dl)
		switch {
		case err == nil && strings.HasPrefix(string(reply), "+"):
			n.log.Info("joined the cluster", "via", n.cfg.Join)
			return nil
		case err == nil:
			last = trimCRLF(reply)
		default:
			last = err.Error()
		}
		if time.Now().Add(wait).After(end) {
			return errors.Wrapf(ErrJoin, "asked %s for %s; last answer: %s", n.cfg.Join, n.cfg.JoinTimeout, last)
		}
		n.log.Info("join: retrying", "via", n.cfg.Join, "answer", last, "in", wait)
		select {
		case <-time.After(wait):
		case <-n.stop:
			return errors.Wrap(ErrJoin, "node closed")
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// leaderLoop follows leadership: on gaining it, commits a barrier (so the
// commit index covers every earlier term's entries: reads may use it) and
// registers this node's RESP address; while leading, proposes a tick when
// nothing was proposed for tickEvery, so the replicated clock moves.
func (n *Node) leaderLoop() {
	defer n.wg.Done()
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	leading := false
	for {
		select {
		case <-n.stop:
			return
		case l := <-n.notify:
			leading = l
			if !l {
				continue
			}
			term := n.raft.CurrentTerm()
			if err := n.raft.Barrier(5 * time.Second).Error(); err != nil {
				n.log.Warn("leader barrier failed", "err", err)
				continue
			}
			if n.raft.CurrentTerm() == term {
				n.readyTerm.Store(term)
			}
			if n.fsm.peer(n.cfg.NodeID) != n.cfg.RESPAddr {
				f := n.raft.Apply(encodePeer(time.Now().UnixNano(), n.cfg.NodeID, n.cfg.RESPAddr), 5*time.Second)
				if err := f.Error(); err != nil {
					n.log.Warn("could not register this node's RESP address", "err", err)
				}
			}
		case <-t.C:
			if !leading || time.Duration(monoNow()-n.lastPropose.Load()) < tickEvery {
				continue
			}
			n.lastPropose.Store(monoNow())
			if err := n.raft.Apply(encodeTick(time.Now().UnixNano()), time.Second).Error(); err != nil &&
				!errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) && !errors.Is(err, raft.ErrRaftShutdown) {
				n.log.Warn("clock tick failed", "err", err)
			}
		}
	}
}

// reRegister runs on a restarted node: once a leader is known and the
// log's replicated address for this node is applied, it asks the leader to
// record this node's RESP address again if it changed (a leader records
// its own in leaderLoop).
func (n *Node) reRegister() {
	defer n.wg.Done()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		select {
		case <-n.stop:
			return
		case <-time.After(wait):
		}
		if n.raft.State() == raft.Leader {
			return
		}
		leader := n.leaderRESP()
		if leader == "" || n.fsm.applied.Load() < n.raft.CommitIndex() {
			continue
		}
		if n.fsm.peer(n.cfg.NodeID) == n.cfg.RESPAddr {
			return
		}
		cmd := [][]byte{[]byte("RAFT"), []byte("JOIN"), []byte(n.cfg.NodeID), []byte(n.trans.LocalAddr()), []byte(n.cfg.RESPAddr)}
		if r, err := n.fwd.do(nil, leader, false, [][][]byte{cmd}, time.Now().Add(replyBudget)); err == nil && len(r) > 0 && r[0] == '+' {
			n.log.Info("re-registered this node's RESP address", "addr", n.cfg.RESPAddr)
			return
		}
	}
}

// tickEvery is how often an idle leader moves the replicated clock: the
// lag of expiry behind the wall clock on an idle cluster.
const tickEvery = 200 * time.Millisecond

var monoBase = time.Now()

func monoNow() int64 { return int64(time.Since(monoBase)) }

// Raft returns the raft member (tests, tools).
func (n *Node) Raft() *raft.Raft { return n.raft }

// AppliedIndex is the index of the last entry applied to the store.
func (n *Node) AppliedIndex() uint64 { return n.fsm.applied.Load() }

// Close stops the raft member and waits for its goroutines; in-flight
// commands answer -CLUSTERDOWN. Call it before the server's Shutdown and
// the store's Close.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		n.closed.Store(true)
		close(n.stop)
		if n.raft != nil {
			err = n.raft.Shutdown().Error()
		}
		n.wg.Wait()
		if cerr := n.closeResources(); err == nil {
			err = cerr
		}
	})
	return err
}

func (n *Node) closeResources() error {
	n.fwd.close()
	var err error
	if c, ok := n.trans.(io.Closer); ok && n.raft == nil {
		err = c.Close()
	}
	if c, ok := n.store.(io.Closer); ok {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
