package rskv

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/actors"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/supervisor"
)

// Options configures a Store. The zero value of every field means its
// documented default, so Open(dir, nil) and Open(dir, &Options{}) are the same.
// Open copies the Options; changing them afterwards has no effect.
type Options struct {
	// MemorySize is the number of bytes of log kept in memory: the mutable
	// region, where updates happen in place, plus the read-only region that
	// is waiting to be flushed or still serves reads. Default 1 GiB. It is
	// chosen at every open and must hold at least MinPages pages of the
	// store's PageSize. The hash index is sized separately (see IndexBuckets).
	MemorySize int64
	// PageSize is the size of a log page in bytes: a power of two from 4 KiB
	// to 1 GiB. A record (header, key and value) must fit in one page, so
	// this bounds the value size. Default 4 MiB; a MemorySize under 128 MiB
	// gets MemorySize/32 (at least 64 KiB, at most MemorySize/MinPages) so it
	// keeps enough pages to flush while writing. The page size is
	// fixed when the store is created (zero on reopen means "as created"),
	// while MemorySize is chosen anew at every open and only has to hold
	// MinPages pages, so a default store reopens with as little as 16 MiB.
	PageSize int64
	// MutableFraction is the share of MemorySize that is mutable, in (0, 1].
	// Default 0.9.
	MutableFraction float64
	// SyncMode says when writes become durable. The zero value is the
	// default, SyncPeriodic.
	SyncMode SyncMode
	// SyncInterval bounds how long a write waits to become durable under
	// SyncPeriodic. Default 100ms.
	SyncInterval time.Duration
	// CheckpointInterval is the period of background checkpoints. Default 5s;
	// negative disables them.
	CheckpointInterval time.Duration
	// GCInterval is the period at which the collector checks whether
	// compaction is worth running. Default 10s; negative disables it.
	GCInterval time.Duration
	// DisableBackground stops Open from starting the background services.
	// The store still works in full: writers flush and evict inline when
	// memory is full. Start them later with StartBackground.
	DisableBackground bool

	// SegmentSize is the size of one log segment file: a power of two, at
	// least PageSize. Compaction gives disk space back a whole segment at a
	// time, so smaller segments return space sooner. Default MemorySize/4
	// rounded down to a power of two, clamped to [PageSize, 256 MiB]. Fixed
	// when the store is created; zero on reopen means "as created".
	SegmentSize int64
	// IndexBuckets is the initial number of 64-byte hash buckets, a power of
	// two from 1 Ki to 64 Mi. Each holds seven entries and chains to
	// overflow buckets, so any number of keys works, and the index doubles
	// online when more than 1/16 of its buckets overflow (at about 4.2 keys
	// per bucket), up to 256 Mi buckets; set it to about one bucket per four
	// keys you expect to skip the doublings of a load. Default 1 Ki (64 KiB).
	// Fixed when the store is created; zero on reopen means "as created".
	IndexBuckets int64
	// CheckpointsToKeep is how many checkpoints are kept on disk; older ones
	// are pruned. Default 3.
	CheckpointsToKeep int
	// GCDeadFraction is the share of a segment's bytes that must be dead
	// (overwritten or deleted) for compaction to take it; compaction takes
	// the oldest segments while each does, and never a fully live one. In
	// (0, 1]; default 0.5, which keeps the log within about twice its live
	// data.
	GCDeadFraction float64
	// GCMinBytes is the least number of dead bytes, in the segments
	// compaction would take, for the collector to run it. Default two
	// segments.
	GCMinBytes int64
	// Logger receives the store's log lines. Default: discarded.
	Logger *slog.Logger
	// FS is the file system the store uses. Default vfs.Default (the OS).
	// Tests pass vfs.NewMem() or a fault-injecting wrapper.
	FS vfs.FS
	// MmapReads reads records below the head through read-only memory maps
	// of the segment files instead of one pread system call each: much
	// cheaper when the OS page cache holds the data. If the device fails
	// while the kernel reads a mapped page (SIGBUS), the read returns an
	// error, as a pread would: the copy runs with debug.SetPanicOnFault and
	// recovers. Mapped pages count in the process's RSS as file pages (page
	// cache the kernel may reclaim), not in its anonymous memory. Off by
	// default. Ignored for file systems that cannot map (vfs.NewMem,
	// errorfs).
	MmapReads bool
	// DisableReadPromotion stops Get from copying records it reads from disk
	// back to the tail. By default a record read from disk twice within a
	// short window is copied into memory, so hot keys in data larger than
	// memory are served from memory (FASTER's CopyReadsToTail, with a
	// second-hit filter so that one-off reads do not churn the log).
	DisableReadPromotion bool
	// RestartPolicies overrides the restart policy of background services by
	// name ("checkpointer", "collector", "log-shifter", "syncer", "expirer"; any other
	// name is ErrInvalidOptions); zero fields of a policy keep supervisor.DefaultPolicy's values. The
	// built-in policies (supervisor.CheckpointerPolicy and its siblings)
	// suit production; tests use this to see a give-up within seconds.
	RestartPolicies map[string]RestartPolicy
	// ReadOnly opens an existing store for reading only. Any number of
	// read-only opens (in this and other processes) may share a store; a
	// writer is refused with ErrLocked while they hold it and they are
	// refused while a writer does. Writes return ErrReadOnly. Nothing in dir
	// changes: no file is created, written or touched. Recovery runs in
	// memory (a torn tail is not read, not cut); no background service runs.
	// A directory holding no store is an error matching fs.ErrNotExist.
	ReadOnly bool
	// ServiceFaults, if set, lets the caller plant failures in the
	// background services of the opened store: the service side of fault
	// injection, as FS (with log/vfs/errorfs) is the storage side. See
	// ServiceFaults.
	ServiceFaults *ServiceFaults

	// Now, if set, is the store's clock for expiry: every decision whether
	// a key has expired, and the deadline of a PutTTL, read it instead of
	// the system clock. A replicated server sets it to the time of the
	// command being applied, so that every replica decides expiry alike
	// (internal/replication). It must not go backwards by much, and is
	// called concurrently.
	Now func() time.Time

	// clock drives the services' timers; nil: the system clock. Only
	// in-package tests set it (export_test.go), to step time by hand.
	clock actors.Clock
}

// RestartPolicy is how the supervisor treats a failing background service:
// backoff after repeated failures, stop timeout, and when to give it up.
type RestartPolicy = supervisor.Policy

// SetSyncMode sets SyncMode and returns o, for chaining. (Before contract
// version 2 it was the only way to choose SyncNone, then the zero value.)
func (o *Options) SetSyncMode(m SyncMode) *Options {
	o.SyncMode = m
	return o
}

const (
	defaultMemorySize      = 1 << 30
	defaultMutableFraction = 0.9
	defaultSyncInterval    = 100 * time.Millisecond
	defaultCheckpointEvery = 5 * time.Second
	defaultGCEvery         = 10 * time.Second
	defaultKeepCheckpoints = 3
	defaultGCDeadFraction  = 0.5
)

// withDefaults returns a copy of o (nil: all defaults) with every zero field
// replaced by its default. Shape fields (PageSize, SegmentSize, IndexBuckets)
// stay zero here when unset: on reopen zero means "as created", and for a
// new store loadManifest (geometry.go) fills in their defaults.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.MemorySize == 0 {
		c.MemorySize = defaultMemorySize
	}
	if c.MutableFraction == 0 {
		c.MutableFraction = defaultMutableFraction
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = defaultSyncInterval
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = defaultCheckpointEvery
	}
	if c.GCInterval == 0 {
		c.GCInterval = defaultGCEvery
	}
	if c.CheckpointsToKeep == 0 {
		c.CheckpointsToKeep = defaultKeepCheckpoints
	}
	if c.GCDeadFraction == 0 {
		c.GCDeadFraction = defaultGCDeadFraction
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	return c
}

// validate reports every out-of-range field at once, as one error marked
// ErrInvalidOptions. It runs after withDefaults and after the shape fields
// have been resolved.
func (o *Options) validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if o.MemorySize < 0 {
		add("MemorySize %d is negative (allowed: > 0 bytes, 0 for the default of 1 GiB)", o.MemorySize)
	}
	if o.PageSize < 0 || (o.PageSize != 0 && (!isPow2(o.PageSize) || o.PageSize < minPageSize || o.PageSize > maxPageSize)) {
		add("PageSize %d is not a power of two from 4096 to %d (0 for the default)", o.PageSize, int64(maxPageSize))
	} else if o.PageSize > 0 && o.MemorySize > 0 && o.MemorySize < MinPages*o.PageSize {
		add("MemorySize %d holds fewer than %d pages of PageSize %d (allowed: MemorySize >= %d)",
			o.MemorySize, MinPages, o.PageSize, MinPages*o.PageSize)
	}
	if math.IsNaN(o.MutableFraction) || o.MutableFraction <= 0 || o.MutableFraction > 1 {
		add("MutableFraction %v is outside (0, 1]", o.MutableFraction)
	}
	if o.SyncMode < SyncPeriodic || o.SyncMode > SyncAlways {
		add("SyncMode %d is not SyncNone, SyncPeriodic or SyncAlways", int(o.SyncMode))
	}
	if o.SyncInterval < 0 {
		add("SyncInterval %v is negative (allowed: > 0, 0 for the default of 100ms)", o.SyncInterval)
	}
	if o.SegmentSize < 0 || (o.SegmentSize != 0 && (!isPow2(o.SegmentSize) || o.SegmentSize > maxSegmentSize)) {
		add("SegmentSize %d is not a power of two up to 1 TiB (0 for the default)", o.SegmentSize)
	} else if o.SegmentSize != 0 && o.PageSize != 0 && o.SegmentSize < o.PageSize {
		add("SegmentSize %d is smaller than PageSize %d (allowed: SegmentSize >= PageSize)", o.SegmentSize, o.PageSize)
	}
	if o.IndexBuckets < 0 || (o.IndexBuckets != 0 && (!isPow2(o.IndexBuckets) || o.IndexBuckets < minBuckets || o.IndexBuckets > maxBuckets)) {
		add("IndexBuckets %d is not a power of two from %d to %d (0 for the default)", o.IndexBuckets, minBuckets, maxBuckets)
	}
	if o.CheckpointsToKeep < 0 {
		add("CheckpointsToKeep %d is negative (allowed: >= 1, 0 for the default of 3)", o.CheckpointsToKeep)
	}
	if math.IsNaN(o.GCDeadFraction) || o.GCDeadFraction < 0 || o.GCDeadFraction > 1 {
		add("GCDeadFraction %v is outside (0, 1]", o.GCDeadFraction)
	}
	if o.GCMinBytes < 0 {
		add("GCMinBytes %d is negative (allowed: >= 0, 0 for the default of two segments)", o.GCMinBytes)
	}
	problems = append(problems, validateRestartPolicies(o.RestartPolicies)...)
	if len(problems) == 0 {
		return nil
	}
	return errors.Wrapf(ErrInvalidOptions, "%s", strings.Join(problems, "; "))
}
