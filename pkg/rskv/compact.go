package rskv

import (
	"context"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/hashidx"
	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/internal/manifest"
	hlog "github.com/rskv-go/rskv/log"
)

// Compaction reclaims the oldest part of the log, [begin, until), where
// until is a segment boundary in the flushed, read-only region:
//
//  1. Scan the range. A record that is still its key's newest version is
//     copied to the tail with a conditional insert: the copy is linked only
//     if the index still leads to the original, so an update that lands
//     meanwhile is never overwritten by the older copy. A newest version
//     that is a tombstone is dropped: every older version of its key lies
//     in the range too.
//  2. Sync the log, so the copies are durable.
//  3. Write the manifest with begin = until (and the live-key changes of
//     the dropped records folded into KeyBase). This is the commit point: a
//     crash before it leaves the copies as harmless newer versions; a crash
//     after it leaves segments below begin, which recovery deletes.
//  4. Move the log's begin address and delete the segment files below it,
//     once no reader can be in them (epoch).
//  5. Clear index entries that now point below begin.

// Compact reclaims the space of dead records in the oldest segments of the
// log. It runs alongside readers and writers and does not wait for Scans:
// while one runs, the segment files below the new begin are deleted when
// the last running Scan ends (BytesReclaimed then counts 0 for them).
// Close waits for a Compact in progress, which stops at its next batch (and
// returns ErrClosed, having committed nothing) unless it is already
// committing. It returns what it did; BytesReclaimed is 0 when there was
// no whole segment behind the read-only region to compact.
func (s *Store) Compact() (CompactStats, error) {
	if err := s.writable(); err != nil {
		return CompactStats{}, err
	}
	if err := s.life.enter(); err != nil {
		return CompactStats{}, err
	}
	defer s.life.exit()
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.scans.truncationPending() {
		return CompactStats{BeginBefore: s.log.Begin(), BeginAfter: s.log.Begin()}, nil
	}
	st, err := s.compactLocked(s.life.ctx)
	if err != nil && s.life.ctx.Err() != nil {
		err = errors.Wrap(ErrClosed, "compaction stopped by Close")
	}
	return st, err
}

// tryCompact is the collector service's step (through compactionTarget): it
// compacts unless a manual Checkpoint or Compact is running, in which case
// it reports skipped.
func (s *Store) tryCompact(ctx context.Context) (skipped bool, err error) {
	if s.opts.ReadOnly || s.life.enter() != nil {
		return true, nil
	}
	defer s.life.exit()
	if !s.opMu.TryLock() {
		return true, nil
	}
	defer s.opMu.Unlock()
	if s.scans.truncationPending() {
		return true, nil
	}
	_, err = s.compactLocked(ctx)
	return false, err
}

// compactionDue reports whether enough of the log is dead for compaction to
// pay: at least GCMinBytes and at least GCDeadFraction of the disk bytes,
// with a whole segment behind the read-only region to give back.
func (s *Store) compactionDue() bool {
	if s.closed.Load() || s.log.Err() != nil || s.scans.truncationPending() {
		return false
	}
	dead, disk := s.dead.sum(), s.log.DiskBytes()
	if dead < s.gcMinBytes() || float64(dead) < s.opts.GCDeadFraction*float64(disk) {
		return false
	}
	return s.compactUntil() > s.log.Begin()
}

func (s *Store) gcMinBytes() int64 {
	if s.opts.GCMinBytes > 0 {
		return s.opts.GCMinBytes
	}
	return 2 << s.geo.segmentBits
}

// compactUntil is the end of the range a compaction would take: the last
// segment boundary at or below the safe read-only and flushed addresses.
func (s *Store) compactUntil() uint64 {
	limit := min(s.log.SafeReadOnly(), s.log.Flushed())
	return limit &^ (1<<s.geo.segmentBits - 1)
}

// compactLocked runs one compaction; s.opMu is held.
func (s *Store) compactLocked(ctx context.Context) (CompactStats, error) {
	started := time.Now()
	begin := s.log.Begin()
	st := CompactStats{BeginBefore: begin, BeginAfter: begin}
	if err := s.log.Err(); err != nil {
		return st, s.ioFailure(err)
	}
	until := s.compactUntil()
	if until <= begin {
		st.Duration = time.Since(started)
		return st, nil
	}
	var keyDelta, sumDelta int64 // all records below until; those at or above keySumAt
	var moved int64
	sc := s.log.NewScanner(begin, until)
	buf := getBuf()
	defer putBuf(buf)
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			// Nothing is committed until the manifest is written: stopping
			// here leaves only harmless copies behind.
			return st, errors.Wrap(err, "rskv: compaction interrupted")
		}
		g := s.em.Protect()
		for i := 0; i < scanBatch; i++ {
			it, ok, err := sc.Next()
			if err != nil {
				g.Release()
				return st, errors.Wrap(err, "rskv: compaction scan")
			}
			if !ok {
				done = true
				break
			}
			st.RecordsScanned++
			d := keyDeltaOf(it.Info)
			keyDelta += d
			if it.Address >= s.keySumAt {
				sumDelta += d
			}
			if it.Info&hlog.FlagInvalid != 0 || it.Tombstone() {
				continue // tombstones: see step 1
			}
			var copied bool
			if g, copied, err = s.copyIfNewest(g, it, buf); err != nil {
				return st, err // g released
			}
			if copied {
				st.RecordsMoved++
				moved += int64(it.Size)
			}
		}
		g.Release()
	}
	if err := s.log.SyncAll(); err != nil {
		return st, s.ioFailure(err)
	}
	if err := s.commitBegin(until, keyDelta); err != nil {
		return st, err
	}
	// Running Scans may still read below until: truncate defers the shift
	// (and the index clean-up) to the last of them.
	freed, err := s.truncate(until)
	st.BytesReclaimed = freed
	if err != nil {
		return st, s.ioFailure(err)
	}
	if s.keySumAt < until {
		s.keySumAt, s.keySum = until, s.keySum+sumDelta
	}
	s.dead.add(0, -max(0, int64(until-begin)-moved))
	if d := s.dead.sum(); d < 0 {
		s.dead.add(0, -d)
	}
	s.compactions.Add(1)
	st.BeginAfter = until
	st.Duration = time.Since(started)
	s.opts.Logger.Info("rskv: compacted", "from", begin, "to", until, "scanned", st.RecordsScanned,
		"moved", st.RecordsMoved, "reclaimed", st.BytesReclaimed, "took", st.Duration)
	return st, nil
}

func keyDeltaOf(info uint64) int64 { return keyDelta(info) }

// copyIfNewest copies the record it to the tail if it is still its key's
// newest version, linking the copy only if the index still leads to it. It
// may release and re-protect (to make room), and returns the handle to use;
// on error the handle is released.
func (s *Store) copyIfNewest(g *epoch.Handle, it hlog.ScanItem, buf *[]byte) (*epoch.Handle, bool, error) {
	h := hashKey(it.Key)
	for {
		slot, e, ok := s.index.Find(h)
		if !ok {
			return g, false, nil
		}
		if e.Address() != it.Address {
			w, err := s.lookup(g, it.Key, e.Address(), buf, false)
			if err != nil {
				g.Release()
				return nil, false, err
			}
			if w.addr != it.Address {
				return g, false, nil // superseded: dead
			}
		}
		size := hlog.RecordSize(len(it.Key), len(it.Value))
		addr, err := s.allocate(g, size)
		if err != nil {
			if err == errRetry {
				if g, err = s.protect(); err != nil {
					return nil, false, err
				}
				continue
			}
			return nil, false, err
		}
		r := s.log.NewRecord(addr, hlog.MakeInfo(e.Address(), hlog.FlagCopy), it.Key, it.Value, 0)
		if hashidx.CompareAndSwap(slot, e, hashidx.MakeEntry(addr, e.Tag())) {
			return g, true, nil
		}
		// The chain changed under us: mark the copy dead and look again.
		r.MarkInvalid()
	}
}

// commitBegin makes the new begin address durable in the manifest.
func (s *Store) commitBegin(until uint64, keyDelta int64) error {
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	m := s.man
	m.Begin = until
	m.KeyBase += keyDelta
	if err := manifest.Write(s.fs, s.dir, m); err != nil {
		return errors.Wrap(err, "rskv: compaction commit")
	}
	s.man = m
	return nil
}

// clearEntriesBelow empties index entries that point below begin: their
// chains hold nothing any more. A writer racing on such an entry either
// wins (and the clear fails) or retries on a fresh entry.
func (s *Store) clearEntriesBelow(begin uint64) {
	s.index.Range(func(slot hashidx.Slot, e hashidx.Entry) bool {
		if a := e.Address(); a != 0 && a < begin {
			hashidx.CompareAndSwap(slot, e, 0)
		}
		return true
	})
}
