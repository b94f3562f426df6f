package rskv

import "time"

// Stats describes a store: its key count, the boundaries of its hybrid log,
// where its bytes are, and operation counters since Open.
type Stats struct {
	// Keys is the number of live keys (as Len).
	Keys int
	// The log's address space. The store keeps
	//
	//	HeadAddress <= FlushedAddress <= ReadOnlyAddress <= TailAddress
	//	DurableAddress <= FlushedAddress
	//
	// and BeginAddress <= HeadAddress once the store has evicted anything
	// (the head is page aligned, so on a new or small store it may sit
	// below BeginAddress; nothing below BeginAddress is ever read). Records
	// below HeadAddress are on disk only, those from ReadOnlyAddress up are
	// mutable in memory. Each field is read atomically but the set is not
	// one snapshot: under concurrent writes compare them with care.
	BeginAddress, HeadAddress, ReadOnlyAddress, TailAddress, FlushedAddress uint64
	// DurableAddress is the address below which the log is synced.
	DurableAddress uint64
	// MutableBytes is the size of the mutable region, ReadOnlyBytes of the
	// in-memory read-only region, DiskBytes of the segment files.
	MutableBytes, ReadOnlyBytes, DiskBytes int64
	// DeltaBytes is the size of the delta log files (in-place updates made
	// durable since the last truncation, docs/durability.md) and
	// CheckpointBytes of the checkpoint files: the store's directory holds
	// DiskBytes + DeltaBytes + CheckpointBytes (and a few small files).
	DeltaBytes, CheckpointBytes int64
	// DeadBytes estimates the log bytes held by overwritten or deleted
	// records: what a compaction could reclaim.
	DeadBytes int64
	// ReclaimableBytes is the part of DeadBytes a compaction would free
	// now: the dead bytes of the whole segments from the begin address,
	// below the head, that each hold enough dead data to pay (see Compact).
	// The collector compacts when it reaches GCMinBytes.
	ReclaimableBytes int64

	// Operation counters.
	Gets, Puts, Deletes, RMWs uint64
	// InPlaceUpdates counts writes done in the mutable region without
	// appending; Appends counts records appended; DiskReads counts records
	// read from disk; Retries counts operations that lost an index race.
	InPlaceUpdates, Appends, DiskReads, Retries uint64
	// Promotions counts records read from disk and copied back to memory.
	Promotions uint64
	// KeptResident counts live records the log shifter copied to the tail
	// instead of evicting them, while the live data fits in memory.
	KeptResident uint64

	// IndexBuckets and IndexOverflowBuckets describe the hash index.
	IndexBuckets, IndexOverflowBuckets int
	// IndexGrowths counts the doublings of the index since Open.
	IndexGrowths uint64

	// Checkpoints and Compactions count those taken since Open.
	Checkpoints, Compactions uint64
	// InlineMaintenance counts writes that found memory full and flushed and
	// evicted themselves instead of finding room made by the log shifter.
	InlineMaintenance uint64
	// SyncLagMax is the longest time a write waited to become durable under
	// SyncPeriodic since Open: from one sync's capture point to the end of
	// the next sync. SyncInterval plus one sync's duration when the device
	// keeps up.
	SyncLagMax time.Duration
	// PacedWrites counts SyncPeriodic writes held up because syncs were late
	// (more than 1.5 SyncIntervals without one completing): the store slows
	// writers to what the device can make durable (docs/durability.md).
	PacedWrites uint64

	// Recovery says what Open did.
	Recovery RecoveryInfo
	// IOError is the first write or sync error, after which the store
	// refuses writes ("" if none).
	IOError string
}

// Stats returns the store's statistics. It is cheap enough to call often;
// the counters are summed from per-processor slots, not kept in one place.
func (s *Store) Stats() Stats {
	l := s.log
	st := Stats{
		Keys:             s.Len(),
		BeginAddress:     l.Begin(),
		HeadAddress:      l.Head(),
		ReadOnlyAddress:  l.ReadOnly(),
		TailAddress:      l.Tail(),
		FlushedAddress:   l.Flushed(),
		DurableAddress:   l.Durable(),
		DiskBytes:        l.DiskBytes(),
		DeltaBytes:       l.DeltaBytes(),
		DeadBytes:        max(0, s.dead.sum()),
		ReclaimableBytes: s.reclaimable(),
		IndexBuckets:     s.index.Buckets(),
		Recovery:         s.recovery,
	}
	// A Backup's freeze lifts the read-only address above the tail for a
	// moment (log.FreezeTail): report the tail then.
	st.ReadOnlyAddress = min(st.ReadOnlyAddress, st.TailAddress)
	st.CheckpointBytes = s.checkpointBytes()
	st.MutableBytes = int64(st.TailAddress - min(st.TailAddress, st.ReadOnlyAddress))
	st.ReadOnlyBytes = int64(st.ReadOnlyAddress - min(st.ReadOnlyAddress, st.HeadAddress))
	c := s.em.Counters()
	st.Gets, st.Puts, st.Deletes, st.RMWs = c[cntGet], c[cntPut], c[cntDelete], c[cntRMW]
	st.InPlaceUpdates, st.Appends, st.DiskReads, st.Retries = c[cntInPlace], c[cntAppend], c[cntDiskRead], c[cntRetry]
	st.Promotions, st.KeptResident = c[cntPromoted], c[cntKeptResident]
	st.IndexOverflowBuckets = s.index.OverflowBuckets()
	st.Checkpoints, st.Compactions = s.checkpoints.Load(), s.compactions.Load()
	st.InlineMaintenance = s.inlineMaintenance.Load()
	st.IndexGrowths = s.indexGrowths.Load()
	st.SyncLagMax, st.PacedWrites = l.SyncLagMax(), l.PacedWrites()
	if err := l.Err(); err != nil {
		st.IOError = err.Error()
	}
	return st
}

// Sync makes every write acknowledged before the call durable. It returns
// the first I/O error the log met, if any: after a failed write or fsync the
// store never reports data as durable again.
func (s *Store) Sync() error {
	if err := s.life.enter(); err != nil {
		return err
	}
	defer s.life.exit()
	if s.opts.ReadOnly {
		return nil // nothing was written: all of it is durable
	}
	if err := s.log.WaitDurable(s.log.Tail()); err != nil {
		return s.ioFailure(err)
	}
	return nil
}
