package rskv

import (
	"bytes"
	"sync"
)

// Len returns the number of live keys. It is exact when no write is in
// flight and is restored exactly by recovery.
func (s *Store) Len() int {
	return int(max(0, s.keys.sum()))
}

// Scan bounds the work it does under one epoch protection, so that a
// selective Scan of a large log never holds back Sync, eviction or
// compaction for long: a protected stretch ends after scanBatch matches,
// scanWorkRecords records read or scanWorkBytes bytes read, whichever comes
// first. Between stretches nothing is held and fn runs.
const (
	scanBatch       = 256
	scanWorkRecords = 4096
	scanWorkBytes   = 1 << 20
)

// Scan calls fn for each live key with the prefix (nil: all keys), in no
// fixed order, until fn returns false. key and value are the caller's copies.
// Expired keys are skipped.
//
// Scan sees the store as of its start: every key live then and still live is
// visited exactly once, with the value it had at the start or a newer one;
// keys written after the start may or may not be visited.
//
// fn runs with no lock and no epoch protection held, so it may call any
// method of the Store: Get, Put, Delete, RMW, a nested Scan, Checkpoint,
// Compact, even Close (Scan then returns ErrClosed). Writes made by fn are
// not visited. A Compact that runs while Scans are in progress (from fn or
// from another goroutine) does not wait for them: the segment files it frees
// are deleted when the last running Scan ends. If fn panics, the panic
// propagates to Scan's caller and the store keeps working.
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	s.scanStarted()
	defer s.scanEnded()
	g, err := s.protect()
	if err != nil {
		return err
	}
	end := s.log.Tail()
	g.Release()
	// Every record allocated below end is fully written once the sections
	// protected now have ended.
	s.em.BumpAndWait()

	type kv struct{ key, value []byte }
	batch := make([]kv, 0, scanBatch)
	sc := s.log.NewScanner(s.log.Begin(), end)
	buf := getBuf()
	defer putBuf(buf)
	for done := false; !done; {
		g, err := s.protect()
		if err != nil {
			return err
		}
		var records int
		var nbytes uint64
		for len(batch) < scanBatch && records < scanWorkRecords && nbytes < scanWorkBytes {
			it, ok, err := sc.Next()
			if err != nil {
				g.Release()
				return err
			}
			if !ok {
				done = true
				break
			}
			records++
			nbytes += it.Size
			if it.Info&(hlogInvalid|hlogTombstone) != 0 || !bytes.HasPrefix(it.Key, prefix) {
				continue
			}
			live, err := s.isNewestBelow(g, it.Key, it.Address, end, buf)
			if err != nil {
				g.Release()
				return err
			}
			if !live {
				continue
			}
			exp, value := splitStored(it.Info, it.Value)
			if s.expired(exp) {
				continue
			}
			batch = append(batch, kv{bytes.Clone(it.Key), bytes.Clone(value)})
		}
		g.Release()
		for _, e := range batch {
			if !fn(e.key, e.value) {
				return nil
			}
		}
		batch = batch[:0]
	}
	return nil
}

// scanRegistry counts the running Scans and holds the truncation that a
// compaction deferred for them. A Scan reads from the begin address its
// snapshot started at; a compaction that moved begin (and deleted the
// segments below it) under a running Scan would make it miss the keys it
// copied to the tail, above the Scan's end. So while Scans run, compaction
// commits its new begin in the manifest but leaves the log's begin, the
// segment files and the index alone, and the last Scan to end applies it.
// Compaction neither waits for Scans nor blocks them.
type scanRegistry struct {
	mu      sync.Mutex
	active  int    // Scans running
	pending uint64 // begin address a deferred truncation moves to; 0: none
	running bool   // a deferred truncation is being applied
}

// truncationPending reports whether a deferred truncation has yet to be
// applied: compaction does not start another until it is (the log's begin
// is not where the manifest says).
func (r *scanRegistry) truncationPending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending != 0 || r.running
}

func (s *Store) scanStarted() {
	s.scans.mu.Lock()
	s.scans.active++
	s.scans.mu.Unlock()
}

// scanEnded is deferred by Scan: the last Scan to end applies the deferred
// truncation, unless Close has begun (then recovery deletes the segments
// below the manifest's begin at the next Open).
func (s *Store) scanEnded() {
	r := &s.scans
	r.mu.Lock()
	r.active--
	if r.active > 0 || r.pending == 0 {
		r.mu.Unlock()
		return
	}
	until := r.pending
	r.pending, r.running = 0, true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
	if s.life.enter() != nil {
		return
	}
	defer s.life.exit()
	if _, err := s.applyTruncate(until); err != nil {
		// The log is poisoned (its error is sticky): writes and Sync report it.
		s.opts.Logger.Error("rskv: deferred truncation failed", "begin", until, "err", err)
	}
}

// truncate moves the log's begin address to until, deletes the segments
// below it and clears index entries that pointed there, now or, while Scans
// run, when the last of them ends (then it returns 0 bytes freed). The new
// begin is already durable in the manifest. Compaction calls it with opMu
// held.
func (s *Store) truncate(until uint64) (int64, error) {
	r := &s.scans
	r.mu.Lock()
	if r.active > 0 {
		r.pending = max(r.pending, until)
		r.mu.Unlock()
		return 0, nil
	}
	r.mu.Unlock()
	return s.applyTruncate(until)
}

func (s *Store) applyTruncate(until uint64) (int64, error) {
	freed, err := s.log.ShiftBegin(until)
	if err != nil {
		return freed, err
	}
	s.clearEntriesBelow(until)
	return freed, nil
}
