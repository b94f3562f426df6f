// Package actors holds rskv's background maintenance services: one
// [suture.Service] per role, each a small loop that wakes on a clock and
// asks the store to do one step of work.
//
// # Roles
//
//   - [Checkpointer] ([NewCheckpointer]) takes a checkpoint every interval,
//     unless a manual Checkpoint or Compact is in progress, in which case it
//     skips that tick.
//   - [Collector] ([NewCollector]) asks every interval whether compaction is
//     worth it and, if so, compacts.
//   - [LogShifter] ([NewLogShifter]) keeps the hybrid log's regions within
//     their budgets. It wakes when writers signal pressure (the tail crossed
//     into a new page, or memory is full) and on a slower fallback timer.
//   - [Syncer] ([NewSyncer]) flushes and fsyncs the log every interval (for
//     SyncPeriodic).
//   - [Expirer] ([NewExpirer]) deletes the expired keys held in memory every
//     interval (Garnet's expired-key deletion scan).
//
// The services see the store only through the narrow interfaces
// [CheckpointTarget], [CompactionTarget], [LogTarget], [SyncTarget] and
// [ExpiryTarget], and
// never reach into each other's state: the log shifter learns about write
// pressure over a channel, not by polling the log. That keeps each service
// testable with fakes (package actorstest) and keeps the engine free to
// change its internals.
//
// # Stopping
//
// Serve returns nil promptly once its context is cancelled, but never in the
// middle of a step: a step that has begun runs to its end, and the targets
// receive the context so that they can finish or abort cleanly themselves
// (a checkpoint is either complete or not written at all). Serve does not
// start a new step once the context is done.
//
// # Failures
//
// A step that returns an error makes Serve return that error, and a step
// that panics lets the panic through: the supervisor (package supervisor)
// counts the failure and restarts the service according to its role's
// policy. A restarted service begins with a fresh timer, so a failing step is
// retried one interval later, not at once.
//
// Each service has its own fault plan ([Actor.FailNext], [Actor.PanicNext],
// [Actor.FailAlways]) so that tests, and the store's own test hooks, can make
// the next step fail or panic without any global state.
//
// # Time
//
// Every loop runs on a [Clock]. Production code passes [SystemClock]; tests
// pass actorstest.Clock and advance it by hand, so no test has to sleep.
//
// [suture.Service]: https://pkg.go.dev/github.com/thejerf/suture/v4#Service
package actors
