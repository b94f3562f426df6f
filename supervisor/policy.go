package supervisor

import (
	"fmt"
	"time"

	"github.com/thejerf/suture/v4"
)

// Policy is how a service's own supervisor treats its failures. Each
// service runs under its own child supervisor, so each has its own Policy:
// one role backing off never delays another's restarts.
//
// Two mechanisms work together. Suture's backoff (FailureThreshold,
// FailureDecay, FailureBackoff) spaces restarts out when failures come
// fast. The give-up rule (MaxRestarts, RestartWindow) ends the retries of a
// service that is simply broken: when it has failed more than MaxRestarts
// times within RestartWindow, the tree stops restarting it, reports it as
// given up, and keeps the other services running. Starting the tree again
// gives it a fresh chance.
//
// A zero field takes the value of [DefaultPolicy]; negative values are
// invalid except where noted.
type Policy struct {
	// FailureThreshold is how many failures the supervisor tolerates before
	// it backs off. Failures decay (see FailureDecay) and each adds one;
	// when the count exceeds the threshold the supervisor waits
	// FailureBackoff before the next restart and then starts counting
	// afresh. Default 5.
	FailureThreshold float64
	// FailureDecay is the half-life of the failure count. Default 30s.
	FailureDecay time.Duration
	// FailureBackoff is how long the supervisor waits, once past the
	// threshold, before restarting the service. Suture adds a random jitter
	// of up to half of it. Default 15s.
	FailureBackoff time.Duration
	// Timeout is how long Stop waits for the service to finish its current
	// step and return. A service still running after it is reported by
	// Stop (ErrStopTimeout). Default 10s.
	Timeout time.Duration
	// MaxRestarts is how many failures within RestartWindow are restarted;
	// the next one within the window gives the service up. Default 20;
	// negative means never give up.
	MaxRestarts int
	// RestartWindow is the span over which failures count toward
	// MaxRestarts. Default 10 minutes.
	RestartWindow time.Duration
}

// DefaultPolicy returns suture's defaults for backoff and stop timeout, and
// gives a service up after 20 failures within 10 minutes. It suits a
// service with no particular needs.
func DefaultPolicy() Policy {
	return Policy{
		FailureThreshold: 5,
		FailureDecay:     30 * time.Second,
		FailureBackoff:   15 * time.Second,
		Timeout:          10 * time.Second,
		MaxRestarts:      20,
		RestartWindow:    10 * time.Minute,
	}
}

// The role policies below are judgment calls; the reasoning is beside
// each number. Common ground: no service is needed for correctness (a
// writer that finds memory full flushes and evicts inline, Checkpoint and
// Compact can be called by hand), so giving a broken service up is always
// safe; it only costs latency or disk space until the store is restarted.

// CheckpointerPolicy is the policy for the checkpointer.
//
// Checkpoints are heavy (they write the index and flush the log) and a
// failing one usually means disk trouble that a quick retry will not cure,
// so it tolerates few failures (threshold 2) and backs off for a long time
// (1 minute); failures are remembered for long (decay 5 minutes). Stop
// waits up to 30s, because a checkpoint in progress is finished, never left
// half-written. It is given up after 10 failures within an hour: a store
// whose checkpoints keep failing should say so, not grind the disk.
func CheckpointerPolicy() Policy {
	return Policy{
		FailureThreshold: 2,
		FailureDecay:     5 * time.Minute,
		FailureBackoff:   time.Minute,
		Timeout:          30 * time.Second,
		MaxRestarts:      10,
		RestartWindow:    time.Hour,
	}
}

// CollectorPolicy is the policy for the collector.
//
// Compaction is the heaviest background work (it reads old segments and
// rewrites live records) and the least urgent: dead bytes only cost disk
// space. So it is the most cautious role: threshold 2, decay 10 minutes,
// backoff 2 minutes, and given up after 5 failures within an hour. Stop
// waits up to 30s for a compaction pass to finish or abort cleanly.
func CollectorPolicy() Policy {
	return Policy{
		FailureThreshold: 2,
		FailureDecay:     10 * time.Minute,
		FailureBackoff:   2 * time.Minute,
		Timeout:          30 * time.Second,
		MaxRestarts:      5,
		RestartWindow:    time.Hour,
	}
}

// LogShifterPolicy is the policy for the log shifter.
//
// Writers depend on it: while it is down they must flush and evict inline,
// in their own latency. Its passes are short and cheap to retry, and a
// failure is often transient (a flush racing with eviction). So it
// restarts quickly and often: threshold 10, decay 10s, backoff only 1s.
// Stop waits up to 10s (a pass flushes at most a few pages). It is given up
// after 100 failures within a minute, which at that pace means it has
// failed nearly every pass for about ten seconds: broken, not unlucky.
func LogShifterPolicy() Policy {
	return Policy{
		FailureThreshold: 10,
		FailureDecay:     10 * time.Second,
		FailureBackoff:   time.Second,
		Timeout:          10 * time.Second,
		MaxRestarts:      100,
		RestartWindow:    time.Minute,
	}
}

// SyncerPolicy is the policy for the syncer.
//
// Under SyncPeriodic the durability promise (within SyncInterval) depends
// on it, so it restarts quickly: threshold 5, decay 30s, backoff 1s. But a
// failed fsync is never retried into a false success: the store poisons
// itself and SyncLog keeps returning the first error, so a syncer that keeps
// failing is reporting a dead disk. It is given up after 20 failures within
// a minute (a few seconds of failing every SyncInterval), which makes the
// failure visible in the status. Stop waits up to 10s for an fsync in
// flight.
func SyncerPolicy() Policy {
	return Policy{
		FailureThreshold: 5,
		FailureDecay:     30 * time.Second,
		FailureBackoff:   time.Second,
		Timeout:          10 * time.Second,
		MaxRestarts:      20,
		RestartWindow:    time.Minute,
	}
}

// ExpirerPolicy is the policy for the expirer.
//
// Expired keys are already invisible to readers; the expirer only gives
// their memory and their count in Len back, so nothing waits on it. A
// sweep is a bounded walk of memory, cheap to retry, and a failure is
// usually an I/O error the store reports anyway. So it sits between the
// log shifter and the collector: threshold 3, decay 1 minute, backoff 10s.
// Stop waits up to 10s (a sweep stops at its next batch when asked). It is
// given up after 20 failures within 10 minutes: the default rule, since a
// broken expirer costs memory, not data.
func ExpirerPolicy() Policy {
	return Policy{
		FailureThreshold: 3,
		FailureDecay:     time.Minute,
		FailureBackoff:   10 * time.Second,
		Timeout:          10 * time.Second,
		MaxRestarts:      20,
		RestartWindow:    10 * time.Minute,
	}
}

// withDefaults returns p with every zero field set from DefaultPolicy.
func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	if p.FailureThreshold == 0 {
		p.FailureThreshold = d.FailureThreshold
	}
	if p.FailureDecay == 0 {
		p.FailureDecay = d.FailureDecay
	}
	if p.FailureBackoff == 0 {
		p.FailureBackoff = d.FailureBackoff
	}
	if p.Timeout == 0 {
		p.Timeout = d.Timeout
	}
	if p.MaxRestarts == 0 {
		p.MaxRestarts = d.MaxRestarts
	}
	if p.RestartWindow == 0 {
		p.RestartWindow = d.RestartWindow
	}
	return p
}

// problems lists what is wrong with p (after withDefaults).
func (p Policy) problems() []string {
	var out []string
	if !(p.FailureThreshold > 0) { // also rejects NaN
		out = append(out, fmt.Sprintf("FailureThreshold %v is not positive", p.FailureThreshold))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"FailureDecay", p.FailureDecay},
		{"FailureBackoff", p.FailureBackoff},
		{"Timeout", p.Timeout},
		{"RestartWindow", p.RestartWindow},
	} {
		if d.v < 0 {
			out = append(out, fmt.Sprintf("%s %s is negative", d.name, d.v))
		}
	}
	return out
}

// spec returns the suture Spec that applies p.
func (p Policy) spec(hook suture.EventHook) suture.Spec {
	return suture.Spec{
		EventHook:        hook,
		FailureThreshold: p.FailureThreshold,
		FailureDecay:     p.FailureDecay.Seconds(),
		FailureBackoff:   p.FailureBackoff,
		Timeout:          p.Timeout,
		// Panics are recovered by suture and counted as failures: a bug in
		// one role must not take the store's process down.
		PassThroughPanics: false,
		// A service that returns suture.ErrTerminateSupervisorTree ends its
		// own supervisor only, never the whole tree.
		DontPropagateTermination: true,
	}
}
