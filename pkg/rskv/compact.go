package rskv

import (
	"context"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/rskv-go/rskv/internal/hlog"
	"github.com/rskv-go/rskv/internal/manifest"
)

// Compaction reclaims the oldest part of the log, [begin, until), where
// until is a segment boundary below the head:
//
//  0. Choose until. Segments are taken in address order from begin, as long
//     as each pays: its dead bytes (deadbytes.go) are at least
//     GCDeadFraction of a segment. Compaction stops at the first segment
//     that does not pay, since begin only moves forward and a segment can
//     only be deleted with every segment below it: it compacts a prefix of
//     the log. A fully live segment is never rewritten (the price: a long
//     run of live data at the front of the log holds back the dead space
//     behind it until its keys are overwritten). A segment whose estimate
//     was replayed at Open rather than counted is first read to measure it.
//  1. Scan the range. A record that is still its key's newest version is
//     copied to the tail with the conditional append: the copy is linked
//     only if the index still leads to the original, so an update that
//     lands meanwhile is never overwritten by the older copy. An expired
//     newest version is replaced by a tombstone instead of copied. A newest
//     version that is a tombstone is dropped: every older version of its
//     key lies in the range too.
//  2. Sync the log, so the copies are durable.
//  3. Write the manifest with begin = until (and the live-key changes of
//     the dropped records folded into KeyBase). This is the commit point: a
//     crash before it leaves the copies as harmless newer versions; a crash
//     after it leaves segments below begin, which recovery deletes.
//  4. Move the log's begin address and delete the segment files below it,
//     once no reader can be in them (epoch).
//  5. Clear index entries that now point below begin, and empty ones.
//
// Compaction takes only segments below the head, never pages still in
// memory: the residency copy (residency.go) already copies the live records
// of every page it evicts while the live data fits in memory, so by the time
// a segment is below the head its live records are either copied (and the
// originals counted dead, which is what makes the segment pay) or meant to
// stay on disk. Compacting in memory as well would walk and copy the same
// records twice, once in each.

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

// compactionDue reports whether compaction would free enough to pay: the
// segments from begin that each pay (see step 0 above), whole and below the
// head, hold at least GCMinBytes dead bytes.
func (s *Store) compactionDue() bool {
	if s.closed.Load() || s.log.Err() != nil || s.scans.truncationPending() {
		return false
	}
	dead := s.reclaimable()
	return dead > 0 && dead >= s.gcMinBytes()
}

// reclaimable is the dead bytes of the segments a compaction would take
// now: the whole segments from begin, below the head, that each pay.
func (s *Store) reclaimable() int64 {
	var dead int64
	begin, limit := s.log.Begin(), s.compactLimit()
	for seg := begin >> s.dead.segBits; (seg+1)<<s.dead.segBits <= limit; seg++ {
		d := s.segmentDead(seg)
		if d < s.payThreshold() {
			break
		}
		dead += d
	}
	return dead
}

func (s *Store) gcMinBytes() int64 {
	if s.opts.GCMinBytes > 0 {
		return s.opts.GCMinBytes
	}
	return 2 << s.dead.segBits
}

// payThreshold is the dead bytes a segment must hold to be worth compacting.
func (s *Store) payThreshold() int64 {
	return max(1, int64(s.opts.GCDeadFraction*float64(int64(1)<<s.dead.segBits)))
}

// compactLimit is the end of the region compaction may take: the last
// segment boundary at or below the head (see above for why not higher).
func (s *Store) compactLimit() uint64 {
	// Never past a commit in flight: its records are not linked yet, so
	// they would look dead (commit.go).
	return min(s.log.Head(), s.commitFloor()) &^ (1<<s.dead.segBits - 1)
}

// segmentPays decides whether the segment [from, to) is worth compacting.
// An estimate counted in this open (at or above deadExactFrom) is trusted;
// one replayed at Open is checked by reading the segment, and replaced by
// what was measured.
func (s *Store) segmentPays(ctx context.Context, from, to uint64, st *CompactStats) (bool, error) {
	seg := from >> s.dead.segBits
	if from >= s.deadExactFrom {
		return s.segmentDead(seg) >= s.payThreshold(), nil
	}
	var live int64
	err := s.scanRange(ctx, from, to, "measure", func(g *epoch.Handle, it hlog.ScanItem, buf *[]byte) (*epoch.Handle, error) {
		st.RecordsScanned++
		if it.Info&(hlog.FlagInvalid|hlog.FlagTombstone) != 0 {
			return g, nil
		}
		newest, err := s.isNewest(g, it.Key, it.Address, buf)
		if err != nil {
			g.Release()
			return nil, err
		}
		if exp, _ := splitStored(it.Info, it.Value); newest && !s.expired(exp) {
			live += int64(it.Size)
		}
		return g, nil
	})
	if err != nil {
		return false, err
	}
	dead := int64(to-from) - live
	s.dead.set(seg, dead)
	return dead >= s.payThreshold(), nil
}

// scanRange calls fn for each record of [from, to) under epoch protection,
// re-protecting every scanBatch records so that maintenance is never held
// up for long. fn returns the handle to go on with (it may release and
// re-protect); on error it has released it.
func (s *Store) scanRange(ctx context.Context, from, to uint64, what string,
	fn func(g *epoch.Handle, it hlog.ScanItem, buf *[]byte) (*epoch.Handle, error)) error {
	sc := s.log.NewScanner(from, to)
	buf := getBuf()
	defer putBuf(buf)
	for {
		if err := ctx.Err(); err != nil {
			// Nothing is committed until the manifest is written: stopping
			// here leaves only harmless copies behind.
			return errors.Wrap(err, "rskv: compaction interrupted")
		}
		g, err := s.protect()
		if err != nil {
			return err
		}
		for i := 0; i < scanBatch; i++ {
			it, ok, err := sc.Next()
			if err != nil {
				g.Release()
				return errors.Wrapf(err, "rskv: compaction %s", what)
			}
			if !ok {
				g.Release()
				return nil
			}
			if g, err = fn(g, it, buf); err != nil {
				return err
			}
		}
		g.Release()
	}
}

// compactLocked runs one compaction; s.opMu is held.
func (s *Store) compactLocked(ctx context.Context) (CompactStats, error) {
	started := time.Now()
	begin := s.log.Begin()
	st := CompactStats{BeginBefore: begin, BeginAfter: begin}
	if err := s.log.Err(); err != nil {
		return st, s.ioFailure(err)
	}
	var keyDelta, sumDelta int64 // all records below until; those at or above keySumAt
	until, limit := begin, s.compactLimit()
	segSize := uint64(1) << s.dead.segBits
	for {
		end := (until &^ (segSize - 1)) + segSize
		if end > limit {
			break
		}
		pays, err := s.segmentPays(ctx, until, end, &st)
		if err != nil {
			return st, err
		}
		if !pays {
			break
		}
		err = s.scanRange(ctx, until, end, "scan", func(g *epoch.Handle, it hlog.ScanItem, buf *[]byte) (*epoch.Handle, error) {
			st.RecordsScanned++
			d := keyDeltaOf(it.Info, it.Value)
			keyDelta += d
			if it.Address >= s.keySumAt {
				sumDelta += d
			}
			if it.Info&(hlog.FlagInvalid|hlog.FlagTombstone) != 0 {
				return g, nil // tombstones: see step 1
			}
			g, copied, err := s.copyIfNewest(g, it, buf)
			if copied {
				st.RecordsMoved++
				st.BytesCopied += int64(it.Size)
			}
			return g, err
		})
		if err != nil {
			return st, err
		}
		until = end
	}
	if until == begin {
		st.Duration = time.Since(started)
		return st, nil
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
	st.BytesFreed = freed
	st.BytesReclaimed = freed
	if err != nil {
		return st, s.ioFailure(err)
	}
	if s.keySumAt < until {
		s.keySumAt, s.keySum = until, s.keySum+sumDelta
	}
	s.dead.dropBelow(until)
	s.expiring.dropBelow(until)
	s.compactions.Add(1)
	st.BeginAfter = until
	st.Duration = time.Since(started)
	s.opts.Logger.Info("rskv: compacted", "from", begin, "to", until, "scanned", st.RecordsScanned,
		"moved", st.RecordsMoved, "copied", st.BytesCopied, "freed", st.BytesFreed, "took", st.Duration)
	return st, nil
}

func keyDeltaOf(info uint64, value []byte) int64 { return recordKeyDelta(info, value) }

// copyIfNewest copies the record it to the tail if it is still its key's
// newest version (see appendIfNewest), and reports whether it copied.
//
// An expired newest version is not copied: a tombstone takes its place, so
// that the key's count in Len falls (the tombstone says so to recovery,
// too) and only the key's bytes move forward. The tombstone is dead at once
// and goes with the next compaction.
func (s *Store) copyIfNewest(g *epoch.Handle, it hlog.ScanItem, buf *[]byte) (*epoch.Handle, bool, error) {
	value, flags := it.Value, hlog.FlagCopy|expiryFlag(it.Info)
	exp, _ := splitStored(it.Info, it.Value)
	if s.expired(exp) {
		value, flags = nil, hlog.FlagTombstone|hlog.FlagDelKey
	}
	g, appended, err := s.appendIfNewest(g, it, value, flags, buf)
	return g, appended && flags&hlog.FlagTombstone == 0, err
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
// chains hold nothing any more. It also clears entries with no chain at all
// (address 0), which a failed upsert may leave behind if it stopped before
// dropping its own (a checkpoint taken meanwhile keeps them, too). A writer
// racing on such an entry either wins (and the clear fails) or retries on
// a fresh entry.
func (s *Store) clearEntriesBelow(begin uint64) {
	s.index.Range(func(slot hashidx.Slot, e hashidx.Entry) bool {
		if a := e.Address(); a < begin && !e.Locked() { // a commit's: it publishes
			hashidx.CompareAndSwap(slot, e, 0)
		}
		return true
	})
}
