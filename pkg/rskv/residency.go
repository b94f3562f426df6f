package rskv

import (
	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/internal/hlog"
)

// Keeping the live set in memory.
//
// Syncs no longer make the mutable region read-only (the delta log makes
// in-place updates durable, docs/durability.md), so a store whose writes
// all fit in place never moves its tail and never evicts: this hook does
// not run. The log still grows by appends: new keys, deletes (tombstones),
// values that outgrow their record's capacity, RMWs that grow, multi-key
// commits, compaction's copies. When it outgrows memory, eviction pushes
// pages that may still hold live records below the head, and reads of data
// that fits in memory would go to disk.
//
// So, when the live data fits comfortably in memory, the log shifter copies
// the live records of the pages it is about to evict to the tail first
// (with a conditional insert, as compaction does), and evicts only dead
// versions. A page that leaves memory has usually been overwritten by
// newer versions, so few of its records are still live and this costs a
// small share of extra appends. When the live data is larger than half of
// memory it does nothing: copying would only churn, and read promotion
// brings back what is hot.
//
// Compaction never takes pages above the head (compact.go), so the two do
// not do the same work: the residency copy handles a page once, as it
// leaves memory, and the originals it copies are counted dead in their
// segment; compaction later finds that segment mostly dead and deletes it,
// copying only what the residency copy left on disk on purpose.

// beforeEvict is the log's hook, called under its maintenance lock before
// the pages in [from, to) are evicted. It must not wait for room in memory.
func (s *Store) beforeEvict(from, to uint64) {
	if s.closed.Load() || s.log.Err() != nil || !s.liveFitsInMemory() {
		return
	}
	g := s.em.Protect()
	defer func() { g.Release() }()
	buf := getBuf()
	defer putBuf(buf)
	sc := s.log.NewScanner(max(from, s.log.Begin()), to)
	for {
		it, ok, err := sc.Next()
		if err != nil || !ok {
			return // nothing is lost by not copying: the records stay on disk
		}
		if it.Info&(hlog.FlagInvalid|hlog.FlagTombstone) != 0 {
			continue
		}
		if !s.copyLive(g, it, buf) {
			return // no room in memory without waiting: evict the rest as is
		}
	}
}

// liveFitsInMemory estimates whether the live records would fill at most
// half of the in-memory log.
func (s *Store) liveFitsInMemory() bool {
	logBytes := int64(s.log.Tail() - s.log.Begin())
	live := logBytes - s.dead.sum()
	return live < s.opts.MemorySize/2
}

// copyLive copies the record it to the tail if it is still its key's newest
// version, linking the copy only if the index still leads to it. It returns
// false if the tail has no room without waiting.
func (s *Store) copyLive(g *epoch.Handle, it hlog.ScanItem, buf *[]byte) bool {
	h := hashKey(it.Key)
	slot, e, ok := s.index.Find(h)
	if !ok {
		return true
	}
	if e.Address() != it.Address {
		// Newer versions of the key lie above it, in memory.
		if w, err := s.findVersion(g, it.Key, e.Address(), noLimit, buf, false); err != nil || w.addr != it.Address {
			return true // superseded: dead
		}
	}
	_, err := s.appendVersion(g, mustNotWait, h, slot, e, it.Key, it.Value, hlog.FlagCopy|expiryFlag(it.Info), it.Address, it.Size)
	switch err {
	case nil:
		g.Count(cntKeptResident)
	case errNoRoom:
		return false
	}
	return true // errLost: the key changed meanwhile, its newer version stays
}
