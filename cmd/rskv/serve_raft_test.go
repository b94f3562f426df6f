package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// raftNode is one `rskv serve` of a replicated cluster in a child process.
type raftNode struct {
	id, dir, addr, raftAddr string
	c                       *child
}

func (n *raftNode) start(t *testing.T, extra ...string) {
	args := append([]string{"--node-id", n.id, "--raft-addr", n.raftAddr}, extra...)
	n.c = startServe(t, n.dir, n.addr, args...)
	select {
	case err := <-n.c.done:
		n.c.done <- err
		t.Fatalf("%s exited: %v\n%s", n.id, err, n.c.stderr.String())
	default:
	}
}

func raftInfo(t *testing.T, addr string) map[string]string {
	cl := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, MaxRetries: -1})
	defer cl.Close()
	s, err := cl.Info(context.Background(), "raft").Result()
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, l := range strings.Split(s, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// TestServeReplicatedKill9Counters runs the SERVER.md commands for a
// 3-node cluster, increments a counter per node from a client on every
// node, kills -9 the leader and then a follower and restarts each from its
// dir. Every counter ends the same on every node, no lower than the
// INCRs acknowledged (no loss) and no higher than those sent (no double
// apply).
func TestServeReplicatedKill9Counters(t *testing.T) {
	base := t.TempDir()
	nodes := make([]*raftNode, 3)
	for i := range nodes {
		nodes[i] = &raftNode{id: fmt.Sprintf("n%d", i+1), dir: filepath.Join(base, fmt.Sprintf("d%d", i+1)),
			addr: freeAddr(t), raftAddr: freeAddr(t)}
	}
	nodes[0].start(t, "--bootstrap")
	nodes[1].start(t, "--join", nodes[0].addr)
	nodes[2].start(t, "--join", nodes[0].addr)

	ctx := context.Background()
	var stop atomic.Bool
	var wg sync.WaitGroup
	acked := make([]atomic.Int64, 3)
	sent := make([]atomic.Int64, 3)
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := redis.NewClient(&redis.Options{Addr: n.addr, DisableIdentity: true, MaxRetries: -1,
				DialTimeout: 200 * time.Millisecond, ReadTimeout: 10 * time.Second, PoolSize: 1})
			defer cl.Close()
			for !stop.Load() {
				sent[i].Add(1)
				if err := cl.Incr(ctx, fmt.Sprintf("c%d", i)).Err(); err == nil {
					acked[i].Add(1)
				} else {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	leader := func() *raftNode {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			for _, n := range nodes {
				if raftInfo(t, n.addr)["raft_state"] == "Leader" {
					return n
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("no leader")
		return nil
	}
	time.Sleep(700 * time.Millisecond)
	l := leader()
	require.NoError(t, l.c.cmd.Process.Signal(syscall.SIGKILL))
	l.c.wait(t)
	time.Sleep(700 * time.Millisecond)
	l.start(t, "--bootstrap") // ignored: the dir has raft state
	time.Sleep(700 * time.Millisecond)
	var f *raftNode
	for _, n := range nodes {
		if n != leader() {
			f = n
		}
	}
	require.NoError(t, f.c.cmd.Process.Signal(syscall.SIGKILL))
	f.c.wait(t)
	time.Sleep(500 * time.Millisecond)
	f.start(t)
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	// Every node reaches the same applied index, then holds the same counters.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var idx []string
		for _, n := range nodes {
			idx = append(idx, raftInfo(t, n.addr)["raft_applied_index"])
		}
		if idx[0] != "" && idx[0] == idx[1] && idx[1] == idx[2] {
			break
		}
		require.True(t, time.Now().Before(deadline), "applied indexes differ: %v", idx)
		time.Sleep(50 * time.Millisecond)
	}
	for i := range nodes {
		key := fmt.Sprintf("c%d", i)
		var vals []int64
		for _, n := range nodes {
			cl := redis.NewClient(&redis.Options{Addr: n.addr, DisableIdentity: true, MaxRetries: -1})
			cl.Do(ctx, "RAFT", "STALEREADS", "ON")
			v, err := cl.Get(ctx, key).Int64()
			cl.Close()
			require.NoError(t, err, "%s on %s", key, n.id)
			vals = append(vals, v)
		}
		assert.Equal(t, vals[0], vals[1], "%s differs between nodes", key)
		assert.Equal(t, vals[0], vals[2], "%s differs between nodes", key)
		assert.GreaterOrEqual(t, vals[0], acked[i].Load(), "%s: an acknowledged INCR was lost", key)
		assert.LessOrEqual(t, vals[0], sent[i].Load(), "%s: an INCR was applied twice", key)
		t.Logf("%s: value %d, acknowledged %d, sent %d", key, vals[0], acked[i].Load(), sent[i].Load())
		assert.Positive(t, acked[i].Load())
	}
}

func TestServeReplicatedFlagErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	wantFail(t, exitUsage, []string{"needs both --node-id and --raft-addr"}, "serve", "--dir", dir, "--node-id", "n1")
	wantFail(t, exitUsage, []string{"exclude each other"}, "serve", "--dir", dir, "--node-id", "n1", "--raft-addr", "127.0.0.1:1", "--bootstrap", "--join", "127.0.0.1:2")
}

// TestServeReplicatedSIGTERMAndRestart: a one-node cluster exits 0 on
// SIGTERM, and restarted from its dir (with --bootstrap, ignored) it has
// its data, answers INFO raft as SERVER.md says, and a second serve on the
// same dir is refused at once.
func TestServeReplicatedSIGTERMAndRestart(t *testing.T) {
	n := &raftNode{id: "solo", dir: filepath.Join(t.TempDir(), "d"), addr: freeAddr(t), raftAddr: freeAddr(t)}
	n.start(t, "--bootstrap")
	ctx := context.Background()
	cl := redis.NewClient(&redis.Options{Addr: n.addr, DisableIdentity: true, MaxRetries: -1})
	defer cl.Close()
	require.NoError(t, cl.Set(ctx, "k", "v", 0).Err())
	require.NoError(t, cl.Set(ctx, "e", "v", time.Hour).Err())

	wantFail(t, exitError, []string{"locked"}, "serve", "--dir", n.dir, "--addr", freeAddr(t),
		"--node-id", "solo", "--raft-addr", freeAddr(t))

	require.NoError(t, n.c.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, n.c.wait(t), n.c.stderr.String())
	n.start(t, "--bootstrap")
	var got string
	require.Eventually(t, func() bool {
		v, err := cl.Get(ctx, "k").Result()
		got = v
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "v", got)
	ttl, err := cl.TTL(ctx, "e").Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 59*time.Minute)
	info := raftInfo(t, n.addr)
	assert.Equal(t, "Leader", info["raft_state"])
	assert.Equal(t, n.addr, info["raft_leader_addr"])
	assert.Equal(t, "solo", info["raft_node_id"])
	assert.Equal(t, "1", info["raft_peers"])
	assert.Equal(t, info["raft_commit_index"], info["raft_applied_index"])
}
