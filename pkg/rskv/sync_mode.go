package rskv

import "fmt"

// SyncMode says when a write becomes durable. Whatever the mode, Sync,
// Checkpoint and Close make every write acknowledged before them durable.
type SyncMode int

// The zero value is SyncPeriodic, the default (contract version 2), so
// Options{SyncMode: SyncNone} means SyncNone.
const (
	// SyncPeriodic makes writes durable within SyncInterval, by a background
	// sync. It is the zero value and the default. With DisableBackground it
	// behaves as SyncNone.
	SyncPeriodic SyncMode = iota
	// SyncNone makes writes durable only at Sync, Checkpoint, Close, or when
	// the log flushes pages to make room in memory. Fastest; a crash loses the
	// writes since the last of those.
	SyncNone
	// SyncAlways makes a write durable before its call returns. Concurrent
	// writers share one fsync (group commit).
	SyncAlways
)

// String returns the mode's name.
func (m SyncMode) String() string {
	switch m {
	case SyncNone:
		return "none"
	case SyncPeriodic:
		return "periodic"
	case SyncAlways:
		return "always"
	default:
		return fmt.Sprintf("SyncMode(%d)", int(m))
	}
}
