package rskv

import (
	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/hashidx"
	hlog "github.com/rskv-go/rskv/log"
)

// recover rebuilds the index by replaying the log from its begin address,
// and restores the live-key count.
//
// Key accounting: every record carries the change it made to the number of
// live keys (FlagNewKey +1, FlagDelKey -1, anything else 0), decided at write
// time under the index compare-and-swap that published it. The count is
// therefore the sum over all records ever written; records that compaction
// removed are summed into the manifest's KeyBase, and recovery adds the rest.
func (s *Store) recover() error {
	begin := s.man.Begin
	var keys int64
	var dead int64
	rep, err := s.log.Recover(begin, begin, 0, func(rec hlog.DiskRecord) error {
		h := hashKey(rec.Key)
		slot, e := s.index.FindOrCreate(h)
		if e.Address() < rec.Address {
			if !hashidx.CompareAndSwap(slot, e, hashidx.MakeEntry(rec.Address, hashidx.TagOf(h))) {
				return errors.AssertionFailedf("rskv: index changed during recovery")
			}
		}
		switch {
		case rec.Info&hlog.FlagNewKey != 0:
			keys++
		case rec.Info&hlog.FlagDelKey != 0:
			keys--
			dead += int64(rec.Size) * 2 // the tombstone and what it deleted
		case rec.Info&hlog.FlagCopy == 0:
			dead += int64(rec.Size) // an update: about one record's worth died
		}
		return nil
	})
	s.recovery.From, s.recovery.To = rep.From, rep.End
	s.recovery.BytesReplayed, s.recovery.Records = rep.BytesScanned, rep.Records
	s.recovery.TornAt, s.recovery.TornBytes, s.recovery.Removed = rep.TornAt, rep.TornBytes, rep.Removed
	if err != nil {
		return errors.Wrapf(err, "rskv: recover %s", s.dir)
	}
	if err := s.log.Start(begin, rep.End); err != nil {
		return errors.Wrapf(err, "rskv: recover %s", s.dir)
	}
	s.keys.reset(s.man.KeyBase + keys)
	s.dead.reset(dead)
	return nil
}
