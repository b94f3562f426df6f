package rskv

import (
	"bytes"
	"slices"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/hlog"
)

// maxTxnAttempts is how many times Update and View run fn before they give
// up with ErrConflict.
const maxTxnAttempts = 100

// opaqueReads is the read-set size up to which every read re-validates the
// earlier ones, so that fn never sees keys from different moments; past it
// only the final validation holds (see Txn).
const opaqueReads = 16

// Txn is a transaction, valid only inside the function given to Update or
// View (and only in its goroutine). Its reads record what they saw; its
// writes are buffered, and its reads see them (read-your-writes, deletions
// included).
//
// Transactions are optimistic: fn runs without locks, and at its end the
// reads are validated (each key's newest record and its in-place version
// are what fn saw). If one changed, fn runs again. While a transaction has
// read at most 16 keys, each read also re-validates the earlier ones: if
// one changed, the read returns an error matching ErrConflict (return it
// from fn; fn runs again in any case), so fn never sees two keys from
// different moments. Past 16 keys only the final validation holds: a run
// that fails it is discarded, so fn may, in such a run, have seen keys from
// different moments; only a run that validates counts (its effects are
// committed, its return value returned). fn must therefore keep its effects
// inside the transaction, or be idempotent, and not trust an invariant
// across more than 16 keys enough to crash on it.
type Txn struct {
	s        *Store
	readOnly bool
	stale    bool // a key was read twice with different versions
	reads    map[string]readVersion
	writes   map[string]txnWrite
	order    []string // written keys, in the order first written
	scratch  []byte
}

// txnWrite is a buffered write: value is the user's value, stored its
// stored form (with the expiry prefix) when it has an expiry.
type txnWrite struct {
	value, stored []byte
	expiry        bool
	del           bool
}

func (tx *Txn) reset(readOnly bool) {
	tx.readOnly, tx.stale = readOnly, false
	clear(tx.reads)
	clear(tx.writes)
	tx.order = tx.order[:0]
	if tx.reads == nil {
		tx.reads = make(map[string]readVersion)
	}
	if !readOnly && tx.writes == nil {
		tx.writes = make(map[string]txnWrite)
	}
}

// noteRead records the version of key that a read saw and, while the read
// set is small, checks that the earlier reads still hold (opacity: see Txn).
func (tx *Txn) noteRead(key []byte, rv readVersion) error {
	if old, ok := tx.reads[string(key)]; ok {
		if old != rv {
			tx.stale = true
		}
	} else {
		tx.reads[string(key)] = rv
		if n := len(tx.reads); n > 1 && n <= opaqueReads {
			for k, want := range tx.reads {
				if k == string(key) {
					continue
				}
				kb := []byte(k)
				cur, err := tx.s.versionOf(kb, hashKey(kb), 0, false)
				if err != nil {
					return err
				}
				if cur != want {
					tx.stale = true
					break
				}
			}
		}
	}
	if tx.stale {
		return errors.Wrap(ErrConflict, "a key the transaction read has changed; it will run again")
	}
	return nil
}

// Get returns a copy of key's value as the transaction sees it (its own
// writes included), or ErrNotFound.
func (tx *Txn) Get(key []byte) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if w, ok := tx.writes[string(key)]; ok {
		if w.del {
			return nil, ErrNotFound
		}
		return append([]byte{}, w.value...), nil
	}
	var rv readVersion
	v, err := tx.s.read(nil, key, &rv)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if cerr := tx.noteRead(key, rv); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Has reports whether key has a live value as the transaction sees it.
func (tx *Txn) Has(key []byte) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	if w, ok := tx.writes[string(key)]; ok {
		return !w.del, nil
	}
	var rv readVersion
	var err error
	tx.scratch, err = tx.s.read(tx.scratch[:0], key, &rv)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if cerr := tx.noteRead(key, rv); cerr != nil {
		return false, cerr
	}
	return err == nil, nil
}

func (tx *Txn) write(key []byte, w txnWrite) {
	if _, ok := tx.writes[string(key)]; !ok {
		tx.order = append(tx.order, string(key))
	}
	tx.writes[string(key)] = w
}

func (tx *Txn) checkWritable() error {
	if tx.readOnly {
		return errors.Wrap(ErrReadOnly, "a write inside View")
	}
	return nil
}

// Put sets key to value in the transaction (the Txn keeps its own copies).
// It returns ErrReadOnly inside View, and the errors of Store.Put for a bad
// key or value.
func (tx *Txn) Put(key, value []byte) error {
	if err := tx.checkWritable(); err != nil {
		return err
	}
	if err := tx.s.checkRecord(key, len(value)); err != nil {
		return err
	}
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	tx.write(key, txnWrite{value: v, stored: v})
	return nil
}

// PutTTL is Put with an expiry ttl from now, as Store.PutTTL (ttl > 0, else
// ErrInvalidTTL).
func (tx *Txn) PutTTL(key, value []byte, ttl time.Duration) error {
	if err := tx.checkWritable(); err != nil {
		return err
	}
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := tx.s.checkRecord(key, 8+len(value)); err != nil {
		return err
	}
	stored := withExpiry(nil, value, tx.s.deadline(ttl))
	tx.write(key, txnWrite{value: stored[8:], stored: stored, expiry: true})
	return nil
}

// Delete removes key in the transaction. Deleting an absent key is not an
// error. It returns ErrReadOnly inside View.
func (tx *Txn) Delete(key []byte) error {
	if err := tx.checkWritable(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	tx.write(key, txnWrite{del: true})
	return nil
}

// commitSet returns the commit's keys: the writes, and the reads to
// validate, in hash order.
func (tx *Txn) commitSet() []commitKey {
	keys := make([]commitKey, 0, len(tx.order)+len(tx.reads))
	for _, k := range tx.order {
		w := tx.writes[k]
		ck := commitKey{key: []byte(k), h: hashKey([]byte(k)), write: true, del: w.del, value: w.stored}
		if w.expiry {
			ck.flags = hlog.FlagExpiry
		}
		if rv, ok := tx.reads[k]; ok {
			ck.validate, ck.read = true, rv
		}
		keys = append(keys, ck)
	}
	for k, rv := range tx.reads {
		if _, ok := tx.writes[k]; ok {
			continue
		}
		keys = append(keys, commitKey{key: []byte(k), h: hashKey([]byte(k)), validate: true, read: rv})
	}
	slices.SortFunc(keys, func(a, b commitKey) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.key, b.key)
	})
	return keys
}

// valid reports whether every read of tx still holds (View's second
// collect). It waits out commits holding the keys read.
func (tx *Txn) valid() (bool, error) {
	if tx.stale {
		return false, nil
	}
	for k, rv := range tx.reads {
		key := []byte(k)
		cur, err := tx.s.versionOf(key, hashKey(key), 0, false)
		if err != nil {
			return false, err
		}
		if cur != rv {
			return false, nil
		}
	}
	return true, nil
}

// Update runs fn in a read-write transaction and commits its writes
// atomically (to readers and across a crash, as Batch.Commit) with
// serializable isolation: the outcome is as if every transaction and every
// single-key operation ran one at a time. At commit the entries of every
// key read or written are locked (in hash order), the reads validated and
// the writes applied; if a read changed, fn runs again, after a short
// randomised backoff, up to 100 times in all, and then Update returns
// ErrConflict. An error returned by fn aborts: nothing is written, and
// Update returns it (after checking that fn's reads were consistent; if
// not, fn runs again). A panic in fn goes on to the caller, nothing
// written. fn must not call Update or View, nor keep tx. Update returns
// ErrReadOnly on a read-only store, ErrClosed on a closed one; durability
// follows SyncMode as Put's does.
func (s *Store) Update(fn func(tx *Txn) error) error {
	if err := s.writable(); err != nil {
		return err
	}
	if fn == nil {
		return errors.New("rskv: Update needs a function")
	}
	tx := &Txn{s: s}
	for attempt := 1; attempt <= maxTxnAttempts; attempt++ {
		if s.closed.Load() {
			return ErrClosed
		}
		tx.reset(false)
		if err := fn(tx); err != nil {
			if ok, verr := tx.valid(); verr != nil || ok {
				return err
			}
			backoff(attempt)
			continue
		}
		if tx.stale {
			backoff(attempt)
			continue
		}
		err := s.commitKeys(tx.commitSet())
		if err != errConflict {
			return err
		}
		backoff(attempt)
	}
	return errors.Wrapf(ErrConflict, "Update gave up after %d attempts", maxTxnAttempts)
}

// View runs fn in a read-only transaction that sees one consistent state of
// the store: every read is validated again after fn returns (the key's
// version unchanged), so all of them held at one moment; if not, fn runs
// again, up to 100 times, then View returns ErrConflict. Writes inside View
// return ErrReadOnly. fn's error is returned (once its reads validate). A
// panic in fn goes on to the caller.
func (s *Store) View(fn func(tx *Txn) error) error {
	if fn == nil {
		return errors.New("rskv: View needs a function")
	}
	tx := &Txn{s: s}
	for attempt := 1; attempt <= maxTxnAttempts; attempt++ {
		if s.closed.Load() {
			return ErrClosed
		}
		tx.reset(true)
		err := fn(tx)
		ok, verr := tx.valid()
		if verr != nil {
			if err != nil {
				return err
			}
			return verr
		}
		if ok {
			return err
		}
		backoff(attempt)
	}
	return errors.Wrapf(ErrConflict, "View gave up after %d attempts", maxTxnAttempts)
}
