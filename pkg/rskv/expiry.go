package rskv

import (
	"encoding/binary"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/hlog"
)

// Expiry: one home for how an expiry is stored and compared.
//
// An expiry is an absolute time, int64 Unix nanoseconds (0: none), so that
// it survives Close, crash and reopen unchanged. A record with one carries
// hlog.FlagExpiry and its stored value is the expiry, 8 bytes little-endian,
// followed by the user's value. Every path that returns or compares a value
// (Get, AppendValue, Has, RMW, Scan, Backup, compaction, promotion, the
// residency copy) strips and checks it through the helpers below; a copy of
// a record keeps its FlagExpiry.
//
// Records with an expiry are never updated in place: a write to such a key
// (Put, RMW, Expire) or a write that sets one (PutTTL) appends a new
// version and seals the old one. So the first eight value bytes of a
// flagged record never change, and a key without expiry pays only a flag
// test on the read path.
//
// What writes do to an existing expiry: Put and a batch's or transaction's
// Put drop it; RMW keeps it (like Redis INCR); PutTTL and Expire set it.

// checkTTL validates a TTL at the API edge.
func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return errors.Wrapf(ErrInvalidTTL, "ttl is %s; it must be positive", ttl)
	}
	return nil
}

// now returns the store's time in Unix nanoseconds, from the injected clock
// in tests, or from Options.Now.
func (s *Store) now() int64 {
	if s.opts.Now != nil {
		return s.opts.Now().UnixNano()
	}
	if s.opts.clock != nil {
		return s.opts.clock.Now().UnixNano()
	}
	return time.Now().UnixNano()
}

// deadline returns the expiry of a TTL starting now, from the store's clock.
func (s *Store) deadline(ttl time.Duration) int64 {
	return s.now() + int64(ttl)
}

// withExpiry appends the stored form of value with expiry expireAt to dst.
func withExpiry(dst, value []byte, expireAt int64) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(expireAt))
	return append(dst, value...)
}

// splitStored returns the expiry and user value of a stored value whose
// record info is info.
func splitStored(info uint64, stored []byte) (expireAt int64, value []byte) {
	if info&hlog.FlagExpiry == 0 || len(stored) < hlog.ExpiryPrefixSize {
		return 0, stored
	}
	return int64(binary.LittleEndian.Uint64(stored)), stored[hlog.ExpiryPrefixSize:]
}

// stripExpiry removes the expiry prefix from the stored value appended to
// b at off, in place.
func stripExpiry(b []byte, off int) []byte {
	if len(b)-off < hlog.ExpiryPrefixSize {
		return b[:off]
	}
	n := copy(b[off:], b[off+hlog.ExpiryPrefixSize:])
	return b[:off+n]
}

// expiredAt reports whether an expiry (0: none) has passed at now.
func expiredAt(expireAt, now int64) bool { return expireAt != 0 && expireAt <= now }

// expired reports whether an expiry (0: none) has passed; it reads the
// clock only for a key that has one.
func (s *Store) expired(expireAt int64) bool {
	return expireAt != 0 && expireAt <= s.now()
}

// expiryFlag is the flag a copy of a record with info must carry.
func expiryFlag(info uint64) uint64 { return info & hlog.FlagExpiry }

// PutTTL is Put with an expiry ttl from now (ttl > 0, else ErrInvalidTTL).
// An expired key is absent for every operation (Get, Has, Scan, RMW's
// found, Len once reclaimed) and its space is reclaimed: in memory by the
// expirer service, on disk by compaction. Expiry is an absolute time, so it
// survives Close, crash and reopen.
func (s *Store) PutTTL(key, value []byte, ttl time.Duration) error {
	if err := s.writable(); err != nil {
		return err
	}
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := s.checkRecord(key, len(value)+hlog.ExpiryPrefixSize); err != nil {
		return err
	}
	at := s.deadline(ttl)
	return s.upsertExp(key, hashKey(key), func(old []byte, found bool) []byte { return value }, false, cntPut,
		expirySpec{at: at})
}

// Expire sets key's expiry to at: a time in the past (or now) expires the
// key at once (it is deleted), the zero Time removes the expiry. It returns
// ErrNotFound if the key is absent or already expired.
func (s *Store) Expire(key []byte, at time.Time) error {
	if err := s.writable(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	var ns int64
	if !at.IsZero() {
		ns = max(1, at.UnixNano())
	}
	return s.upsertExp(key, hashKey(key), func(old []byte, found bool) []byte { return old }, true, cntPut,
		expirySpec{at: ns, mustExist: true})
}

// ExpiresAt returns key's expiry, the zero Time if it has none. It returns
// ErrNotFound if the key is absent or expired.
func (s *Store) ExpiresAt(key []byte) (time.Time, error) {
	if err := checkKey(key); err != nil {
		return time.Time{}, err
	}
	g, err := s.protect()
	if err != nil {
		return time.Time{}, err
	}
	defer g.Release()
	g.Count(cntGet)
	_, e, ok := s.index.Find(hashKey(key))
	if !ok {
		return time.Time{}, ErrNotFound
	}
	w, err := s.findVersion(g, key, e.Address(), noLimit, &g.Scratch, false)
	if err != nil {
		return time.Time{}, err
	}
	if !w.live() || s.expired(w.expireAt) {
		return time.Time{}, ErrNotFound
	}
	if w.expireAt == 0 {
		return time.Time{}, nil
	}
	return time.Unix(0, w.expireAt), nil
}

// expirySpec says what a write does to its key's expiry.
type expirySpec struct {
	// keep: the new version keeps the old one's expiry (RMW).
	keep bool
	// at is the new expiry otherwise (0: none).
	at int64
	// mustExist: a key that is absent or expired is ErrNotFound and
	// nothing is written (Expire). A past at then deletes the key.
	mustExist bool
}

// expiringBytes counts, per log segment, the bytes of the records written
// there with an expiry and the latest of their expiries: once that has
// passed, every one of those records is expired (or superseded), so
// compaction counts them as dead when it decides whether a segment pays
// (deadbytes.go counts only superseded versions). Only writes with an
// expiry touch it. Like the dead bytes, it is exact for the segments
// written since Open; compaction reads an older segment to measure it.
type expiringBytes struct {
	bytes  deadBytes
	latest deadBytes // stripe 0 of each segment holds the latest expiry
}

func (x *expiringBytes) init(segBits uint, begin uint64) {
	x.bytes.init(segBits, begin)
	x.latest.init(segBits, begin)
}

// note counts a record of size bytes at addr (key hash h) expiring at
// expireAt.
func (x *expiringBytes) note(addr, h, size uint64, expireAt int64) {
	if x.bytes.table.Load() == nil {
		return // not initialised: recovery is replaying
	}
	x.bytes.add(addr, h, int64(size))
	c := x.latest.counter(addr>>x.latest.segBits, 0)
	for c != nil {
		cur := c.Load()
		if cur >= expireAt || c.CompareAndSwap(cur, expireAt) {
			return
		}
	}
}

// expired returns the bytes of segment seg that have expired by now: all of
// its records with an expiry, once the latest of them has passed.
func (x *expiringBytes) expired(seg uint64, now int64) int64 {
	if x.bytes.table.Load() == nil {
		return 0
	}
	if latest := x.latest.segment(seg); latest == 0 || latest > now {
		return 0
	}
	return x.bytes.segment(seg)
}

func (x *expiringBytes) dropBelow(begin uint64) {
	x.bytes.dropBelow(begin)
	x.latest.dropBelow(begin)
}

// segmentDead is the dead-byte estimate of segment seg that compaction acts
// on: superseded versions plus expired records, at most the segment.
func (s *Store) segmentDead(seg uint64) int64 {
	d := s.dead.segment(seg) + s.expiring.expired(seg, s.now())
	return min(d, int64(1)<<s.dead.segBits)
}

// noteReplayedExpiry counts a record replayed at Open in expiring, as its
// write did. (Records below the checkpoint recovery started from are not
// replayed: compaction measures their segments by reading them.)
func (s *Store) noteReplayedExpiry(h uint64, rec hlog.DiskRecord) {
	if rec.Info&hlog.FlagExpiry != 0 {
		exp, _ := splitStored(rec.Info, rec.Value)
		s.expiring.note(rec.Address, h, rec.Size, exp)
	}
}
