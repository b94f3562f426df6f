package replication

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// freeAddr returns a loopback address with a port free right now. Ports are
// picked once per node and kept across restarts (a raft member's address is
// part of the cluster configuration).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// node is one rskv serve process, restartable from the same directory with
// the same flags.
type node struct {
	t        *testing.T
	id       string
	dir      string
	addr     string // RESP
	raftAddr string // empty: not replicated
	args     []string
	logPath  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	paused bool
	starts int
}

// newNode prepares (does not start) a node under base. extra are the mode
// flags (--bootstrap, --join ...), given at every start: SERVER.md says a
// restarted node ignores them.
func newNode(t *testing.T, base, id string, replicated bool, extra ...string) *node {
	return newNodeAt(t, base, id, filepath.Join(base, id), replicated, extra...)
}

// newNodeAt is newNode with the node's --dir given.
func newNodeAt(t *testing.T, base, id, dir string, replicated bool, extra ...string) *node {
	n := &node{t: t, id: id, dir: dir, addr: freeAddr(t), logPath: filepath.Join(base, id+".log")}
	n.args = []string{"serve", "--dir", n.dir, "--addr", n.addr, "--sync", "always"}
	if replicated {
		n.raftAddr = freeAddr(t)
		n.args = append(n.args, "--node-id", id, "--raft-addr", n.raftAddr)
	}
	n.args = append(n.args, extra...)
	return n
}

// start starts the process and waits until it answers PING.
func (n *node) start() {
	n.t.Helper()
	n.mu.Lock()
	require.Nil(n.t, n.cmd, "%s already running", n.id)
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(n.t, err)
	n.starts++
	fmt.Fprintf(logf, "=== start #%d at %s: rskv %s\n", n.starts, time.Now().Format(time.RFC3339Nano), strings.Join(n.args, " "))
	cmd := exec.Command(rskvBin, n.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(n.t, cmd.Start())
	exited := make(chan struct{})
	n.cmd, n.exited, n.paused = cmd, exited, false
	n.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(exited)
	}()
	n.waitReady(30 * time.Second)
}

func (n *node) waitReady(timeout time.Duration) {
	n.t.Helper()
	c := n.client(time.Second)
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-n.exitedCh():
			n.t.Fatalf("%s exited before it was ready; log:\n%s", n.id, n.logTail())
		default:
		}
		if c.Ping(context.Background()).Val() == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s did not answer PING within %s; log:\n%s", n.id, timeout, n.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *node) exitedCh() chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exited
}

func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

func (n *node) signal(sig syscall.Signal) {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	require.NotNil(n.t, n.cmd, "%s not running", n.id)
	require.NoError(n.t, n.cmd.Process.Signal(sig), "%s: %s", n.id, sig)
	switch sig {
	case syscall.SIGSTOP:
		n.paused = true
	case syscall.SIGCONT:
		n.paused = false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	n.t.Helper()
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
	n.mu.Lock()
	n.cmd, n.paused = nil, false
	n.mu.Unlock()
}

// stop sends SIGTERM and waits (SERVER.md: the server exits 0); after
// timeout it kills and fails.
func (n *node) stop(timeout time.Duration) {
	n.t.Helper()
	n.mu.Lock()
	cmd, exited, paused := n.cmd, n.exited, n.paused
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	if paused {
		_ = cmd.Process.Signal(syscall.SIGCONT)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		n.t.Errorf("%s did not exit within %s of SIGTERM; log:\n%s", n.id, timeout, n.logTail())
	}
	if cmd.ProcessState != nil && !cmd.ProcessState.Success() {
		n.t.Errorf("%s exited with %s after SIGTERM; log:\n%s", n.id, cmd.ProcessState, n.logTail())
	}
	n.mu.Lock()
	n.cmd, n.paused = nil, false
	n.mu.Unlock()
}

// client returns a go-redis client for this node that never retries (a
// retried INCR would count twice while the history holds it once) and
// gives up on a reply after timeout.
func (n *node) client(timeout time.Duration) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: n.addr, Protocol: 2, PoolSize: 1, MaxRetries: -1,
		DialTimeout: 2 * time.Second, ReadTimeout: timeout, WriteTimeout: timeout,
		DisableIdentity: true,
	})
}

// logProblems returns the lines of the node's log (every start) that show
// a crash or, with a race-built binary (RSKV_RACE=1), a data race.
func (n *node) logProblems() []string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") ||
			strings.Contains(line, "WARNING: DATA RACE") {
			out = append(out, line)
		}
	}
	return out
}

// checkLogs fails t for every crash or race in the logs of nodes.
func checkLogs(t *testing.T, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		if p := n.logProblems(); len(p) > 0 {
			t.Errorf("%s's log (%s) shows %d crash or race lines, first: %s", n.id, n.logPath, len(p), p[0])
		}
	}
}

func (n *node) logTail() string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// raftInfo is the INFO raft section (SERVER.md) of one node, every line.
type raftInfo map[string]string

func (ri raftInfo) int(k string) int64 {
	v, _ := strconv.ParseInt(ri[k], 10, 64)
	return v
}

// infoRaft reads INFO raft from the node.
func (n *node) infoRaft(ctx context.Context) (raftInfo, error) {
	c := n.client(3 * time.Second)
	defer c.Close()
	s, err := c.Info(ctx, "raft").Result()
	if err != nil {
		return nil, errors.Wrapf(err, "%s: INFO raft", n.id)
	}
	ri := raftInfo{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			ri[k] = v
		}
	}
	return ri, nil
}

// cluster is a set of replicated nodes.
type cluster struct {
	t     *testing.T
	nodes []*node
}

// startCluster starts n1 with --bootstrap, waits for it to lead, then the
// others with --join n1, exactly as SERVER.md shows, and waits for every
// node to report all peers and one leader.
func startCluster(t *testing.T, size int, extra ...string) *cluster {
	t.Helper()
	base := t.TempDir()
	c := &cluster{t: t}
	for i := range size {
		id := fmt.Sprintf("n%d", i+1)
		var mode []string
		if i == 0 {
			mode = []string{"--bootstrap"}
		} else {
			mode = []string{"--join", c.nodes[0].addr}
		}
		c.nodes = append(c.nodes, newNode(t, base, id, true, append(mode, extra...)...))
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.kill()
		}
		checkLogs(t, c.nodes...)
		if t.Failed() {
			for _, n := range c.nodes {
				t.Logf("%s log (%s):\n%s", n.id, n.logPath, n.logTail())
			}
		}
	})
	c.nodes[0].start()
	c.waitLeader(c.nodes[:1], 1, 30*time.Second)
	for _, n := range c.nodes[1:] {
		n.start()
	}
	c.waitLeader(c.nodes, size, 60*time.Second)
	return c
}

// waitLeader waits until every node in ns reports raft_peers:peers and the
// same non-empty raft_leader_addr, which is one of the cluster's nodes and
// which itself reports raft_state:Leader. It returns the leader.
func (c *cluster) waitLeader(ns []*node, peers int, timeout time.Duration) *node {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		leader, why := c.leaderOf(ns, peers)
		if leader != nil {
			return leader
		}
		last = why
		if time.Now().After(deadline) {
			c.t.Fatalf("no agreed leader with %d peers within %s: %s", peers, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) leaderOf(ns []*node, peers int) (*node, string) {
	ctx := context.Background()
	var leaderAddr string
	for _, n := range ns {
		ri, err := n.infoRaft(ctx)
		if err != nil {
			return nil, err.Error()
		}
		if got := ri.int("raft_peers"); got != int64(peers) {
			return nil, fmt.Sprintf("%s: raft_peers:%s, want %d", n.id, ri["raft_peers"], peers)
		}
		la := ri["raft_leader_addr"]
		if la == "" {
			return nil, n.id + ": no leader known"
		}
		if leaderAddr != "" && la != leaderAddr {
			return nil, fmt.Sprintf("%s sees leader %s, others %s", n.id, la, leaderAddr)
		}
		leaderAddr = la
	}
	for _, n := range c.nodes {
		if n.addr == leaderAddr {
			ri, err := n.infoRaft(ctx)
			if err != nil {
				return nil, err.Error()
			}
			if ri["raft_state"] != "Leader" {
				return nil, fmt.Sprintf("%s named leader but is %s", n.id, ri["raft_state"])
			}
			return n, ""
		}
	}
	return nil, fmt.Sprintf("leader address %s is none of the nodes'", leaderAddr)
}

// running returns the nodes whose process runs (paused or not).
func (c *cluster) running() []*node {
	var out []*node
	for _, n := range c.nodes {
		if n.running() {
			out = append(out, n)
		}
	}
	return out
}

// waitApplied waits until every node reports the same raft_applied_index,
// at least the commit index any of them reports, and returns it.
func (c *cluster) waitApplied(timeout time.Duration) int64 {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		var applied, commit []int64
		ok := true
		for _, n := range c.nodes {
			ri, err := n.infoRaft(context.Background())
			if err != nil {
				last, ok = err.Error(), false
				break
			}
			applied = append(applied, ri.int("raft_applied_index"))
			commit = append(commit, ri.int("raft_commit_index"))
		}
		if ok {
			same := true
			for i := range applied {
				if applied[i] != applied[0] || commit[i] > applied[0] {
					same = false
				}
			}
			if same && applied[0] > 0 {
				return applied[0]
			}
			last = fmt.Sprintf("applied %v, commit %v", applied, commit)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nodes did not converge on one applied index within %s: %s", timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// snapshotFiles lists hashicorp/raft FileSnapshotStore snapshots
// (DIR/.../snapshots/TERM-INDEX-MS/meta.json) anywhere under dir.
func snapshotFiles(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "meta.json" &&
			filepath.Base(filepath.Dir(filepath.Dir(p))) == "snapshots" {
			out = append(out, p)
		}
		return nil
	})
	return out
}
