package log

import (
	"time"

	"github.com/cockroachdb/errors"
)

// Truncation policy (see docs/durability.md). A truncation writes the whole
// mutable region once; the delta log grows by the dirty records of each
// sync. Truncating when the delta log has grown past the larger of
// truncateMinBytes and half the mutable bytes in use bounds the delta log
// to about half the mutable region (plus one batch), and the truncation's
// writes to twice the delta's.
const (
	truncateMinBytes = 16 << 20
	// truncateIdleSyncs is how many consecutive syncs with nothing to write
	// make the log idle: it then truncates whatever the delta log holds, so
	// an idle store settles at its log's size.
	truncateIdleSyncs = 10
	// truncateChunk is the size of the pieces a truncation copies and
	// writes, each after a delta sync (at least a page).
	truncateChunk = 4 << 20
)

// deltaSyncLocked writes one delta batch: the images of the records in
// [max(syncTail, flushed), tail) as one byte range, and of the records
// below that (and at or above flushed) updated in place since the last
// delta sync; then it syncs the delta file. It returns the tail it covered.
// The segment files must already hold synced final images below
// flushSynced; the batch records that address, and recovery takes images
// below it as superseded.
func (l *Log) deltaSyncLocked() (uint64, error) {
	if err := l.Err(); err != nil {
		return 0, err
	}
	tail := l.Tail()
	// After this barrier every record allocated below tail is written.
	l.em.BumpAndWait()
	flushed := l.flushed.Load()
	from := max(l.syncTail, flushed)
	d := l.delta
	d.begin()
	l.dirty.take(func(addrs []uint64) {
		for _, a := range addrs {
			if a < flushed {
				// Frozen and flushed since it was listed: the segment
				// files have its final image; its frame may be gone.
				continue
			}
			r := l.Mem(a).r
			if a >= from {
				// Copied with the range below, or with the next one;
				// clear the bit so that later updates list it again.
				r.clearDirty()
				continue
			}
			r.copyImage(d.add(a, int(sizeFromLengths(r.lengthsWord().Load()))), true)
		}
	})
	if err := l.copyRange(from, tail, d.add); err != nil {
		return 0, l.fail(err)
	}
	if d.empty() && tail == l.syncTail && l.flushSynced == l.batchFlushed {
		l.idleSyncs++
		return tail, nil
	}
	if !d.empty() {
		l.idleSyncs = 0
	}
	if err := d.commit(l.flushSynced, tail); err != nil {
		return 0, l.fail(err)
	}
	l.batchFlushed = l.flushSynced
	l.syncTail = tail
	return tail, nil
}

// copyRange writes consistent images of the log in [from, to) through dst:
// one call per page piece, the page's unused end as zeros. from and to are
// record boundaries (or page ends) below a tail sampled before an epoch
// barrier, and at or above flushed (in memory).
func (l *Log) copyRange(from, to uint64, dst func(addr uint64, n int) []byte) error {
	for a := from; a < to; {
		page := a >> l.pageBits
		pageEnd := (page + 1) << l.pageBits
		end := min(to, pageEnd)
		img := dst(a, int(end-a))
		frame := l.frame(page)
		for off := a; off < end; {
			o := off - a
			if pageEnd-off < RecordHeaderSize {
				clear(img[o:])
				break
			}
			r := recordAt(frame, off&l.pageMask)
			if r.info() == 0 {
				clear(img[o:])
				break
			}
			size := sizeFromLengths(r.lengthsWord().Load())
			if off+size > end {
				return errors.AssertionFailedf("rskv/log: record at %#x (%d bytes) crosses %#x while copying images", off, size, end)
			}
			r.copyImage(img[o:o+size], false)
			off += size
		}
		a = end
	}
	return nil
}

// truncationDue says whether the delta log has grown enough, or the log
// has been idle long enough, to fold the delta log into the segments.
func (l *Log) truncationDue() bool {
	d := l.delta
	if d.sinceTrunc == 0 && !d.imagesInGen {
		return false
	}
	if l.idleSyncs >= truncateIdleSyncs {
		return true
	}
	mutable := int64(l.Tail() - l.flushed.Load())
	return d.sinceTrunc > max(truncateMinBytes, mutable/2)
}

// truncateLocked is a mutable flush: it writes consistent images of
// [flushed, T) into the segment files at their own addresses, syncs them,
// and then deletes the older delta generations. Crash safety: a new delta
// generation starts first, so the older ones stay valid until the end; each
// chunk is copied, then a delta sync runs, then the chunk is written, so a
// record a crash tears mid-write either did not change since the image the
// segment held (same bytes) or changed and is in a retained delta batch,
// which recovery redoes over it.
func (l *Log) truncateLocked() error {
	t0 := time.Now()
	d := l.delta
	before := d.total
	if err := d.next(); err != nil {
		return l.fail(err)
	}
	gen := d.gen
	if _, err := l.deltaSyncLocked(); err != nil {
		return err
	}
	start, end := l.flushed.Load(), l.syncTail
	chunk := max(uint64(truncateChunk), l.pageSize)
	synced := l.syncedSegment // segments below it are synced whole
	for a := start; a < end; {
		// As flushLocked does: no segment gets data while an earlier one
		// may still be torn.
		for ; synced < l.dev.segmentOf(a); synced++ {
			if err := l.dev.sync(synced); err != nil {
				return l.fail(err)
			}
		}
		b := min(end, (a/chunk+1)*chunk, (l.dev.segmentOf(a)+1)<<l.dev.segmentBits)
		if uint64(cap(l.truncBuf)) < b-a {
			l.truncBuf = make([]byte, chunk)
		}
		buf := l.truncBuf[:b-a]
		if err := l.copyRange(a, b, func(addr uint64, n int) []byte { return buf[addr-a : addr-a+uint64(n)] }); err != nil {
			return l.fail(err)
		}
		if _, err := l.deltaSyncLocked(); err != nil {
			return err
		}
		if err := l.dev.writeAt(buf, a); err != nil {
			return l.fail(err)
		}
		a = b
	}
	if start < end {
		first, last := l.dev.segmentOf(start), l.dev.segmentOf(end-1)
		for s := first; s <= last; s++ {
			if err := l.dev.sync(s); err != nil {
				return l.fail(err)
			}
		}
		// Seal the segments the images ran through and mark the last one
		// durable to end: segments exist (created durably) before any mark
		// names them.
		for s := first; s <= last; s++ {
			mark := uint64(end)
			if s < last {
				mark = (s+1)<<l.dev.segmentBits | markContinues
			}
			if err := l.dev.writeMark(s, mark); err != nil {
				return l.fail(err)
			}
			if err := l.dev.sync(s); err != nil {
				return l.fail(err)
			}
		}
		l.segDurable = max(l.segDurable, end)
		l.imaged = max(l.imaged, end)
	}
	// From the next synced batch on, recovery ignores older generations.
	d.base = gen
	d.begin()
	if err := d.commit(l.flushSynced, l.syncTail); err != nil {
		return l.fail(err)
	}
	l.batchFlushed = l.flushSynced
	if err := d.dropBelow(gen); err != nil {
		return l.fail(err)
	}
	l.cfg.Logger.Info("rskv: delta log truncated into the segments", "from", start, "to", end,
		"delta_bytes_before", before, "delta_bytes_after", d.total, "took", time.Since(t0))
	d.sinceTrunc = 0
	l.idleSyncs = 0
	l.truncations.Add(1)
	return nil
}
