package hlog

import (
	"encoding/binary"
	"runtime"
	"time"

	"github.com/cockroachdb/errors"
)

// Maintenance moves the log's boundaries forward. Each step publishes a new
// address, then waits for the epoch to show that no goroutine can still act
// on the old one:
//
//  1. readOnly := target; wait. No one updates in place below target now.
//  2. safeReadOnly := target; wait. No one seals or reads optimistically
//     below target now: the records there are frozen.
//  3. Flush [flushed, safeReadOnly) to the segment files, stamping each
//     record's checksum first; flushed := safeReadOnly.
//  4. head := target (<= flushed, page aligned); wait. No one reads the
//     frames below it now; zero them; safeHead := head, freeing the frames.
//
// All steps run under maintMu, so the log shifter, writers making room
// inline, group commits and checkpoints never interleave their shifts.
// Syncs do not move readOnly: they write the mutable region's new and
// changed records to the delta log (delta_sync.go), so only the log
// shifter's memory budget makes records read-only.

// Maintain does one background pass: it keeps the mutable region within its
// page budget and the in-memory read-only region within the rest of memory,
// and keeps a reserve of free frames so that writers turning pages do not
// wait for the next pass.
func (l *Log) Maintain() error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	return l.maintainLocked(false)
}

// MakeRoom is called by a writer that found no free frame for the next page
// (TurnPage returned errNoRoom). It flushes and evicts inline, whether or not
// the background services run, so writes never wait on them. The caller must
// not be epoch-protected.
func (l *Log) MakeRoom() error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	return l.maintainLocked(true)
}

// reserveFrames is how many free frames maintenance keeps beyond the tail
// page: 1/16 of memory, at least one. The reserve comes out of the
// read-only region first, then out of the mutable one.
func (l *Log) reserveFrames() uint64 { return max(1, l.nFrames/16) }

// maintainLocked moves read-only and head so that the mutable region holds
// at most MutablePages pages, the read-only region what is left after the
// reserve of free frames, and the reserve is free. With force (a writer is
// waiting) it fails unless at least the frame after the tail page is free.
func (l *Log) maintainLocked(force bool) error {
	if err := l.Err(); err != nil {
		return err
	}
	tail := l.Tail()
	tailPage := tail >> l.pageBits
	n, m, k := l.nFrames, uint64(l.cfg.MutablePages), l.reserveFrames()
	sub := func(a, b uint64) uint64 { return a - min(a, b) }
	// Free k frames after the tail page: pages below tailPage+1+k-n go.
	headPage := sub(tailPage+1+k, n)
	roPage := max(sub(tailPage+1, m), headPage)
	// The read-only region gets what is left: n - m - k pages.
	headPage = max(headPage, sub(roPage, sub(n, m+k)))
	if err := l.shiftReadOnlyLocked(min(roPage<<l.pageBits, tail)); err != nil {
		return err
	}
	target := min(headPage<<l.pageBits, l.flushed.Load()&^l.pageMask)
	if h := l.head.Load(); target > h && l.cfg.BeforeEvict != nil {
		l.cfg.BeforeEvict(h, target)
	}
	l.shiftHeadLocked(target)
	if need := sub(tailPage+2, n) << l.pageBits; force && l.head.Load() < need {
		return errors.AssertionFailedf("rskv/log: cannot free a frame: head %#x, needed %#x", l.head.Load(), need)
	}
	return nil
}

// shiftReadOnlyLocked makes everything below target read-only and flushes it.
func (l *Log) shiftReadOnlyLocked(target uint64) error {
	if target > l.readOnly.Load() {
		l.readOnly.Store(target)
		l.em.BumpAndWait()
		l.safeReadOnly.Store(target)
		l.em.BumpAndWait()
	}
	return l.flushLocked(l.safeReadOnly.Load())
}

// flushLocked writes [flushed, to) to the segment files. A segment is synced
// when the flush moves past its end, before anything is written to the next,
// so on disk a later segment never holds data while an earlier one is torn.
func (l *Log) flushLocked(to uint64) error {
	if err := l.Err(); err != nil {
		return err
	}
	if from := l.flushed.Load(); from < to && from < l.imaged {
		// The flush overwrites images a mutable flush wrote. A crash could
		// tear a record there into neither its old image nor its new one:
		// first put every record that changed since its image (now frozen,
		// below safeReadOnly) into the delta log, whose redo repairs the
		// tear. Unchanged records are rewritten with the same bytes. The
		// flushed range is synced first: the batch vouches for the log up
		// to its tail, so nothing below may still be unsynced.
		if err := l.syncSegmentsLocked(); err != nil {
			return err
		}
		if _, err := l.deltaSyncLocked(); err != nil {
			return err
		}
	}
	if l.flushed.Load() < to {
		// A truncation chunk may be writing older images into this range
		// (its I/O runs without maintMu): let it finish first.
		l.chunkMu.Lock()
		defer l.chunkMu.Unlock()
	}
	for from := l.flushed.Load(); from < to; {
		page := from >> l.pageBits
		end := min(to, (page+1)<<l.pageBits)
		seg := l.dev.segmentOf(from)
		if seg > l.syncedSegment {
			// Entering a new segment: make every earlier one durable first.
			for s := l.syncedSegment; s < seg; s++ {
				if err := l.dev.sync(s); err != nil {
					return l.fail(err)
				}
			}
			// Then create the new segment (durably) and seal the previous
			// one with a mark saying that the log goes on into it. Without
			// the mark, a newest segment that is lost later (deleted,
			// emptied) leaves a log that looks whole, only shorter.
			// The order matters: the mark must never name a segment a crash
			// could undo, and the new segment must never exist while the
			// previous one may still be torn.
			if _, err := l.dev.create(seg); err != nil {
				return l.fail(err)
			}
			if err := l.dev.writeMark(seg-1, seg<<l.dev.segmentBits|markContinues); err != nil {
				return l.fail(err)
			}
			if err := l.dev.sync(seg - 1); err != nil {
				return l.fail(err)
			}
			l.syncedSegment = seg
			l.segDurable = max(l.segDurable, seg<<l.dev.segmentBits)
			l.flushSynced = max(l.flushSynced, seg<<l.dev.segmentBits)
		}
		frame := l.frame(page)
		chunk := frame[from&l.pageMask : end-page<<l.pageBits]
		stampChecksums(chunk)
		if err := l.dev.writeAt(chunk, from); err != nil {
			return l.fail(err)
		}
		l.flushed.Store(end)
		from = end
	}
	return nil
}

// stampChecksums computes the checksum of every record in chunk, which starts
// at a record boundary. The records are frozen (below safeReadOnly).
func stampChecksums(chunk []byte) {
	for off := 0; off+RecordHeaderSize <= len(chunk); {
		b := chunk[off:]
		if binary.LittleEndian.Uint64(b) == 0 {
			return // unused end of the page
		}
		lengths := binary.LittleEndian.Uint64(b[16:])
		k, v, _ := splitLengths(lengths)
		binary.LittleEndian.PutUint32(b[12:], checksum(b, k, v))
		off += int(sizeFromLengths(lengths))
	}
}

// shiftHeadLocked evicts the pages below target (page aligned, <= flushed).
func (l *Log) shiftHeadLocked(target uint64) {
	old := l.head.Load()
	if target <= old {
		return
	}
	l.head.Store(target)
	l.em.BumpAndWait()
	for p := old >> l.pageBits; p < target>>l.pageBits; p++ {
		if f := l.frame(p); f != nil {
			clear(f)
		}
	}
	l.safeHead.Store(target)
}

// SyncTo makes the log durable: every record below the tail, and every
// in-place update made before the call, survives a crash once it returns.
// addr is a lower bound kept for callers that know what they wrote; the
// sync always covers the whole log. The caller must not be epoch-protected.
func (l *Log) SyncTo(addr uint64) error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	return l.syncLocked()
}

// syncLocked is a sync (see docs/durability.md): it flushes and syncs the
// read-only range as before, then writes one delta batch holding the
// records written since the last sync and the older mutable records updated
// in place since then, and syncs it. The mutable region stays mutable.
func (l *Log) syncLocked() error { return l.syncForcedLocked(nil) }

// syncForcedLocked is syncLocked whose delta batch also holds images of the
// records at forced (see deltaSyncForcedLocked).
func (l *Log) syncForcedLocked(forced []uint64) error {
	if err := l.flushLocked(l.safeReadOnly.Load()); err != nil {
		return err
	}
	if err := l.syncSegmentsLocked(); err != nil {
		return err
	}
	tail, err := l.deltaSyncForcedLocked(forced)
	if err != nil {
		return err
	}
	l.durable.Store(max(l.durable.Load(), tail))
	l.pace.syncCompleted(l.captureAt, l.captureSeq.Load())
	return nil
}

// syncSegmentsLocked makes the flushed part of the segment files durable.
func (l *Log) syncSegmentsLocked() error {
	if err := l.Err(); err != nil {
		return err
	}
	flushed := l.flushed.Load()
	if flushed <= l.flushSynced {
		return nil
	}
	last := l.dev.segmentOf(flushed - 1)
	for s := l.syncedSegment; s <= last; s++ {
		if s == last {
			// Record the previous durable point in the segment header; it
			// rides along with this sync. Recovery trusts it as a floor:
			// damage below it is corruption, never a torn tail.
			if err := l.dev.writeMark(s, l.segDurable); err != nil {
				return l.fail(err)
			}
		}
		if err := l.dev.sync(s); err != nil {
			return l.fail(err)
		}
	}
	l.flushSynced = flushed
	l.segDurable = max(l.segDurable, flushed)
	return nil
}

// SyncAll makes the whole log durable, truncates the delta log into the
// segment files (a mutable flush) if it holds anything, and records the
// durable point in the durable mark with a second sync, so recovery can
// tell damage anywhere in the log from a torn tail. Close and checkpoints
// use it.
func (l *Log) SyncAll() error { return l.syncAll(true) }

// SyncCheckpoint is SyncAll for a checkpoint: the whole log durable and
// the durable mark written, but the delta log folded into the segments only
// if the truncation policy says it is due. Recovery redoes the delta log
// before it replays the log from a checkpoint, so a checkpoint needs its
// log durable, not the delta log empty; forcing a truncation at every
// checkpoint would rewrite the whole mutable region every
// CheckpointInterval, and under churn the delta log grows while that runs.
// It does not wait for a truncation in progress: its sync runs between two
// chunks like any other (see truncate).
func (l *Log) SyncCheckpoint() error { return l.syncAll(false) }

func (l *Log) syncAll(fold bool) error {
	if err := l.SyncTo(0); err != nil {
		return err
	}
	l.maintMu.Lock()
	due := l.delta.imagesInGen && (fold || (!l.truncating && l.truncationDue()))
	l.maintMu.Unlock()
	if due {
		if err := l.truncate(); err != nil {
			return err
		}
	}
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	if err := l.Err(); err != nil {
		return err
	}
	durable := l.segDurable
	seg := l.dev.segmentOf(durable - 1)
	if l.dev.table.Load().get(seg+1) != nil {
		return nil // seg is sealed with a "continues" mark; keep it
	}
	if err := l.dev.writeMark(seg, durable); err != nil {
		return l.fail(err)
	}
	if err := l.dev.sync(seg); err != nil {
		return l.fail(err)
	}
	return nil
}

// WaitDurable returns once everything the caller wrote before the call,
// appended or updated in place, is durable: after a sync whose capture
// (tail sample and dirty-list swap) began after the call did. Concurrent
// callers share the work (group commit): one of them (the leader) runs a
// sync while the others wait; those whose writes finished after its capture
// began need the next one, which one of them leads. addr is unused (see
// SyncTo). The caller must not be epoch-protected.
func (l *Log) WaitDurable(addr uint64) error {
	if err := l.Err(); err != nil {
		return err
	}
	ticket := l.captureSeq.Load() + 1
	c := &l.commit
	c.mu.Lock()
	c.present++
	c.arrived++
	defer func() {
		c.present--
		c.mu.Unlock()
	}()
	for c.done < ticket {
		if err := l.Err(); err != nil {
			return err
		}
		if c.running {
			c.cond.Wait()
			continue
		}
		c.running = true
		c.gather()
		served := c.present
		c.mu.Unlock()
		t0 := time.Now()
		seq, err := l.syncOnce()
		took := time.Since(t0)
		c.mu.Lock()
		c.running = false
		c.released, c.arrived, c.took = served, 0, took
		if err == nil {
			c.done = max(c.done, seq)
		}
		c.cond.Broadcast()
		if err != nil {
			return err
		}
		if c.done >= ticket {
			// Ours is durable: truncate the delta log if due, outside the
			// group commit (syncs go on between its chunks), or hand the
			// truncation to the store's log shifter.
			c.mu.Unlock()
			err = l.maybeTruncate(true)
			c.mu.Lock()
			return err
		}
	}
	return l.Err()
}

// gatherMax bounds how long a group commit's leader waits for the writers
// the previous sync released (see gather).
const gatherMax = 200 * time.Microsecond

// gather is run by a group commit's new leader, with c.mu held, before its
// sync. The writers the previous sync released are writing their next
// record right now; if the leader synced at once, they would all miss this
// sync and wait for the next, and the writers would settle into two
// cohorts taking turns, each fsync serving half of them. So the leader
// waits, yielding, until as many callers arrived since the previous sync
// returned as it released, for at most a quarter of that sync's duration
// (and gatherMax). One writer alone never waits (it is the one arrival).
func (c *groupCommit) gather() {
	if c.released <= 1 || c.arrived >= c.released {
		return
	}
	deadline := time.Now().Add(min(gatherMax, c.took/4))
	for c.arrived < c.released && time.Now().Before(deadline) {
		c.mu.Unlock()
		runtime.Gosched()
		c.mu.Lock()
	}
}

// syncOnce runs a sync and returns the number of its (last) capture.
func (l *Log) syncOnce() (uint64, error) {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	if err := l.syncLocked(); err != nil {
		return 0, err
	}
	return l.captureSeq.Load(), nil
}

// ShiftBegin moves the begin address forward to addr and deletes the segment
// files wholly below it, once no reader can be using them. The caller has
// already made the new begin durable (in the store's manifest). It returns
// the bytes freed.
func (l *Log) ShiftBegin(addr uint64) (int64, error) {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	if addr <= l.begin.Load() {
		return 0, nil
	}
	if addr > l.flushed.Load() {
		return 0, errors.AssertionFailedf("rskv/log: begin %#x beyond flushed %#x", addr, l.flushed.Load())
	}
	// A truncation's chunk write or final fsync may be using a segment
	// file without maintMu: wait for it.
	l.chunkMu.Lock()
	defer l.chunkMu.Unlock()
	// Publish the new begin and wait: after that no reader will look below
	// it, so the files can go at once.
	l.begin.Store(addr)
	l.em.BumpAndWait()
	gone := l.dev.detachBelow(addr)
	freed, err := l.dev.removeDetached(gone)
	if err != nil {
		return freed, l.fail(err)
	}
	return freed, nil
}
