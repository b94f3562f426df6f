package test

import (
	"bytes"
	"errors"
	"time"

	"github.com/rskv-go/rskv/pkg/rskv"
	"pgregory.net/rapid"
)

// Batches and transactions in the store/map property test
// (TestStoreMatchesMap picks these actions up with the others).

var errPropertyAbort = errors.New("property: fn aborts")

// Batch commits a random batch: puts and deletes of random keys, the last
// write to a key winning; now and then a bad write, which must fail the
// whole batch and change nothing.
func (m *storeMachine) Batch(t *rapid.T) {
	b := m.s.NewBatch()
	n := rapid.IntRange(0, 12).Draw(t, "writes")
	after := map[string][]byte{}
	var order []string
	for i := 0; i < n; i++ {
		k := m.key(t)
		if _, ok := after[string(k)]; !ok {
			order = append(order, string(k))
		}
		if rapid.IntRange(0, 3).Draw(t, "op") == 0 {
			b.Delete(k)
			after[string(k)] = nil
		} else {
			v := m.value(t)
			b.Put(k, v)
			after[string(k)] = v
		}
	}
	var want error
	switch rapid.IntRange(0, 9).Draw(t, "bad") {
	case 0:
		b.Put(nil, []byte("x"))
		want = rskv.ErrEmptyKey
	case 1:
		b.PutTTL([]byte("a/0"), []byte("x"), 0)
		want = rskv.ErrInvalidTTL
	}
	if b.Len() != n+map[bool]int{true: 1, false: 0}[want != nil] {
		t.Fatalf("Batch.Len() = %d after %d writes", b.Len(), n)
	}
	err := b.Commit()
	if want != nil {
		if !errors.Is(err, want) {
			t.Fatalf("Commit of a batch with a bad write: %v, want %v", err, want)
		}
		return // nothing applied: the model stays (Check and Get verify)
	}
	if err != nil {
		t.Fatalf("Batch.Commit: %v", err)
	}
	for _, k := range order {
		v := after[k]
		if v == nil {
			delete(m.model, k)
		} else {
			m.model[k] = v
		}
		m.wrote([]byte(k), v)
	}
}

// Update runs a transaction that reads a few keys (checking them against
// the model and its own writes), writes values derived from them, and
// sometimes aborts, which must write nothing.
func (m *storeMachine) Update(t *rapid.T) {
	type step struct {
		key   []byte
		op    int // 0 get, 1 put, 2 delete, 3 has
		value []byte
	}
	steps := make([]step, rapid.IntRange(1, 8).Draw(t, "steps"))
	for i := range steps {
		steps[i] = step{key: m.key(t), op: rapid.IntRange(0, 3).Draw(t, "op")}
		if steps[i].op == 1 {
			steps[i].value = m.value(t)
		}
	}
	abort := rapid.IntRange(0, 4).Draw(t, "abort") == 0
	var view map[string][]byte // the model as the transaction sees it
	var order []string
	err := m.s.Update(func(tx *rskv.Txn) error {
		view = map[string][]byte{}
		for k, v := range m.model {
			view[k] = v
		}
		order = order[:0]
		for _, s := range steps {
			want, ok := view[string(s.key)]
			switch s.op {
			case 0:
				got, err := tx.Get(s.key)
				if ok != (err == nil) || (ok && !bytes.Equal(got, want)) {
					t.Fatalf("Txn.Get(%q) = %d bytes, %v; want present=%v, %d bytes", s.key, len(got), err, ok, len(want))
				}
			case 3:
				got, err := tx.Has(s.key)
				if err != nil || got != ok {
					t.Fatalf("Txn.Has(%q) = %v, %v; want %v", s.key, got, err, ok)
				}
			case 1:
				if err := tx.Put(s.key, s.value); err != nil {
					return err
				}
				view[string(s.key)] = s.value
				order = append(order, string(s.key))
			case 2:
				if err := tx.Delete(s.key); err != nil {
					return err
				}
				delete(view, string(s.key))
				order = append(order, string(s.key))
			}
		}
		if abort {
			return errPropertyAbort
		}
		return nil
	})
	if abort {
		if !errors.Is(err, errPropertyAbort) {
			t.Fatalf("Update with an aborting fn: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	for _, k := range order {
		v, ok := view[k]
		if ok {
			m.model[k] = v
		} else {
			delete(m.model, k)
			v = nil
		}
		m.wrote([]byte(k), v)
	}
}

// View reads a few keys in a read-only transaction; a write inside is
// refused.
func (m *storeMachine) View(t *rapid.T) {
	keys := make([][]byte, rapid.IntRange(1, 6).Draw(t, "keys"))
	for i := range keys {
		keys[i] = m.key(t)
	}
	err := m.s.View(func(tx *rskv.Txn) error {
		for _, k := range keys {
			got, err := tx.Get(k)
			want, ok := m.model[string(k)]
			if ok != (err == nil) || (ok && !bytes.Equal(got, want)) {
				t.Fatalf("View Get(%q) = %d bytes, %v; want present=%v, %d bytes", k, len(got), err, ok, len(want))
			}
		}
		if err := tx.PutTTL(keys[0], []byte("x"), time.Second); !errors.Is(err, rskv.ErrReadOnly) {
			t.Fatalf("PutTTL inside View: %v, want ErrReadOnly", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
}
