package rskv

import (
	"encoding/binary"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/checkpoint"
	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/rskv-go/rskv/internal/hlog"
)

// recover brings the store back: it loads the newest valid checkpoint's
// index (falling back to older ones, then to an empty index), replays the
// log from the checkpoint's start (or from the begin address) to the end of
// its valid data, and restores the live-key count.
//
// Key accounting: every record carries the change it made to the number of
// live keys (FlagNewKey +1, FlagDelKey -1, anything else 0), decided at write
// time under the index compare-and-swap that published it. The count is
// therefore the sum over all records ever written. Records that compaction
// removed are summed into the manifest's KeyBase; a checkpoint stores the sum
// below its start; recovery adds the records it replays.
func (s *Store) recover() error {
	if s.opts.ReadOnly {
		// Read-only hook: recovery below changes nothing on disk (the log
		// is opened with Config.ReadOnly; stale checkpoint files are left).
		// A step that repairs or rewrites files before replay (such as
		// redoing a delta log onto the segments) must, here, either run
		// into memory only or refuse the open with a clear error.
		s.opts.Logger.Debug("rskv: recovering read-only, in memory", "dir", s.dir)
	}
	begin := s.man.Begin
	from, keys, hint := begin, s.man.KeyBase, uint64(0)
	s.dead.init(uint(s.man.SegmentBits), begin)
	s.expiring.init(uint(s.man.SegmentBits), begin)
	cp, err := s.loadCheckpoint()
	if err != nil {
		return err
	}
	if cp != nil {
		s.recovery.CheckpointID = cp.ID
		hint = cp.End
		if cp.Start >= begin {
			from, keys = cp.Start, cp.KeySum
		}
		// Otherwise compaction moved begin past the checkpoint's start: the
		// index is still a good base, but the replay (and the key count)
		// starts from begin.
	} else {
		var err error
		if s.index, err = hashidx.New(s.geo.buckets); err != nil {
			return err
		}
	}
	link := func(h, addr uint64) error {
		if s.index.WantsGrowth() {
			// The log is not started: the split reads chains from disk.
			s.index.Grow(s.traceRecovering)
		}
		slot, e := s.index.FindOrCreate(h)
		if e.Address() < addr {
			if !hashidx.CompareAndSwap(slot, e, hashidx.MakeEntry(addr, hashidx.TagOf(h))) {
				return errors.AssertionFailedf("rskv: index changed during recovery")
			}
		}
		return nil
	}
	// The records of multi-key commits wait here for their commit record
	// (commit.go); those it does not cover are dropped.
	type pendingRecord struct {
		h   uint64
		rec hlog.DiskRecord // without key and value (they alias the read buffer)
	}
	var pending []pendingRecord
	rep, err := s.log.Recover(begin, from, hint, func(rec hlog.DiskRecord) error {
		switch {
		case rec.Info&hlog.FlagBatch != 0:
			pending = append(pending, pendingRecord{hashKey(rec.Key), hlog.DiskRecord{Address: rec.Address, Info: rec.Info, Size: rec.Size}})
			return nil
		case rec.Info&hlog.FlagCommit != 0:
			if len(rec.Value) < 16 {
				return errors.Mark(errors.Newf("rskv: commit record at %#x has a %d-byte value, want 16", rec.Address, len(rec.Value)), ErrCorruption)
			}
			start := binary.LittleEndian.Uint64(rec.Value)
			for _, p := range pending {
				if p.rec.Address < start {
					s.dead.add(p.rec.Address, p.h, int64(p.rec.Size)) // an unfinished commit's
					continue
				}
				if err := link(p.h, p.rec.Address); err != nil {
					return err
				}
				s.noteReplayedDead(p.h, p.rec)
			}
			pending = pending[:0]
			keys += recordKeyDelta(rec.Info, rec.Value)
			s.dead.add(rec.Address, start, int64(rec.Size))
			return nil
		}
		h := hashKey(rec.Key)
		if err := link(h, rec.Address); err != nil {
			return err
		}
		keys += keyDelta(rec.Info)
		s.noteReplayedDead(h, rec)
		s.noteReplayedExpiry(h, rec)
		return nil
	})
	for _, p := range pending {
		// A commit cut short (by a crash or an error): none of it applies.
		s.dead.add(p.rec.Address, p.h, int64(p.rec.Size))
	}
	s.recovery.From, s.recovery.To = rep.From, rep.End
	s.recovery.BytesReplayed, s.recovery.Records = rep.BytesScanned, rep.Records
	s.recovery.TornAt, s.recovery.TornBytes = rep.TornAt, rep.TornBytes
	s.recovery.Removed = append(s.recovery.Removed, rep.Removed...)
	if d := rep.Delta; d.Generations > 0 {
		// The delta log held the mutable region's durable state; it is in
		// the segment files now (log.Recover redid it first).
		s.opts.Logger.Info("rskv: redid the delta log", "generations", d.Generations, "batches", d.Batches,
			"images", d.Images, "bytes", d.Bytes, "durable_to", d.End, "torn_file", d.TornFile, "torn_offset", d.TornAt)
	}
	if err != nil {
		return errors.Wrapf(err, "rskv: recover %s", s.dir)
	}
	if err := s.log.Start(begin, rep.End); err != nil {
		return errors.Wrapf(err, "rskv: recover %s", s.dir)
	}
	if s.opts.MmapReads {
		s.log.EnableMmap()
	}
	s.keys.reset(keys)
	if cp != nil {
		// The checkpoint knows how much was dead, not where: spread it.
		s.dead.spread(begin, max(begin, min(cp.Start, rep.End)), cp.DeadBytes)
	}
	s.deadExactFrom = rep.End // counted from here on; below, replayed guesses
	if s.recovery.Created {
		s.deadExactFrom = 0
	}
	s.keySumAt, s.keySum = rep.End, keys
	return nil
}

// loadCheckpoint installs the index of the newest checkpoint that reads back
// whole, and returns its meta (nil: none usable). Every checkpoint file that
// fails to load, whatever the reason (a damaged header or body, an I/O
// error, another store's file), is skipped with a warning and listed in
// RecoveryInfo.SkippedCheckpoints; leftover temporary files are deleted.
func (s *Store) loadCheckpoint() (*checkpoint.Meta, error) {
	ids, stale, err := checkpoint.Files(s.fs, s.dir)
	if err != nil {
		return nil, errors.Wrapf(err, "rskv: recover %s", s.dir)
	}
	for _, name := range stale {
		if s.opts.ReadOnly {
			continue // debris, left in place
		}
		if err := checkpoint.Remove(s.fs, s.dir, name); err != nil {
			return nil, errors.Wrapf(err, "rskv: recover %s", s.dir)
		}
		s.recovery.Removed = append(s.recovery.Removed, name)
	}
	for i := len(ids) - 1; i >= 0; i-- {
		// Read checks the header against the store's shape and the file's
		// size before it allocates the index.
		meta, idx, err := checkpoint.Read(s.fs, s.dir, ids[i], checkpoint.Shape{StoreID: s.geo.storeID,
			MinBuckets: s.geo.buckets, MaxBuckets: hashidx.MaxBuckets})
		if err != nil {
			s.recovery.SkippedCheckpoints = append(s.recovery.SkippedCheckpoints, err.Error())
			s.opts.Logger.Warn("rskv: skipping checkpoint", "id", ids[i], "err", err)
			continue
		}
		s.index = idx
		s.lastCheckpoint = meta
		return &meta, nil
	}
	return nil, nil
}
