package server

import (
	"encoding/binary"

	"github.com/cockroachdb/errors"
)

// RecoveryReport says what the startup pass over the store found.
type RecoveryReport struct {
	Keys     int64 // live keys
	Expiring int   // keys with an expiry (the expiry index)
	Orphans  int   // field and slot keys of dropped or expired hashes, removed
}

// recover counts the keys, loads the expiry index and removes the fields of
// hashes whose header is gone (dropped by a crash before its fields were,
// outside a transaction, or expired). It runs before the server accepts
// connections. Multi-key writes are store transactions or batches, so there
// is nothing else to repair.
func (d *db) recover() (RecoveryReport, error) {
	var rep RecoveryReport
	live := map[uint64]struct{}{}
	var perr error
	var sc scratch
	err := d.st.Scan(nil, func(k, v []byte) bool {
		if k[0] != nsMeta {
			return true
		}
		d.addKeys(k[1:], 1)
		var hid uint64
		if len(v) > 0 && v[0] == tagHash {
			h, err := decodeHash(v)
			if err != nil {
				perr = errors.Wrapf(err, "key %q", clip(k[1:]))
				return false
			}
			live[h.id] = struct{}{}
			hid = h.id
		}
		at, found, err := d.expiry(&sc, k)
		if err != nil {
			perr = err
			return false
		}
		if found && !at.IsZero() {
			d.expires(&sc, k[1:], at, hid)
			rep.Expiring++
		}
		return true
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return rep, errors.Wrap(err, "scan the store at startup")
	}
	err = d.st.Scan(nil, func(k, v []byte) bool {
		if (k[0] != nsField && k[0] != nsSlot) || len(k) < 9 {
			return true
		}
		if _, ok := live[binary.BigEndian.Uint64(k[1:9])]; ok {
			return true
		}
		if perr = d.st.Delete(k); perr != nil {
			return false
		}
		rep.Orphans++
		return true
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return rep, errors.Wrap(err, "remove orphaned hash fields at startup")
	}
	rep.Keys = d.size()
	return rep, nil
}
