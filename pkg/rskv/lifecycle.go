package rskv

import (
	"context"
	"sync"
)

// lifecycle is the gate between Close and the operations that run for a
// while outside the epoch protection: Checkpoint, Compact, Checkpoints, Sync,
// Backup and the expirer's sweep. Each holds the gate (enter ... exit) for its
// whole run; Close shuts the gate, so that later entries fail with
// ErrClosed, and waits for the holders to leave. With the epoch barrier that
// covers the short operations, this is what makes the rule hold: when Close
// returns, nothing started before it touches the directory again.
//
// It is a counter, not a lock: holders never exclude each other, so a
// Checkpoint called from inside another held operation's callback (Scan's
// fn) cannot deadlock with a waiting Close.
type lifecycle struct {
	mu     sync.Mutex
	idle   *sync.Cond // signalled when active drops to 0 after shut
	active int
	shut   bool

	// ctx is cancelled when Close begins, so that a long operation (a
	// compaction's scan) stops at its next step instead of finishing work
	// Close would wait for.
	ctx    context.Context
	cancel context.CancelFunc
}

func (l *lifecycle) init() {
	l.idle = sync.NewCond(&l.mu)
	l.ctx, l.cancel = context.WithCancel(context.Background())
}

// enter admits one operation, or returns ErrClosed once Close has begun.
func (l *lifecycle) enter() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shut {
		return ErrClosed
	}
	l.active++
	return nil
}

// exit ends an operation admitted by enter.
func (l *lifecycle) exit() {
	l.mu.Lock()
	l.active--
	if l.active == 0 && l.shut {
		l.idle.Broadcast()
	}
	l.mu.Unlock()
}

// shutAndWait refuses new operations, cancels ctx, and waits until every
// admitted operation has exited.
func (l *lifecycle) shutAndWait() {
	l.mu.Lock()
	l.shut = true
	l.cancel()
	for l.active > 0 {
		l.idle.Wait()
	}
	l.mu.Unlock()
}
