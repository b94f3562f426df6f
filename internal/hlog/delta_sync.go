package hlog

import (
	"encoding/binary"
	"slices"
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
)

// deltaBatchBytes is about the largest delta batch: a sync with more to
// write writes several. (A variable for tests.)
var deltaBatchBytes = 16 << 20

// prefetchAhead is how many records ahead of its copy a delta sync loads a
// dirty record's header; prefetchSink keeps the loads (a plain variable:
// only the syncing goroutine, under maintMu, writes it).
const prefetchAhead = 6

var prefetchSink uint64

// truncateKeepSlack: a truncation keeps its current generation instead of
// writing the owed images again when that generation is at most twice
// what the rewrite would write plus this (see truncate). (A variable for
// tests.)
var truncateKeepSlack int64 = truncateMinBytes

// truncateChunk is the size of the pieces a truncation copies and writes,
// each after a delta sync (at least a page). (A variable for tests.)
var truncateChunk = 4 << 20

// afterTruncateChunk, if set (by tests), is called after each chunk a
// truncation writes, without maintMu.
var afterTruncateChunk func()

// deltaSyncLocked writes one delta batch: the images of the records in
// [max(syncTail, flushed), tail) as one byte range, and of the records
// below that (and at or above flushed) updated in place since the last
// delta sync; then it syncs the delta file. It returns the tail it covered.
// The segment files must already hold synced final images below
// flushSynced; the batch records that address, and recovery takes images
// below it as superseded.
func (l *Log) deltaSyncLocked() (uint64, error) { return l.deltaSyncForcedLocked(nil) }

// deltaSyncForcedLocked is deltaSyncLocked that also images the records at
// forced (sorted, unique), changed or not.
func (l *Log) deltaSyncForcedLocked(forced []uint64) (uint64, error) {
	if err := l.Err(); err != nil {
		return 0, err
	}
	// The capture starts here: a writer that read captureSeq before this
	// increment may have finished just before it, so it waits for a later
	// sync; one that reads the new value finished before the tail below is
	// sampled and the dirty lists are taken.
	l.captureSeq.Add(1)
	l.captureAt = time.Now()
	tail := l.Tail()
	// After this barrier every record allocated below tail is written.
	l.em.BumpAndWait()
	flushed := l.flushed.Load()
	from := max(l.syncTail, flushed)
	d := l.delta
	d.begin()
	// A large sync is written as several batches of about deltaBatchBytes
	// (each a consistent set of images; the tail field of a partial batch
	// is where its range part ends), so neither the writer's buffer nor
	// recovery's grows with the mutable region.
	var spillErr error
	spilled := false
	spill := func(t uint64) {
		if spillErr != nil || d.pending() < deltaBatchBytes {
			return
		}
		if spillErr = l.commitDelta(l.flushSynced, t); spillErr == nil {
			l.batchFlushed = l.flushSynced
			spilled = true
			d.begin()
		}
	}
	// Images the writers captured first (dirtyList.takeAll): every copy
	// below is taken after the swap, so it is newer than the buffered
	// images of its record and goes after them.
	l.dirty.takeAll(func(entries []byte, lo, hi uint64) {
		if spillErr == nil {
			l.drainImages(entries, lo, hi, flushed, from)
			spill(l.syncTail)
		}
	}, func(addrs []uint64) {
		for i, a := range addrs {
			if j := i + prefetchAhead; j < len(addrs) && addrs[j] >= flushed {
				// Load the header of a record a few places ahead: its
				// cache miss overlaps this record's copy (the dirty records
				// are scattered over the whole mutable region).
				prefetchSink += l.Mem(addrs[j]).r.lengthsWord().Load()
			}
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
			if spillErr != nil {
				continue // failing anyway; keep clearing nothing more
			}
			n := int(sizeFromLengths(r.lengthsWord().Load()))
			if !r.copyImageIf(d.add(a, n), true, true) {
				d.unadd(n)
			} else if l.truncating && a >= l.truncStart && a < l.truncHand {
				// In a chunk the running truncation already wrote: this
				// image is newer than the segment's, and the generation it
				// goes into may not outlive the truncation.
				l.owed = append(l.owed, a)
				l.owedBytes += int64(entryHeaderSize + n)
			}
			spill(l.syncTail)
		}
	})
	// The records a truncation owes to its last generation (see truncate),
	// each once, whether or not it changed since.
	for _, a := range forced {
		if spillErr != nil || a < flushed || a >= from {
			continue // flushed: final image in the segments; >= from: in the range
		}
		r := l.Mem(a).r
		n := int(sizeFromLengths(r.lengthsWord().Load()))
		r.copyImage(d.add(a, n), !l.keepListedWhileCapturing())
		spill(l.syncTail)
	}
	if spillErr != nil {
		return 0, l.fail(spillErr)
	}
	err := l.copyRange(from, tail, func(a uint64, n int) []byte {
		spill(a) // everything below a is in this batch or an earlier one
		return d.add(a, n)
	})
	if err == nil {
		err = spillErr
	}
	if err != nil {
		return 0, l.fail(err)
	}
	if spilled && d.empty() {
		l.setSyncTail(tail)
		return tail, nil // the last spill took everything
	}
	if d.empty() && tail == l.syncTail && l.flushSynced == l.batchFlushed {
		l.idleSyncs++
		d.settle()
		return tail, nil
	}
	if !d.empty() || spilled {
		l.idleSyncs = 0
	}
	if err := l.commitDelta(l.flushSynced, tail); err != nil {
		return 0, l.fail(err)
	}
	l.batchFlushed = l.flushSynced
	l.setSyncTail(tail)
	return tail, nil
}

// commitDelta commits a sync's open delta batch: written and synced, or,
// while l.deferred is set (the truncation's rewrite, see truncate),
// written with its fsync put on that list, to run without maintMu.
func (l *Log) commitDelta(flushed, tail uint64) error {
	if l.deferred == nil {
		return l.delta.commit(flushed, tail, false)
	}
	sync, err := l.delta.write(flushed, tail, false)
	if err == nil {
		*l.deferred = append(*l.deferred, sync)
	}
	return err
}

// afterCaptureSwap, if set (tests only), runs in every delta sync after
// the writers' capture buffers and dirty lists were swapped and before any
// copy: writers updating records then belong to the next batch.
var afterCaptureSwap func()

// afterChunkImages, if set (tests only), runs in every truncation
// chunk after the capture buffers were swapped and before the chunk's copy.
var afterChunkImages func()

// keepListedWhileCapturing says whether a copy taken outside a sync's own
// list (a truncation chunk's, a truncation's owed records) must leave the
// record's dirty bit set. With writer-side capture it must: the copy is
// taken after the last swap of the capture buffers, so an image of the
// record captured since then (older than the copy) goes into a later batch
// than the copy; keeping the record listed makes the next sync copy it
// again, after that image (TestCaptureOrdering: chunk, forced). Without capture
// there are no buffered images, and clearing the bit saves the next sync
// a copy.
func (l *Log) keepListedWhileCapturing() bool { return l.dirty.capCap > 0 }

// setSyncTail records the tail of the last delta batch, and publishes it to
// the writers' capture (dirtyList.captureBelow).
func (l *Log) setSyncTail(t uint64) {
	l.syncTail = t
	l.dirty.captureBelow.Store(t)
}

// drainImages adds the captured entries (dirtyList.capture) of one stripe,
// whose addresses lie in [lo, hi], to the batch being built, but those
// below flushed (the segment files have the record's final image; its
// frame may be gone) or at or above from (the batch's range copies the
// record as it is now). An image at an address the running truncation has
// already written is owed, as in deltaSyncForcedLocked. In the usual case
// (all entries kept, no truncation) the buffer is written from where it
// is, unread.
func (l *Log) drainImages(entries []byte, lo, hi, flushed, from uint64) {
	d := l.delta
	l.capturedBytes += int64(len(entries))
	owes := l.truncating && hi >= l.truncStart && lo < l.truncHand
	if lo >= flushed && hi < from {
		d.addPart(entries)
		for owes && len(entries) > 0 {
			a := binary.LittleEndian.Uint64(entries)
			n := entrySize(binary.LittleEndian.Uint64(entries[8:]))
			if a >= l.truncStart && a < l.truncHand {
				l.owed = append(l.owed, a)
				l.owedBytes += int64(n)
			}
			entries = entries[n:]
		}
		return
	}
	// Kept entries are copied into the batch's own entries, which come
	// after every part: the other stripes' parts hold other addresses, and
	// the dirty list's copies (newer) are added after these.
	for len(entries) > 0 {
		a := binary.LittleEndian.Uint64(entries)
		n := entrySize(binary.LittleEndian.Uint64(entries[8:]))
		e := entries[:n]
		entries = entries[n:]
		if a < flushed || a >= from {
			continue
		}
		d.buf = append(d.buf, e...)
		if l.truncating && a >= l.truncStart && a < l.truncHand {
			l.owed = append(l.owed, a)
			l.owedBytes += int64(n)
		}
	}
}

// copyRange writes consistent images of the log in [from, to) through dst:
// one call per page piece, the page's unused end as zeros. from and to are
// record boundaries (or page ends) below a tail sampled before an epoch
// barrier, and at or above flushed (in memory).
func (l *Log) copyRange(from, to uint64, dst func(addr uint64, n int) []byte) error {
	return l.copyRangeDirty(from, to, dst, nil)
}

// copyRangeDirty is copyRange that also clears the dirty bit of each
// record and passes its image to dirty if it was dirty when copied (with
// dirty not nil).
func (l *Log) copyRangeDirty(from, to uint64, dst func(addr uint64, n int) []byte, dirty func(addr uint64, img []byte)) error {
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
			// With capture on, a dirty record keeps its bit (and its
			// listing): it may have been captured into a buffer that a
			// later batch writes, and the next sync's copy must land
			// after that image (keepListedWhileCapturing).
			if r.copyImage(img[o:o+size], dirty != nil && !l.keepListedWhileCapturing()) && dirty != nil {
				dirty(off, img[o:o+size])
			}
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
	if !d.imagesInGen {
		return false // nothing the segment files lack
	}
	if l.idleSyncs >= truncateIdleSyncs {
		return true
	}
	mutable := int64(l.Tail() - l.flushed.Load())
	return d.sinceTrunc > max(truncateMinBytes, mutable/2)
}

// MaybeTruncate truncates the delta log if the policy says it is due. The
// caller must not hold maintMu nor be epoch-protected.
func (l *Log) MaybeTruncate() error { return l.maybeTruncate(false) }

// maybeTruncate is MaybeTruncate; with handOff it first offers the work to
// Config.HandOffTruncation.
func (l *Log) maybeTruncate(handOff bool) error {
	l.maintMu.Lock()
	due := !l.truncating && l.Err() == nil && l.truncationDue()
	l.maintMu.Unlock()
	if !due {
		return nil
	}
	if handOff && l.cfg.HandOffTruncation != nil && l.cfg.HandOffTruncation() {
		return nil
	}
	return l.truncate()
}

// truncate is a mutable flush: it writes consistent images of
// [flushed, T) into the segment files at their own addresses, syncs them,
// and then deletes the older delta generations. It takes maintMu one chunk
// at a time, so syncs (group commits, the periodic syncer) and flushes go
// on between chunks.
//
// Crash safety: a new delta generation starts first, so the older ones stay
// valid until the end; the range imaged ends at the last sync's tail. Each chunk is copied (each record consistently);
// the records that were dirty when copied (changed since the last delta
// sync) go into a delta batch, synced; then the chunk is written. So a
// record that a crash tears mid-write either did not change since the
// newest image the delta log or the segment holds (the write rewrites the
// same bytes) or is in a synced delta batch, which recovery redoes over
// it.
func (l *Log) truncate() error {
	t0 := time.Now()
	if !l.delta.truncMu.TryLock() {
		return nil // one is running
	}
	defer l.delta.truncMu.Unlock()
	l.maintMu.Lock()
	if l.truncating {
		l.maintMu.Unlock()
		return nil
	}
	l.truncating = true
	defer func() {
		l.maintMu.Lock()
		l.truncating = false
		l.maintMu.Unlock()
	}()
	d := l.delta
	before := d.total
	// The policy counts from the start of this truncation: what syncs
	// write while it runs stays in the delta log after it and counts
	// towards the next one.
	d.sinceTrunc = 0
	if err := d.next(); err != nil {
		l.maintMu.Unlock()
		return l.fail(err)
	}
	// The range to image ends at the last sync's tail: every record below
	// it is complete, and its newest image is in the older generations,
	// which stay until the end.
	start, end := l.flushed.Load(), l.syncTail
	l.truncStart, l.truncHand, l.owed, l.owedBytes = start, start, l.owed[:0], 0
	l.maintMu.Unlock()
	chunk := max(uint64(truncateChunk), l.pageSize)
	var waited time.Duration
	for a := start; a < end; {
		tw := time.Now()
		l.maintMu.Lock()
		waited += time.Since(tw)
		b, write, err := l.truncateChunkLocked(a, end, chunk)
		l.maintMu.Unlock()
		if err != nil {
			return err
		}
		if write != nil {
			// The chunk's I/O runs without maintMu: syncs and group
			// commits go on meanwhile.
			if err := write(); err != nil {
				return err
			}
		}
		if afterTruncateChunk != nil {
			afterTruncateChunk()
		}
		a = b
	}
	tChunks := time.Since(t0)
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.truncMem.release() // the chunks are written: give their buffer back
	if err := l.Err(); err != nil {
		return err
	}
	tSync := time.Now()
	if start < end {
		first, last := l.dev.segmentOf(start), l.dev.segmentOf(end-1)
		// The images' fsync, the long part, runs without maintMu (under
		// chunkMu, which keeps ShiftBegin from removing these segments
		// meanwhile); the marks below, after it, sync little.
		l.maintMu.Unlock()
		l.chunkMu.Lock()
		var err error
		for s := first; s <= last && err == nil; s++ {
			err = l.dev.sync(s)
		}
		l.chunkMu.Unlock()
		l.maintMu.Lock()
		if err != nil {
			return l.fail(err)
		}
		if err := l.Err(); err != nil {
			return err
		}
		// Seal the segments the images ran through and mark the last one
		// durable to end: segments exist (created durably) before any mark
		// names them.
		for s := first; s <= last; s++ {
			mark := uint64(end)
			if s < last {
				mark = (s+1)<<l.dev.segmentBits | markContinues
			} else if l.dev.table.Load().get(s+1) != nil {
				continue // a flush moved on into the next segment: keep its mark
			}
			if err := l.dev.writeMark(s, mark); err != nil {
				return l.fail(err)
			}
			if err := l.dev.sync(s); err != nil {
				return l.fail(err)
			}
		}
		l.segDurable = max(l.segDurable, end)
		// The images above flushed are of records still in memory, and
		// clean now: drop them from the page cache (see dropCache). The
		// part a flush has passed since holds final images of pages that
		// are evicted soon, which reads below the head will want: those
		// stay. The final flush writes the pages again, whole but for where
		// it starts, so dropping costs it at most a read of one block.
		l.dev.dropCache(max(start, l.flushed.Load()), end)
	}
	// The segments now hold synced images of [start, end) at least as new
	// as every batch written before each chunk was copied, so the older
	// generations are superseded: only the current one (g+1: the chunk
	// batches and the syncs' batches since the truncation began) can hold
	// newer images. Two ways to finish:
	//
	//  - keep g+1: a batch in it names it the base, and the older
	//    generations go. Recovery then applies g+1 in order over the
	//    segments: a record whose last image there is older than the
	//    segment's comes back to that image, a value it had no earlier
	//    than the last sync that covered it (a change after that image is
	//    in a later batch, or was not synced). Nothing is written again;
	//    g+1 stays, and counts towards the next truncation.
	//  - or write the owed images and the appends again into g+2 and drop
	//    g+1 too (below): when g+1 is larger than what that rewrites (its
	//    chunk batches hold every record dirty at its chunk's copy, which
	//    under SyncNone is most of the region).
	if rewrite := l.owedBytes + int64(l.syncTail-end); d.sizes[d.gen] <= 2*rewrite+truncateKeepSlack {
		gen := d.gen
		l.truncStart, l.truncHand, l.owed, l.owedBytes = 0, 0, l.owed[:0], 0
		d.base = gen
		d.begin()
		if err := d.commit(l.flushSynced, l.syncTail, true); err != nil {
			return l.fail(err)
		}
		l.batchFlushed = l.flushSynced
		if err := d.dropBelow(gen); err != nil {
			return l.fail(err)
		}
		// imagesInGen stays as g+1's batches set it: a sync batch (or a
		// chunk batch holding captured images) may hold images the
		// segments lack; chunk batches of dirty records do not.
		l.logTruncation(start, end, before, t0, tChunks, waited, tSync, "kept")
		return nil
	}
	// as every batch written before each chunk was copied. What they lack
	// is in the batches of syncs that ran between the chunks: the records
	// of chunks already written that such a sync imaged (owed, see
	// deltaSyncLocked) and the records appended at and above end. One more
	// sync, into a new generation, writes both again: the owed records
	// (each once, as they are now), the appends as the range [end, tail)
	// (syncTail goes back to end). Its batch carries the new generation as
	// base, so from then on recovery ignores every older one, chunk batches
	// included, and they go.
	if err := d.next(); err != nil {
		return l.fail(err)
	}
	gen := d.gen
	owed := l.owed
	slices.Sort(owed)
	owed = slices.Compact(owed)
	l.truncStart, l.truncHand, l.owed, l.owedBytes = 0, 0, l.owed[:0], 0
	l.setSyncTail(min(l.syncTail, end))
	// That sync's batches are written under maintMu, their fsync (most of
	// its time: the owed records are up to the whole region) runs without
	// it. Syncs that run meanwhile write into the new generation after
	// them, as later batches of the same sync would; until the base batch
	// below, recovery still starts from the older generations, and every
	// batch of the new one redoes newer images over them.
	// The flush's own delta batch (if it overwrites images) must be
	// durable before the flush writes, so only the delta sync proper is
	// deferred.
	if err := l.flushLocked(l.safeReadOnly.Load()); err != nil {
		return err
	}
	if err := l.syncSegmentsLocked(); err != nil {
		return err
	}
	var fsyncs []func() error
	l.deferred = &fsyncs
	tail, err := l.deltaSyncForcedLocked(owed)
	l.deferred = nil
	if err != nil {
		return err
	}
	l.maintMu.Unlock()
	for _, f := range fsyncs {
		if err = f(); err != nil {
			break
		}
	}
	if err == nil && beforeRewriteBase != nil {
		beforeRewriteBase()
	}
	l.maintMu.Lock()
	if err != nil {
		return l.fail(err)
	}
	if err := l.Err(); err != nil {
		return err
	}
	l.durable.Store(max(l.durable.Load(), tail))
	// Only now, in a batch of its own, does the new generation become the
	// base. The sync above may have written several batches (it spills
	// every deltaBatchBytes); had the first of them carried the new base,
	// a crash before the last would have left recovery ignoring the older
	// generations while the owed images and the appends since end were
	// not all in the new one yet.
	d.base = gen
	d.begin()
	if err := d.commit(l.flushSynced, l.syncTail, true); err != nil {
		return l.fail(err)
	}
	l.batchFlushed = l.flushSynced
	if err := d.dropBelow(gen); err != nil {
		return l.fail(err)
	}
	l.logTruncation(start, end, before, t0, tChunks, waited, tSync, "rewritten")
	return nil
}

// logTruncation logs a finished truncation and counts it.
func (l *Log) logTruncation(start, end uint64, before int64, t0 time.Time, tChunks, waited time.Duration, tSync time.Time, last string) {
	l.cfg.Logger.Info("rskv: delta log truncated into the segments", "from", start, "to", end,
		"delta_bytes_before", before, "delta_bytes_after", l.delta.total, "took", time.Since(t0),
		"chunks", tChunks, "waited", waited, "sync", time.Since(tSync), "last_generation", last)
	l.idleSyncs = 0
	l.truncations.Add(1)
}

// truncateChunkLocked copies the images of one chunk from a (at most chunk
// bytes, within a segment) and writes its delta batch, and returns where it
// ended and the chunk's I/O, to be run without maintMu: the batch's fsync,
// then the chunk's write into the segment file. Until that returns, it
// holds chunkMu, so a flush (which would write final images into the same
// range) waits for the chunk's older copy to be written first. The hand has
// moved already: a sync meanwhile that images a record of the chunk makes
// it owed (its image is newer than the chunk's).
func (l *Log) truncateChunkLocked(a, end, chunk uint64) (uint64, func() error, error) {
	if err := l.Err(); err != nil {
		return 0, nil, err
	}
	// A flush may have moved past a since the last chunk: the segment
	// files have final images there.
	a = max(a, l.flushed.Load())
	if a >= end {
		return end, nil, nil
	}
	b := min(end, (a/chunk+1)*chunk, (l.dev.segmentOf(a)+1)<<l.dev.segmentBits)
	// As flushLocked does: no segment gets data while an earlier one may
	// still be torn.
	for s := l.syncedSegment; s < l.dev.segmentOf(a); s++ {
		if err := l.dev.sync(s); err != nil {
			return 0, nil, l.fail(err)
		}
	}
	buf := l.truncMem.bytes(int(chunk))[:b-a]
	d := l.delta
	d.begin()
	// The writers' captured images are not synced yet, and a record whose
	// newest image is among them has changed since every synced image of
	// it: the chunk write could tear its only durable copy. So they go
	// into this chunk's batch first, as a sync would write them (owed
	// where an earlier chunk already wrote the record), and the chunk's
	// copy below, taken after, is at least as new.
	drained := false
	l.dirty.takeImages(func(entries []byte, lo, hi uint64) {
		n := d.pending()
		l.drainImages(entries, lo, hi, l.flushed.Load(), l.syncTail)
		drained = drained || d.pending() > n
	})
	if afterChunkImages != nil {
		afterChunkImages()
	}
	err := l.copyRangeDirty(a, b, func(addr uint64, n int) []byte { return buf[addr-a : addr-a+uint64(n)] },
		func(addr uint64, img []byte) { copy(d.add(addr, len(img)), img) })
	if err != nil {
		return 0, nil, l.fail(err)
	}
	var syncBatch func() error
	if !d.empty() {
		if syncBatch, err = d.write(l.flushSynced, l.syncTail, !drained); err != nil {
			return 0, nil, l.fail(err)
		}
		l.batchFlushed = l.flushSynced
	}
	l.imaged = max(l.imaged, b)
	l.truncHand = b
	l.chunkMu.Lock()
	return b, func() error {
		defer l.chunkMu.Unlock()
		// The batch first: the chunk's write may tear records whose only
		// durable images are in it.
		if syncBatch != nil {
			if err := syncBatch(); err != nil {
				return l.fail(err)
			}
		}
		if beforeChunkWrite != nil {
			beforeChunkWrite()
		}
		if err := l.dev.writeAt(buf, a); err != nil {
			return l.fail(err)
		}
		return nil
	}, nil
}

// beforeRewriteBase, if set (by tests), runs in a truncation that rewrites
// the owed images into a new generation, without maintMu, after their fsync
// and before the batch that names the new generation the base.
var beforeRewriteBase func()

// beforeChunkWrite, if set (by tests), runs in every truncation chunk's
// I/O, without maintMu, after its batch's fsync and before its write into
// the segment file: syncs and flushes can run there.
var beforeChunkWrite func()
