package rskv

import "time"

// CheckpointInfo describes one checkpoint on disk.
type CheckpointInfo struct {
	// ID numbers checkpoints in the order they were taken.
	ID uint64
	// Time is when the checkpoint was taken.
	Time time.Time
	// TailAddress is the log address the checkpoint covers: every record below
	// it was durable when the checkpoint was written.
	TailAddress uint64
	// Keys is the number of live keys at the checkpoint.
	Keys int
	// Bytes is the size of the checkpoint file.
	Bytes int64
}

// CompactStats says what one compaction did.
type CompactStats struct {
	// BytesReclaimed is the disk space given back: the same as BytesFreed
	// (kept for the contract's name).
	BytesReclaimed int64
	// BytesFreed is the size of the segment files deleted.
	BytesFreed int64
	// BytesCopied is the size of the live records copied to the tail: the
	// write cost of the space freed. Compaction takes only segments where
	// it pays, so a store with nothing dead copies and frees nothing.
	BytesCopied int64
	// RecordsScanned is the number of records read: those of the compacted
	// range, and those of a segment read to check its dead-byte estimate
	// (replayed at Open, so not trusted), whether or not it was compacted.
	RecordsScanned int64
	// RecordsMoved is the number of live records copied to the tail.
	RecordsMoved int64
	// BeginBefore and BeginAfter are the log's begin address before and after.
	BeginBefore, BeginAfter uint64
	// Duration is the wall time the compaction took.
	Duration time.Duration
}

// BackgroundStats describes the background services.
type BackgroundStats struct {
	// Running says whether the supervision tree is running.
	Running bool
	// CheckpointEnabled and GCEnabled say whether the checkpointer and the
	// collector are part of the tree (their interval is not negative).
	CheckpointEnabled bool
	GCEnabled         bool
	// CheckpointInterval and GCInterval are the configured intervals.
	CheckpointInterval time.Duration
	GCInterval         time.Duration
	// ActiveServices is the number of services currently running.
	ActiveServices int
}

// ServiceStatus is one row of the supervision tree report.
type ServiceStatus struct {
	// Name is the service's role: "checkpointer", "collector", "log-shifter"
	// or "syncer".
	Name string
	// Running says whether the service's Serve loop is running now.
	Running bool
	// Restarts counts how often the supervisor restarted the service after a
	// failure or panic.
	Restarts int
	// LastError is the text of the service's most recent failure, if any.
	LastError string
	// Failures counts the service's failures and panics (more than Restarts
	// while it backs off or after it was given up).
	Failures int
	// BackingOff says the supervisor is waiting before the next restart.
	BackingOff bool
	// GivenUp says the service failed more often than its restart policy
	// allows and stays stopped until StartBackground is called again. The
	// store works without it.
	GivenUp bool
}
