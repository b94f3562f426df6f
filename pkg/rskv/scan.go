package rskv

import (
	"bytes"
)

// Len returns the number of live keys. It is exact when no write is in
// flight and is restored exactly by recovery.
func (s *Store) Len() int {
	return int(max(0, s.keys.sum()))
}

// scanBatch is how many records Scan reads under one protection before it
// hands them to the callback unprotected.
const scanBatch = 256

// Scan calls fn for each live key with the prefix (nil: all keys), in no
// fixed order, until fn returns false. key and value are the caller's copies.
//
// Scan sees the store as of its start: every key live then and still live is
// visited exactly once, with the value it had at the start or a newer one;
// keys written after the start may or may not be visited. fn runs outside
// the store's epoch protection and may call the Store (writes made by fn are
// not visited), except Compact, which waits for running Scans to end.
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	s.truncMu.RLock()
	defer s.truncMu.RUnlock()
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
	for {
		g, err := s.protect()
		if err != nil {
			return err
		}
		for len(batch) < scanBatch {
			it, ok, err := sc.Next()
			if err != nil {
				g.Release()
				return err
			}
			if !ok {
				break
			}
			if it.Info&(hlogInvalid|hlogTombstone) != 0 || !bytes.HasPrefix(it.Key, prefix) {
				continue
			}
			live, err := s.isNewestBelow(g, it.Key, it.Address, end, buf)
			if err != nil {
				g.Release()
				return err
			}
			if live {
				batch = append(batch, kv{bytes.Clone(it.Key), bytes.Clone(it.Value)})
			}
		}
		g.Release()
		if len(batch) == 0 {
			return nil
		}
		for _, e := range batch {
			if !fn(e.key, e.value) {
				return nil
			}
		}
		batch = batch[:0]
	}
}
