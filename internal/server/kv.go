package server

import (
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// The store access of every command goes through the functions of this
// file, which run on the Store directly or, while a connection's
// transaction is in progress (EXEC, and the multi-key writes that are one
// Store.Update), on its Txn: the same command code then reads its own
// writes and commits all-or-nothing (see doc.go, "Transactions").

// txState is a transaction in progress on a connection.
type txState struct {
	tx *rskv.Txn
	// exp is the expiry of the meta keys written in tx (the Txn offers no
	// ExpiresAt: the server remembers what it wrote). The zero Time: none.
	exp map[string]time.Time
	// fx are the changes to the key counts and the expiry index, applied
	// once the transaction has committed (fn may run again on a conflict).
	fx []effect
}

// effect is one deferred change of the server's own bookkeeping.
type effect struct {
	kind byte // 'c' created, 'r' removed, 'e' expiry set
	key  string
	at   time.Time
	hid  uint64
}

func (t *txState) reset(tx *rskv.Txn) {
	t.tx = tx
	clear(t.exp)
	if t.exp == nil {
		t.exp = map[string]time.Time{}
	}
	t.fx = t.fx[:0]
}

// read appends k's value to dst.
func (d *db) read(sc *scratch, dst, k []byte) ([]byte, error) {
	if t := sc.tx; t != nil && t.tx != nil {
		v, err := t.tx.Get(k)
		if err != nil {
			return dst, err
		}
		return append(dst, v...), nil
	}
	return d.st.AppendValue(dst, k)
}

// put writes k with no expiry.
func (d *db) put(sc *scratch, k, v []byte) error {
	if t := sc.tx; t != nil && t.tx != nil {
		if k[0] == nsMeta {
			t.exp[string(k)] = time.Time{}
		}
		return t.tx.Put(k, v)
	}
	return d.st.Put(k, v)
}

// putAt writes k expiring at at (zero: never; past: k is deleted).
func (d *db) putAt(sc *scratch, k, v []byte, at time.Time) error {
	if at.IsZero() {
		return d.put(sc, k, v)
	}
	ttl := at.Sub(d.now())
	if ttl <= 0 {
		return d.del(sc, k)
	}
	if t := sc.tx; t != nil && t.tx != nil {
		t.exp[string(k)] = at
		return t.tx.PutTTL(k, v, ttl)
	}
	if err := d.st.PutTTL(k, v, ttl); err != nil {
		return err
	}
	if !sc.exactAt {
		// The store's deadline is its clock plus ttl: at plus the few
		// microseconds since time.Until, the same millisecond but for a
		// stall of the goroutine. A relative expiry (EX, PX) needs no
		// more; one write keeps SET EX one fsync under SyncAlways.
		return nil
	}
	// An absolute time (EXAT, PXAT) is pinned exactly: PEXPIRETIME
	// answers it back.
	return d.st.Expire(k, at)
}

// putKeep writes k keeping its expiry.
func (d *db) putKeep(sc *scratch, k, v []byte) error {
	if t := sc.tx; t != nil && t.tx != nil {
		at, _, err := d.expiry(sc, k)
		if err != nil {
			return err
		}
		return d.putAt(sc, k, v, at)
	}
	_, err := d.st.RMW(k, func([]byte, bool) []byte { return v })
	return err
}

// del deletes k (absent: no error).
func (d *db) del(sc *scratch, k []byte) error {
	if t := sc.tx; t != nil && t.tx != nil {
		if k[0] == nsMeta {
			t.exp[string(k)] = time.Time{}
		}
		return t.tx.Delete(k)
	}
	err := d.st.Delete(k)
	if errors.Is(err, rskv.ErrNotFound) {
		return nil
	}
	return err
}

// rmw replaces k's value by fn(old, found), keeping its expiry.
func (d *db) rmw(sc *scratch, k []byte, fn func([]byte, bool) []byte) ([]byte, error) {
	if t := sc.tx; t != nil && t.tx != nil {
		old, err := t.tx.Get(k)
		found := err == nil
		if err != nil && !errors.Is(err, rskv.ErrNotFound) {
			return nil, err
		}
		nv := append([]byte(nil), fn(old, found)...)
		return nv, d.putKeep(sc, k, nv)
	}
	return d.st.RMW(k, fn)
}

// expiry returns meta key k's expiry (zero: none); found is false if k is
// absent.
func (d *db) expiry(sc *scratch, k []byte) (time.Time, bool, error) {
	if t := sc.tx; t != nil && t.tx != nil {
		if _, err := t.tx.Get(k); err != nil {
			if errors.Is(err, rskv.ErrNotFound) {
				return time.Time{}, false, nil
			}
			return time.Time{}, false, err
		}
		if at, ok := t.exp[string(k)]; ok {
			return at, true, nil
		}
	}
	at, err := d.st.ExpiresAt(k)
	if errors.Is(err, rskv.ErrNotFound) {
		return time.Time{}, false, nil
	}
	return at, err == nil, err
}

// setExpiry sets meta key k's expiry to at (zero: none; past: k is
// deleted). The key exists (the caller read it).
func (d *db) setExpiry(sc *scratch, k []byte, at time.Time) error {
	if t := sc.tx; t != nil && t.tx != nil {
		v, err := t.tx.Get(k)
		if err != nil {
			return err
		}
		return d.putAt(sc, k, v, at)
	}
	if !at.IsZero() && !at.After(d.now()) {
		return d.del(sc, k)
	}
	return d.st.Expire(k, at)
}

// ---- the server's bookkeeping: key counts and the expiry index ----

// expEntry is a key with an expiry in its stripe's index: when it is due,
// the sweeper (expire.go) uncounts the key and drops a hash's fields.
type expEntry struct {
	at  time.Time
	hid uint64 // the hash's id; 0 for a string
}

// note applies a bookkeeping change now, or after the commit inside a
// transaction. key is copied only then (no allocation on the hot paths).
func (d *db) note(sc *scratch, kind byte, key []byte, at time.Time, hid uint64) error {
	if t := sc.tx; t != nil && t.tx != nil {
		t.fx = append(t.fx, effect{kind: kind, key: string(key), at: at, hid: hid})
		return nil
	}
	return d.noteNow(sc, kind, key, at, hid)
}

// applyNow applies a deferred effect; the caller holds the key's stripe.
func (d *db) applyNow(sc *scratch, e effect) error {
	return d.noteNow(sc, e.kind, []byte(e.key), e.at, e.hid)
}

// noteNow applies a bookkeeping change; the caller holds key's stripe. Its
// only error is a failure to delete an expired hash's fields (which the
// next startup removes, as orphans).
func (d *db) noteNow(sc *scratch, kind byte, key []byte, at time.Time, hid uint64) error {
	st := d.stripeOf(key)
	switch kind {
	case 'c':
		if old, ok := st.exp[string(key)]; ok {
			// The key had expired and was still counted: it is
			// replaced, so the count stays; a hash's fields go.
			delete(st.exp, string(key))
			if old.hid != 0 {
				return d.dropAll(sc, old.hid)
			}
			return nil
		}
		d.addKeys(key, 1)
	case 'r':
		delete(st.exp, string(key))
		d.addKeys(key, -1)
	case 'e':
		if at.IsZero() {
			delete(st.exp, string(key))
			return nil
		}
		if st.exp == nil {
			st.exp = map[string]expEntry{}
		}
		st.exp[string(key)] = expEntry{at: at, hid: hid}
	}
	return nil
}

// created notes that key, absent before, now exists.
// It fails only if the fields of an expired hash it replaces could not be
// deleted; the write itself is done.
func (d *db) created(sc *scratch, key []byte) error { return d.note(sc, 'c', key, time.Time{}, 0) }

// removed notes that key, present before, is gone.
func (d *db) removed(sc *scratch, key []byte) { _ = d.note(sc, 'r', key, time.Time{}, 0) }

// expires notes key's expiry (zero: none); hid is a hash's id.
func (d *db) expires(sc *scratch, key []byte, at time.Time, hid uint64) {
	_ = d.note(sc, 'e', key, at, hid) // 'e' cannot fail
}
