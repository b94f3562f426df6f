package actors

import "context"

// CheckpointTarget is the checkpointer's view of the store.
type CheckpointTarget interface {
	// TryCheckpoint takes a checkpoint unless a manual Checkpoint or Compact is in
	// progress; then it returns skipped=true at once without waiting.
	//
	// If ctx is cancelled while the checkpoint is being written, the target
	// either finishes it or abandons it so that nothing half-written is ever
	// taken for a checkpoint.
	TryCheckpoint(ctx context.Context) (skipped bool, err error)
}

// CompactionTarget is the collector's view of the store.
type CompactionTarget interface {
	// CompactionDue reports whether dead bytes exceed the configured
	// threshold, that is, whether a compaction is worth its cost. It must be
	// cheap: the collector calls it on every tick.
	CompactionDue() bool
	// TryCompact compacts the log unless a manual Checkpoint or Compact is in
	// progress; then it returns skipped=true at once without waiting. Like
	// TryCheckpoint, it finishes or aborts cleanly when ctx is cancelled.
	TryCompact(ctx context.Context) (skipped bool, err error)
}

// LogTarget is the log shifter's view of the hybrid log.
type LogTarget interface {
	// Pressure is signalled (non-blocking send on a buffered chan of cap 1) whenever
	// the tail crosses into a new page or a writer finds memory full.
	//
	// The channel must stay the same for the target's lifetime and must not
	// be closed. (A closed channel is tolerated: the shifter then falls back
	// to its timer alone.)
	Pressure() <-chan struct{}
	// MaintainLog does one pass: shift read-only and flush when the mutable region
	// exceeds its budget, shift head when the in-memory read-only region exceeds its.
	MaintainLog(ctx context.Context) error
}

// SyncTarget is the syncer's view of the log.
type SyncTarget interface {
	// SyncLog flushes and fsyncs everything acknowledged.
	//
	// A failed fsync must not be retried into a false success: after one, the
	// target must keep returning that first error (the store poisons
	// itself). The syncer does not remember past failures; its supervisor
	// restarts it and, if SyncLog keeps failing, gives it up.
	SyncLog(ctx context.Context) error
}

// ExpiryTarget is the expirer's view of the store.
type ExpiryTarget interface {
	// SweepExpired walks the in-memory part of the log in bounded,
	// epoch-protected steps and deletes every key whose newest version has
	// expired, with a conditional tombstone (a concurrent update of the key
	// wins). swept is false when there was nothing to look at (no record
	// with an expiry was written since the last sweep). It returns early,
	// with ctx's error, when ctx is cancelled; what it deleted stays deleted.
	SweepExpired(ctx context.Context) (swept bool, err error)
}
