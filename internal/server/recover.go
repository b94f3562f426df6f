package server

import (
	"bytes"
	"encoding/binary"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// RecoveryReport says what the startup pass over the store found.
type RecoveryReport struct {
	Keys          int64 // live keys
	Renames       int   // RENAMEs a crash interrupted, finished or undone
	PendingHashes int   // hash changes a crash interrupted, finished or undone
	Orphans       int   // field and slot keys of dropped hashes, removed
}

// recover counts the keys and repairs what a crash left half done: RENAME
// intents, hash headers with a pending change, and the fields of hashes
// whose header is gone. It runs before the server accepts connections.
func (d *db) recover() (RecoveryReport, error) {
	var rep RecoveryReport
	live := map[uint64]struct{}{}
	type pend struct {
		key []byte
		h   hashHdr
	}
	var pendings []pend
	var intents [][2][]byte
	var perr error
	err := d.st.Scan(nil, func(k, v []byte) bool {
		switch k[0] {
		case nsMeta:
			d.addKeys(k[1:], 1)
			rep.Keys++
			if len(v) > 0 && v[0] == tagHash {
				h, err := decodeHash(v)
				if err != nil {
					perr = errors.Wrapf(err, "key %q", clip(k[1:]))
					return false
				}
				live[h.id] = struct{}{}
				if h.pending != pendNone {
					pendings = append(pendings, pend{k[1:], h})
				}
			}
		case nsRename:
			intents = append(intents, [2][]byte{k[1:], v})
		}
		return true
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return rep, errors.Wrap(err, "scan the store at startup")
	}
	var sc scratch
	for _, in := range intents {
		if err := d.finishRename(&sc, in[0], in[1]); err != nil {
			return rep, err
		}
		rep.Renames++
	}
	for _, p := range pendings {
		if err := d.finishPending(&sc, p.key, p.h); err != nil {
			return rep, errors.Wrapf(err, "repair hash %q", clip(p.key))
		}
		rep.PendingHashes++
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

// finishRename completes a RENAME whose destination was written, or undoes
// one whose destination was not.
func (d *db) finishRename(sc *scratch, src, dst []byte) error {
	sv, sok, err := d.rawMeta(sc, src)
	if err != nil {
		return err
	}
	dv, dok, err := d.rawMeta(sc, dst)
	if err != nil {
		return err
	}
	if sok && dok && bytes.Equal(sv, dv) {
		if err := d.st.Delete(metaKey(nil, src)); err != nil {
			return err
		}
		d.addKeys(src, -1)
	}
	return d.st.Delete(append([]byte{nsRename}, src...))
}

// finishPending rolls back a hash addition or rolls forward a removal.
func (d *db) finishPending(sc *scratch, key []byte, h hashHdr) error {
	pay := h.payload
	switch h.pending {
	case pendAdd:
		n, k := binary.Uvarint(pay)
		if k <= 0 {
			return errors.Wrap(errBadFormat, "pending addition")
		}
		pay = pay[k:]
		for i := uint64(0); i < n; i++ {
			l, k := binary.Uvarint(pay)
			if k <= 0 || uint64(len(pay)-k) < l {
				return errors.Wrap(errBadFormat, "pending addition field")
			}
			name := pay[k : k+int(l)]
			pay = pay[k+int(l):]
			if err := d.st.Delete(fieldKey(nil, h.id, name)); err != nil {
				return err
			}
			if err := d.st.Delete(slotKey(nil, h.id, h.count+i)); err != nil {
				return err
			}
		}
	case pendDel:
		slot, k := binary.Uvarint(pay)
		if k <= 0 {
			return errors.Wrap(errBadFormat, "pending removal")
		}
		pay = pay[k:]
		l, k := binary.Uvarint(pay)
		if k <= 0 || uint64(len(pay)-k) < l || h.count == 0 {
			return errors.Wrap(errBadFormat, "pending removal field")
		}
		f, last := pay[k:k+int(l)], pay[k+int(l):]
		if err := d.finishDel(sc, &h, slot, bytes.Clone(f), bytes.Clone(last)); err != nil {
			return err
		}
		h.count--
	default:
		return errors.Wrapf(errBadFormat, "pending operation %d", h.pending)
	}
	h.pending, h.payload = pendNone, nil
	if h.count == 0 {
		if err := d.st.Delete(metaKey(nil, key)); err != nil && !errors.Is(err, rskv.ErrNotFound) {
			return err
		}
		d.addKeys(key, -1)
		return nil
	}
	return d.putHeader(sc, key, &h)
}
