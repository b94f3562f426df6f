package rskv

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/checkpoint"
	"github.com/rskv-go/rskv/internal/hlog"
)

// Checkpoint takes a checkpoint: a snapshot of the hash index and the log
// position it covers, so that Open replays only the log written since. It
// makes every write acknowledged before it durable, like Sync. Readers and
// writers keep going while it runs: the index is copied word by word, not
// under a lock. Only the newest CheckpointsToKeep checkpoints are kept.
func (s *Store) Checkpoint() (CheckpointInfo, error) {
	if err := s.writable(); err != nil {
		return CheckpointInfo{}, err
	}
	if err := s.life.enter(); err != nil {
		return CheckpointInfo{}, err
	}
	defer s.life.exit()
	s.opMu.Lock()
	defer s.opMu.Unlock()
	return s.checkpointLocked()
}

// tryCheckpoint is the checkpointer service's step (through
// checkpointTarget): it takes a checkpoint unless a manual Checkpoint or
// Compact is running, in which case it reports skipped at once.
func (s *Store) tryCheckpoint(ctx context.Context) (skipped bool, err error) {
	if s.opts.ReadOnly || s.life.enter() != nil {
		return true, nil
	}
	defer s.life.exit()
	if !s.opMu.TryLock() {
		return true, nil
	}
	defer s.opMu.Unlock()
	if s.lastCheckpoint.ID != 0 && s.log.Tail() == s.lastCheckpoint.Start && s.log.Begin() == s.lastCheckpoint.Begin {
		// Nothing was appended since the last checkpoint's start (not its
		// End: records appended while it was written are not in its
		// snapshot or key count) and the log's begin did not move: the
		// index points where it did (only an append or a compaction
		// changes an entry), so a new snapshot would
		// be the same bytes and recovery would replay the same (empty) log
		// after it. Records may still have changed in place since: that
		// is the delta log's business, not the index's: under SyncNone a
		// sync makes them durable as a checkpoint would (nothing else
		// does); under SyncPeriodic the syncer does it, and an extra sync
		// here would only land in the middle of a truncation and keep its
		// generation of the delta log alive (see log.SyncCheckpoint).
		if s.opts.SyncMode == SyncNone {
			if err := s.log.WaitDurable(s.log.Tail()); err != nil {
				return false, s.ioFailure(err)
			}
		}
		return true, nil
	}
	_, err = s.checkpointLocked()
	return false, err
}

// checkpointLocked takes a checkpoint; s.opMu is held. (Close calls it
// after setting closed, so it does not check that.)
func (s *Store) checkpointLocked() (CheckpointInfo, error) {
	if err := s.log.Err(); err != nil {
		return CheckpointInfo{}, s.ioFailure(err)
	}
	s.commitMu.Lock() // no batch or transaction commit straddles start
	start := s.log.Tail()
	s.commitMu.Unlock()
	// After this barrier every record allocated below start is linked into
	// the index (or marked invalid), so the snapshot misses none of them.
	s.em.BumpAndWait()
	delta, err := s.keyDeltas(s.keySumAt, start)
	if err != nil {
		return CheckpointInfo{}, err
	}
	ids, err := checkpoint.IDs(s.fs, s.dir)
	if err != nil {
		return CheckpointInfo{}, errors.Wrap(err, "rskv: checkpoint")
	}
	id := s.lastCheckpoint.ID + 1
	for _, i := range ids {
		id = max(id, i+1)
	}
	m := checkpoint.Meta{
		StoreID:   s.geo.storeID,
		ID:        id,
		Time:      time.Now(),
		Start:     start,
		Begin:     s.log.Begin(),
		KeySum:    s.keySum + delta,
		DeadBytes: s.dead.sum(),
		Buckets:   s.index.Buckets(),
	}
	m, err = checkpoint.Write(s.fs, s.dir, m, s.index.WriteSnapshot, func(m *checkpoint.Meta) error {
		m.End = s.log.Tail()
		if err := s.log.SyncCheckpoint(); err != nil {
			return s.ioFailure(err)
		}
		return nil
	})
	if err != nil {
		return CheckpointInfo{}, errors.Wrapf(err, "rskv: checkpoint %d", id)
	}
	s.keySumAt, s.keySum = start, m.KeySum
	s.lastCheckpoint = m
	s.checkpoints.Add(1)
	s.opts.Logger.Info("rskv: checkpoint", "id", m.ID, "start", m.Start, "end", m.End, "keys", m.KeySum, "bytes", m.Bytes)
	s.noteCheckpoint(m.ID, m.Bytes)
	if err := s.pruneCheckpoints(); err != nil {
		return infoOf(m), err
	}
	return infoOf(m), nil
}

// checkpointFiles keeps the size of the checkpoint files for Stats, which
// must not list the directory on every call: the store adds what it writes
// and removes what it prunes; the first Stats lists the checkpoints Open
// found.
type checkpointFiles struct {
	mu    sync.Mutex
	known bool
	sizes map[uint64]int64
	total atomic.Int64
}

// noteCheckpoint records checkpoint id's size, or with bytes < 0 its removal.
func (s *Store) noteCheckpoint(id uint64, bytes int64) {
	c := &s.ckptFiles
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sizes == nil {
		c.sizes = map[uint64]int64{}
	}
	if bytes < 0 {
		delete(c.sizes, id)
	} else {
		c.sizes[id] = bytes
	}
	c.sumLocked()
}

func (c *checkpointFiles) sumLocked() {
	var n int64
	for _, b := range c.sizes {
		n += b
	}
	c.total.Store(n)
}

// checkpointBytes is the size of the checkpoint files. The first call lists
// them (a failed listing is tried again by the next call).
func (s *Store) checkpointBytes() int64 {
	c := &s.ckptFiles
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		metas, _, err := checkpoint.List(s.fs, s.dir)
		if err == nil {
			if c.sizes == nil {
				c.sizes = map[uint64]int64{}
			}
			for _, m := range metas {
				if m.StoreID == s.geo.storeID {
					c.sizes[m.ID] = m.Bytes
				}
			}
			c.known = true
			c.sumLocked()
		}
	}
	return c.total.Load()
}

func infoOf(m checkpoint.Meta) CheckpointInfo {
	return CheckpointInfo{ID: m.ID, Time: m.Time, TailAddress: m.End, Keys: int(max(0, m.KeySum)), Bytes: m.Bytes}
}

// keyDeltas sums the live-key changes of the records in [from, to), which
// must be complete (below a tail sampled before an epoch barrier).
func (s *Store) keyDeltas(from, to uint64) (int64, error) {
	var sum int64
	sc := s.log.NewScanner(from, to)
	for {
		g := s.em.Protect()
		for i := 0; i < scanWorkRecords; i++ {
			it, ok, err := sc.Next()
			if err != nil {
				g.Release()
				return 0, errors.Wrap(err, "rskv: sum key changes")
			}
			if !ok {
				g.Release()
				return sum, nil
			}
			sum += recordKeyDelta(it.Info, it.Value)
		}
		g.Release()
	}
}

// keyDelta is a record's change to the live-key count, from its flags. The
// records of a multi-key commit (FlagBatch) count 0 here: their commit
// record carries their sum (recordKeyDelta), so that the records of a
// commit that never finished count nothing.
func keyDelta(info uint64) int64 {
	switch {
	case info&(hlog.FlagInvalid|hlog.FlagBatch|hlog.FlagCommit) != 0:
		return 0
	case info&hlog.FlagNewKey != 0:
		return 1
	case info&hlog.FlagDelKey != 0:
		return -1
	}
	return 0
}

// pruneCheckpoints deletes all but the newest CheckpointsToKeep checkpoints.
func (s *Store) pruneCheckpoints() error {
	ids, err := checkpoint.IDs(s.fs, s.dir)
	if err != nil {
		return errors.Wrap(err, "rskv: prune checkpoints")
	}
	keep := s.opts.CheckpointsToKeep
	for i := 0; i+keep < len(ids); i++ {
		if err := checkpoint.Remove(s.fs, s.dir, checkpoint.FileName(ids[i])); err != nil {
			return errors.Wrap(err, "rskv: prune checkpoints")
		}
		s.noteCheckpoint(ids[i], -1)
	}
	return nil
}

// Checkpoints lists the checkpoints on disk, oldest first.
func (s *Store) Checkpoints() ([]CheckpointInfo, error) {
	if err := s.life.enter(); err != nil {
		return nil, err
	}
	defer s.life.exit()
	metas, _, err := checkpoint.List(s.fs, s.dir)
	if err != nil {
		return nil, errors.Wrap(err, "rskv: list checkpoints")
	}
	out := make([]CheckpointInfo, 0, len(metas))
	for _, m := range metas {
		if m.StoreID == s.geo.storeID {
			out = append(out, infoOf(m))
		}
	}
	return out, nil
}

// closeCheckpointWorthIt says whether Close should take a checkpoint (s.opMu
// is held: it reads keySumAt and lastCheckpoint): when
// replaying the log written since the last one would cost more than writing
// the index (both are sequential I/O, so bytes compare fairly).
func (s *Store) closeCheckpointWorthIt() bool {
	if s.opts.CheckpointInterval < 0 || s.log.Err() != nil {
		return false
	}
	replay := s.log.Tail() - max(s.keySumAt, s.log.Begin())
	// The snapshot is sparse: about a bucket per live key in a sparse
	// index, every bucket in a full one; the last checkpoint's size is the
	// best guess when there is one.
	index := max(s.lastCheckpoint.IndexBytes,
		min(int64(s.Len())*64, int64(s.index.Buckets())*64)+int64(s.index.OverflowBuckets())*64)
	return int64(replay) > index
}
