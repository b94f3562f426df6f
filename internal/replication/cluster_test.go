package replication

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/redis/go-redis/v9"
	"github.com/rskv-go/rskv/internal/server"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tnode is one in-process member: its own Store, Server (on a loopback
// RESP listener), raft-boltdb log in its directory, and an InmemTransport.
type tnode struct {
	id, dir, addr string
	st            *rskv.Store
	srv           *server.Server
	node          *Node
	served        chan error
	trans         *raft.InmemTransport
	clock         *Clock
	up            bool
}

type tcluster struct {
	t     testing.TB
	nodes []*tnode
	cfg   func(*Config)
	mu    sync.Mutex
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newCluster(t testing.TB, n int, cfg func(*Config)) *tcluster {
	c := &tcluster{t: t, cfg: cfg}
	base := t.TempDir()
	for i := range n {
		c.nodes = append(c.nodes, &tnode{id: fmt.Sprintf("n%d", i+1), dir: filepath.Join(base, fmt.Sprintf("n%d", i+1))})
	}
	t.Cleanup(c.stopAll)
	for i, tn := range c.nodes {
		join := ""
		if i > 0 {
			join = c.nodes[0].addr
		}
		c.start(tn, i == 0, join)
	}
	c.waitApplied()
	return c
}

// start starts (or restarts) tn as serve does: its store rebuilt empty.
func (c *tcluster) start(tn *tnode, bootstrap bool, join string) {
	t := c.t
	storeDir := filepath.Join(tn.dir, "store")
	require.NoError(t, os.RemoveAll(storeDir))
	tn.clock = &Clock{}
	st, err := rskv.Open(storeDir, &rskv.Options{Now: tn.clock.Now, MemorySize: 16 << 20, SyncMode: rskv.SyncNone, CheckpointInterval: -1})
	require.NoError(t, err)
	srv, err := server.New(st, server.Config{Clock: tn.clock.Now, Logger: quiet})
	require.NoError(t, err)
	addr := tn.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	for try := 0; ; try++ {
		ln, err = net.Listen("tcp", addr)
		if err == nil || try > 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, err)
	tn.addr = ln.Addr().String()
	_, tn.trans = raft.NewInmemTransport(raft.ServerAddress(tn.id))
	for _, o := range c.nodes {
		if o != tn && o.up {
			tn.trans.Connect(o.trans.LocalAddr(), o.trans)
			o.trans.Connect(tn.trans.LocalAddr(), tn.trans)
		}
	}
	cfg := Config{
		NodeID: tn.id, RESPAddr: tn.addr, Dir: filepath.Join(tn.dir, "raft"), Bootstrap: bootstrap, Join: join,
		Transport: tn.trans, Logger: quiet, RaftLog: io.Discard, JoinTimeout: 20 * time.Second,
	}
	if c.cfg != nil {
		c.cfg(&cfg)
	}
	node, err := Start(cfg, srv, st, tn.clock)
	if err != nil {
		_ = ln.Close()
		_ = st.Close()
	}
	require.NoError(t, err)
	srv.SetReplicator(node)
	tn.st, tn.srv, tn.node, tn.served, tn.up = st, srv, node, make(chan error, 1), true
	go func() { tn.served <- srv.Serve(ln) }()
}

// stop shuts tn down in serve's order: raft, connections, store.
func (c *tcluster) stop(tn *tnode) {
	if !tn.up {
		return
	}
	tn.up = false
	require.NoError(c.t, tn.node.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(c.t, tn.srv.Shutdown(ctx))
	require.ErrorIs(c.t, <-tn.served, server.ErrServerClosed)
	require.NoError(c.t, tn.st.Close())
}

func (c *tcluster) stopAll() {
	for _, tn := range c.nodes {
		c.stop(tn)
	}
}

// isolate cuts tn's raft traffic both ways; heal restores all of it.
func (c *tcluster) isolate(tn *tnode) {
	tn.trans.DisconnectAll()
	for _, o := range c.nodes {
		if o != tn && o.up {
			o.trans.Disconnect(tn.trans.LocalAddr())
		}
	}
}

func (c *tcluster) heal() {
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b && a.up && b.up {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
}

func (c *tcluster) leader() *tnode {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, tn := range c.nodes {
			if tn.up && tn.node.readyToRead() {
				return tn
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no leader within 10s")
	return nil
}

// waitApplied waits until every running node has applied the leader's
// last index.
func (c *tcluster) waitApplied() {
	c.t.Helper()
	l := c.leader()
	want := l.node.Raft().LastIndex()
	deadline := time.Now().Add(20 * time.Second)
	for _, tn := range c.nodes {
		for tn.up && tn.node.AppliedIndex() < want {
			if time.Now().After(deadline) {
				c.t.Fatalf("%s applied %d, leader's last index %d", tn.id, tn.node.AppliedIndex(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func client(t testing.TB, tn *tnode) *redis.Client {
	cl := redis.NewClient(&redis.Options{Addr: tn.addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
		ReadTimeout: 10 * time.Second, PoolSize: 4})
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// dump reads tn's whole key space locally (RAFT STALEREADS ON): every key
// with its type, value and expiry, in a form equal across nodes.
func dump(t testing.TB, tn *tnode) map[string]string {
	ctx := context.Background()
	cl := redis.NewClient(&redis.Options{Addr: tn.addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1, PoolSize: 1,
		OnConnect: func(ctx context.Context, cn *redis.Conn) error {
			return cn.Do(ctx, "RAFT", "STALEREADS", "ON").Err()
		}})
	defer cl.Close()
	keys, err := cl.Keys(ctx, "*").Result()
	require.NoError(t, err)
	out := map[string]string{}
	for _, k := range keys {
		typ, err := cl.Type(ctx, k).Result()
		require.NoError(t, err)
		exp, err := cl.Do(ctx, "PEXPIRETIME", k).Int64()
		require.NoError(t, err)
		var v string
		switch typ {
		case "string":
			v, err = cl.Get(ctx, k).Result()
		case "hash":
			var h map[string]string
			h, err = cl.HGetAll(ctx, k).Result()
			var fs []string
			for f, fv := range h {
				fs = append(fs, f+"="+fv)
			}
			sort.Strings(fs)
			v = strings.Join(fs, ",")
		}
		if err == redis.Nil {
			continue // expired between KEYS and the read
		}
		require.NoError(t, err)
		out[k] = fmt.Sprintf("%s|%s|%d", typ, v, exp)
	}
	return out
}

// requireSame checks that every running node holds the same key space.
func (c *tcluster) requireSame() map[string]string {
	c.t.Helper()
	c.waitApplied()
	var first map[string]string
	for _, tn := range c.nodes {
		if !tn.up {
			continue
		}
		d := dump(c.t, tn)
		if first == nil {
			first = d
			continue
		}
		require.Equal(c.t, first, d, "node %s differs from the first node", tn.id)
	}
	return first
}
