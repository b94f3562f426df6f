package rskv

import (
	"context"
	"sync"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/internal/hlog"
)

// The expirer service gives the memory and the Len count of expired keys
// back, the way Garnet's expired-key deletion scan does: every
// expirerInterval it walks the in-memory part of the log, in batches under
// epoch protection (bounded like Scan's, so it never holds eviction up for
// long), and deletes each key whose newest version has expired, with the
// conditional append of a tombstone: a concurrent update of the key wins.
// Expired records that have already left memory are compaction's: it drops
// them (compact.go).
//
// A sweep starts where the previous one found the first record with an
// expiry still pending (or, if none, where it ended), so a store without
// TTL keys pays for a walk of only what was written since.

// expirerInterval is the expirer's period.
const expirerInterval = time.Second

// expirerState is the sweep's cursor.
type expirerState struct {
	mu   sync.Mutex // one sweep at a time
	from uint64     // no pending expiry below this address (in memory)
	// expired counts the keys the expirer deleted (tests).
	expired int64
}

// expiryTarget adapts the store to the expirer.
type expiryTarget struct{ s *Store }

func (t expiryTarget) SweepExpired(ctx context.Context) (bool, error) {
	return t.s.sweepExpired(ctx)
}

// sweepExpired is the expirer's step.
func (s *Store) sweepExpired(ctx context.Context) (bool, error) {
	if s.opts.ReadOnly || s.life.enter() != nil {
		return false, nil
	}
	defer s.life.exit()
	x := &s.expiry
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := s.log.Err(); err != nil {
		return false, s.ioFailure(err)
	}
	end := s.log.Tail()
	from := max(x.from, s.log.Head(), s.log.Begin())
	if from >= end {
		return false, nil
	}
	// Every record allocated below end is written once the sections
	// protected now have ended.
	s.em.BumpAndWait()
	now := s.now()
	pending := end
	sc := s.log.NewScanner(from, end)
	buf := getBuf()
	defer putBuf(buf)
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			x.from = min(pending, sc.Position())
			return true, errors.Wrap(err, "rskv: expiry sweep interrupted")
		}
		g, err := s.protect()
		if err != nil {
			return true, nil // closed
		}
		if head := s.log.Head(); sc.Position() < head {
			// The head moved past the cursor: what left memory is
			// compaction's.
			sc = s.log.NewScanner(head, end)
		}
		for i := 0; i < scanWorkRecords; i++ {
			it, ok, err := sc.Next()
			if err != nil {
				g.Release()
				return true, errors.Wrap(err, "rskv: expiry sweep")
			}
			if !ok {
				done = true
				break
			}
			if it.Info&hlog.FlagExpiry == 0 || it.Info&(hlog.FlagInvalid|hlog.FlagTombstone) != 0 {
				continue
			}
			exp, _ := splitStored(it.Info, it.Value)
			if !expiredAt(exp, now) {
				pending = min(pending, it.Address)
				continue
			}
			var deleted bool
			if g, deleted, err = s.deleteIfNewest(g, it, buf); err != nil {
				return true, err
			}
			if deleted {
				x.expired++
			}
		}
		g.Release()
	}
	x.from = pending
	return true, nil
}

// deleteIfNewest deletes it's key with a tombstone if it is still the key's
// newest version (see appendIfNewest). Records with an expiry are never
// changed in place, so there is no in-place update to fence off: the index
// decides.
func (s *Store) deleteIfNewest(g *epoch.Handle, it hlog.ScanItem, buf *[]byte) (*epoch.Handle, bool, error) {
	return s.appendIfNewest(g, it, nil, hlog.FlagTombstone|hlog.FlagDelKey, buf)
}
