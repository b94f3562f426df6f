package replication

import (
	"sync"
	"time"

	"github.com/cockroachdb/errors"
)

// Leadership checks for reads, batched: a read needs a VerifyLeader round
// (a heartbeat to a majority) that starts after it took its read index.
// Reads arriving while a round is in flight wait for the next one, which
// verifyLoop starts as soon as the current one ends: one round serves
// every read that queued during the previous round, so concurrent reads
// cost one heartbeat round between them, not one each.

type verifyRound struct {
	done chan struct{}
	err  error
}

type verifier struct {
	mu   sync.Mutex
	next *verifyRound // the round the readers queue for; not started
	kick chan struct{}
}

func newVerifier() *verifier { return &verifier{kick: make(chan struct{}, 1)} }

// verifyLeader waits for a leadership round that starts after the call.
func (n *Node) verifyLeader(deadline time.Time) error {
	v := n.verify
	v.mu.Lock()
	if v.next == nil {
		v.next = &verifyRound{done: make(chan struct{})}
	}
	r := v.next
	v.mu.Unlock()
	select {
	case v.kick <- struct{}{}:
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-r.done:
		return r.err
	case <-t.C:
		return errors.New("leadership not confirmed in time")
	case <-n.stop:
		return errors.New("node closed")
	}
}

// verifyLoop runs the rounds; the Node owns it (stop, wg).
func (n *Node) verifyLoop() {
	defer n.wg.Done()
	v := n.verify
	for {
		select {
		case <-n.stop:
			return
		case <-v.kick:
		}
		for {
			v.mu.Lock()
			r := v.next
			v.next = nil
			v.mu.Unlock()
			if r == nil {
				break
			}
			r.err = n.raft.VerifyLeader().Error()
			close(r.done)
		}
	}
}
