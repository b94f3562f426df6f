package replication

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClusterMembershipChange: under load, a follower is removed with RAFT
// REMOVE (docs/replication.md) sent to another member, keeps running with
// its clients for a while (it must not serve a stale read or take a write,
// and must answer errors rather than hang), is stopped; a fresh node joins
// with --join. The history is linearizable and the new node's own store
// holds every acknowledged write.
func TestClusterMembershipChange(t *testing.T) {
	needRaft(t)
	sd := seed(t)
	t.Logf("seed %d", sd)
	rng := rand.New(rand.NewPCG(sd, 0))
	c := startCluster(t, 3)
	base := filepath.Dir(c.nodes[0].dir)
	n4 := newNode(t, base, "n4", true, "--join", c.nodes[0].addr)
	w := newWorkload(t, sd, append(append([]*node(nil), c.nodes...), n4))
	ctx, cancel := context.WithCancel(context.Background())
	wait3 := w.runClientsOn(ctx, 2, 0, 1, 2)
	time.Sleep(2 * time.Second)

	leader := c.leader(30 * time.Second)
	victim := c.follower(rng, leader)
	vi := c.index(victim)
	t.Cleanup(func() { victim.kill(); checkLogs(t, victim) })
	var via *node
	for _, n := range c.nodes {
		if n != victim && n != leader {
			via = n // the other follower: RAFT REMOVE is forwarded
		}
	}
	vc := via.client(opTimeout)
	require.NoError(t, vc.Do(context.Background(), "RAFT", "REMOVE", victim.id).Err(), "RAFT REMOVE %s via %s", victim.id, via.id)
	_ = vc.Close()
	var rest []*node
	for _, n := range c.nodes {
		if n != victim {
			rest = append(rest, n)
		}
	}
	c.nodes = rest
	c.waitLeader(c.nodes, 2, 30*time.Second)
	t.Logf("removed %s via %s; its clients go on for 2 s", victim.id, via.id)
	time.Sleep(2 * time.Second)
	w.faultStart(vi, "removed, stopped")
	victim.stop(30 * time.Second)

	n4.start()
	c.nodes = append(c.nodes, n4)
	c.waitLeader(c.nodes, 3, 60*time.Second)
	wait4 := w.runClientsOn(ctx, 2, 3)
	time.Sleep(3 * time.Second)
	cancel()
	wait3()
	wait4()
	c.leader(60 * time.Second)
	c.waitApplied(60 * time.Second)
	var live []int
	for i, n := range w.nodes {
		if n != victim {
			live = append(live, i)
		}
	}
	w.finalReadsOn(live...)
	w.check()
	for _, n := range c.nodes {
		n.stop(30 * time.Second)
	}
	var first map[string]string
	for _, n := range c.nodes {
		assertAckedOn(t, n, w)
		got := nodeState(t, n, w.phaseKeys())
		if first == nil {
			first = got
		} else {
			assert.Equal(t, first, got, "registers and counters of %s differ", n.id)
		}
	}
}
