// Package supervisor runs a store's background services as a supervision
// tree built on suture (github.com/thejerf/suture/v4).
//
// # Shape
//
// A [Tree] belongs to one store. Its root suture supervisor is named after
// the store; under the root, each service (the checkpointer, collector, log
// shifter and syncer of package actors, or any suture.Service) runs under a
// child supervisor of its own:
//
//	store-x
//	├─ store-x/checkpointer ── checkpointer
//	├─ store-x/collector    ── collector
//	├─ store-x/log-shifter  ── log-shifter
//	└─ store-x/syncer       ── syncer
//
// The extra level exists because suture applies its restart policy
// (failure threshold, decay, backoff, stop timeout) per supervisor: with
// one supervisor per service, each role gets the [Policy] that suits its
// job ([CheckpointerPolicy], [CollectorPolicy], [LogShifterPolicy],
// [SyncerPolicy]), and a role that backs off never delays another's
// restarts.
//
// # Failures
//
// A service that returns an error, or panics, is restarted by its
// supervisor; suture recovers the panic (PassThroughPanics stays off), and
// the tree counts the restart and keeps the message as the service's last
// error. Failures that come fast make the supervisor back off. A service
// that fails more than its policy's MaxRestarts times within its
// RestartWindow is given up: the tree returns suture.ErrDoNotRestart for
// it, reports it in [Tree.Status], and keeps the other services running.
// None of the services is needed for a store's correctness, so a store
// keeps serving without a given-up service, only more slowly or using more
// disk.
//
// # Lifecycle
//
// [Tree.Start] builds a fresh suture tree (a suture supervisor cannot be
// served twice) and returns once every service runs; on a running tree it
// returns [ErrAlreadyRunning]. [Tree.Stop] cancels every service, waits for
// each to finish its current step, and is idempotent. Start after Stop
// works, and the status carries over. A service that does not stop within
// its policy's Timeout is reported by Stop ([ErrStopTimeout]) and never run
// twice at once: the next Start's copy waits for it, and [Tree.Wait] waits
// for it. Every method is safe for concurrent use. After a Stop that
// returned nil every service has returned, and suture's goroutines have
// nothing left to do but exit: none is left behind.
//
// # Observing
//
// [Tree.Status] gives, per service, whether it runs, its restart and
// failure counts, its last error, and whether it is backing off or given
// up; [Tree.String] renders that as a tree. Log lines (failures, panics
// with their stack, backoffs, give-ups, stop timeouts) go to the
// [Config.Logger], a log/slog logger that discards everything by default.
package supervisor
