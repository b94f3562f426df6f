package replication

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// TestSingleNodeLinearizable runs the workload against one plain (not
// replicated) node with --sync always while it is paused and killed -9 and
// restarted: the history must be linearizable and every acknowledged write
// survive. It checks the harness itself as much as the server.
func TestSingleNodeLinearizable(t *testing.T) {
	sd := seed(t)
	t.Logf("seed %d", sd)
	rng := rand.New(rand.NewPCG(sd, 0))
	n := newNode(t, t.TempDir(), "s1", false)
	t.Cleanup(func() {
		n.kill()
		checkLogs(t, n)
		if t.Failed() {
			t.Logf("s1 log (%s):\n%s", n.logPath, n.logTail())
		}
	})
	n.start()
	w := newWorkload(t, sd, []*node{n})
	ctx, cancel := context.WithCancel(context.Background())
	wait := w.runClients(ctx, 4)

	rounds := 2
	if long() {
		rounds = 20
	}
	time.Sleep(time.Second)
	for r := range rounds {
		w.phase.Add(1)
		if (r+rng.IntN(2))%2 == 0 {
			w.faultStart(0, "SIGSTOP")
			n.signal(syscall.SIGSTOP)
			time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
			n.signal(syscall.SIGCONT)
			w.faultEnd(0)
		} else {
			w.faultStart(0, "kill -9")
			n.kill()
			time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
			n.start()
			w.faultEnd(0)
		}
		time.Sleep(time.Duration(1000+rng.IntN(1000)) * time.Millisecond)
	}
	cancel()
	wait()
	w.finalReads()
	w.check()
	n.stop(30 * time.Second)
	assertAckedOn(t, n, w)
}
