package rskv

import (
	"math/bits"

	"github.com/rskv-go/rskv/internal/hashidx"
)

// Index growth: the index starts small (sized from the keys it will hold,
// see newIndexBuckets) and doubles online when its overflow buckets pass
// 1/16 of its main buckets (hashidx.Grow; grow.go there explains the
// protocol). The write that notices (one atomic load per upsert, of a word
// written only when growth is due) starts a grower goroutine; while it
// runs, every operation splits the part of the index it needs itself, so
// nobody waits for the whole growth.
//
// The grower holds commitMu for the growth: a multi-key commit locks index
// entries across unprotected waits, and a split must not move a locked
// entry, so commits wait (a growth of a million buckets takes a fraction of
// a second). Before it lets commits go on, it waits out (BumpAndWait) every
// protected operation that may still hold a slot of the old table, so that
// no in-place writer checks a stale slot for a commit's lock.
//
// The grower is owned by the store's lifecycle gate: Close waits for it.
//
// The old tables are unmapped (on linux they live off the Go heap, and a
// read of one unmapped faults) by the same drain: every operation that
// can hold a pointer into an old table is protected by the epoch, or a
// commit (serialised by commitMu and drained with the rest), or one of
// the index's own walks (which it guards itself): hashidx's retire.go lists
// them. So after BumpAndWait every table retired before it is unreachable,
// and the grower releases the tables counted then (Retired), after letting
// commits go on: a release may wait for a checkpoint writing the index.
// Close releases the rest, after its own drain.

// maybeGrowIndex starts a grower if the index wants to grow and none runs.
func (s *Store) maybeGrowIndex() {
	if !s.index.WantsGrowth() || !s.growing.CompareAndSwap(false, true) {
		return
	}
	if err := s.life.enter(); err != nil {
		s.growing.Store(false)
		return // closing: the next open sizes the index from its checkpoint
	}
	go func() {
		defer s.life.exit()
		for {
			s.growIndex()
			s.growing.Store(false)
			// A write that saw the index want growth after growIndex's
			// last check but before the flag cleared found a grower running
			// and left; look once more so its wish is not lost until the
			// next insert (a load that ends there would keep the small
			// index).
			if !s.index.WantsGrowth() || s.closed.Load() || !s.growing.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// growIndex doubles the index while it wants to grow.
func (s *Store) growIndex() {
	if drained := s.growIndexDrained(); drained > 0 {
		s.index.ReleaseRetired(drained)
	}
}

// growIndexDrained is growIndex under commitMu: it returns the number of
// tables retired (by it or before) whose readers it has drained.
func (s *Store) growIndexDrained() (drained int) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	for s.index.WantsGrowth() && !s.closed.Load() {
		if !s.index.Grow(s.traceOnline) {
			break
		}
		s.indexGrowths.Add(1)
		s.em.BumpAndWait()
		drained = s.index.Retired()
	}
	return drained
}

// growIndexLocked grows the index to at least buckets main buckets, now;
// commitMu is held (by a commit about to lock more entries than the index
// has room for).
func (s *Store) growIndexLocked(buckets int) {
	before := s.index.Buckets()
	s.index.GrowTo(buckets, s.traceOnline)
	if after := s.index.Buckets(); after > before {
		s.indexGrowths.Add(uint64(bits.TrailingZeros(uint(after)) - bits.TrailingZeros(uint(before))))
		s.em.BumpAndWait()
		// The old tables are not released here: under commitMu a release
		// could wait for a checkpoint's snapshot, which may want commitMu.
		// The next grower (whose drain covers them) or Close releases them.
	}
}

func (s *Store) traceOnline(chains []hashidx.SplitChain, bit uint64) {
	s.traceSplit(chains, bit, false)
}

func (s *Store) traceRecovering(chains []hashidx.SplitChain, bit uint64) {
	s.traceSplit(chains, bit, true)
}

// IndexStats describes the hash index in detail: its buckets, overflow
// buckets and entries, the longest overflow chain and the mean number of
// buckets a lookup reads. It walks the whole index (finishing a growth in
// progress first), so it costs about a millisecond per 16k buckets: for
// diagnosis, not for a metrics loop (Stats has the cheap counts).
func (s *Store) IndexStats() hashidx.Stats { return s.index.Stats() }
