package test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"pgregory.net/rapid"
)

// propertyOptions makes every boundary close: 8 pages of 4 KiB in memory, 4
// of them mutable, 16 KiB segments. A few steps with large values cross
// pages, the read-only and head addresses, and segments.
func propertyOptions() *rskv.Options {
	return &rskv.Options{
		MemorySize:        32 << 10,
		PageSize:          4 << 10,
		SegmentSize:       16 << 10,
		MutableFraction:   0.5,
		DisableBackground: true,
	}
}

// propertyKeys mixes prefixes and lengths, so keys share hash buckets rarely
// but prefixes often.
var propertyKeys = func() [][]byte {
	var ks [][]byte
	for i := range 24 {
		prefix := []string{"a/", "b/", "ab/", ""}[i%4]
		ks = append(ks, fmt.Appendf(nil, "%s%d", prefix, i))
	}
	ks = append(ks, bytes.Repeat([]byte("long-key-"), 7)) // 63 bytes
	return ks
}()

// rmwFn is the RMW function of the property test: it appends a byte, or
// starts over when the value gets long.
func rmwFn(old []byte, found bool) []byte {
	if !found || len(old) > 2000 {
		return []byte{1}
	}
	out := append([]byte(nil), old...)
	return append(out, byte(len(old)))
}

// storeMachine runs random operations against a store and a map.
type storeMachine struct {
	dir   string
	s     *rskv.Store
	model map[string][]byte
	// synced is the model as of the last point everything was durable
	// (Sync, Close); since lists each key's values written after it, with
	// deletions as nil.
	synced map[string][]byte
	since  map[string][][]byte
}

func (m *storeMachine) wrote(k []byte, v []byte) {
	m.since[string(k)] = append(m.since[string(k)], v)
}

// durable records that everything written so far is durable.
func (m *storeMachine) durable() {
	m.synced = map[string][]byte{}
	for k, v := range m.model {
		m.synced[k] = v
	}
	m.since = map[string][][]byte{}
}

func (m *storeMachine) open(t *rapid.T) {
	s, err := rskv.Open(m.dir, propertyOptions())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	m.s = s
}

func (m *storeMachine) close(t *rapid.T) {
	if err := m.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func (m *storeMachine) key(t *rapid.T) []byte {
	return rapid.SampledFrom(propertyKeys).Draw(t, "key")
}

func (m *storeMachine) value(t *rapid.T) []byte {
	n := rapid.OneOf(rapid.IntRange(0, 40), rapid.IntRange(41, 600), rapid.IntRange(3000, 4000)).Draw(t, "len")
	b := rapid.Byte().Draw(t, "fill")
	return bytes.Repeat([]byte{b}, n)
}

func (m *storeMachine) Put(t *rapid.T) {
	k, v := m.key(t), m.value(t)
	if err := m.s.Put(k, v); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", k, len(v), err)
	}
	m.model[string(k)] = v
	m.wrote(k, v)
}

func (m *storeMachine) Get(t *rapid.T) {
	k := m.key(t)
	got, err := m.s.Get(k)
	want, ok := m.model[string(k)]
	if !ok {
		if !errors.Is(err, rskv.ErrNotFound) {
			t.Fatalf("Get(%q) of an absent key: %q, %v", k, got, err)
		}
		return
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes, %v; want %d bytes", k, len(got), err, len(want))
	}
}

func (m *storeMachine) Delete(t *rapid.T) {
	k := m.key(t)
	if err := m.s.Delete(k); err != nil {
		t.Fatalf("Delete(%q): %v", k, err)
	}
	delete(m.model, string(k))
	m.wrote(k, nil)
}

func (m *storeMachine) RMW(t *rapid.T) {
	k := m.key(t)
	got, err := m.s.RMW(k, rmwFn)
	old, ok := m.model[string(k)]
	want := rmwFn(old, ok)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("RMW(%q) = %v, %v; want %v", k, got, err, want)
	}
	m.model[string(k)] = want
	m.wrote(k, want)
}

func (m *storeMachine) Has(t *rapid.T) {
	k := m.key(t)
	got, err := m.s.Has(k)
	_, want := m.model[string(k)]
	if err != nil || got != want {
		t.Fatalf("Has(%q) = %v, %v; want %v", k, got, err, want)
	}
}

func (m *storeMachine) Scan(t *rapid.T) {
	prefix := rapid.SampledFrom([]string{"", "a/", "ab/", "b/", "1", "zz"}).Draw(t, "prefix")
	seen := map[string]bool{}
	err := m.s.Scan([]byte(prefix), func(k, v []byte) bool {
		if seen[string(k)] {
			t.Fatalf("Scan(%q) visited %q twice", prefix, k)
		}
		seen[string(k)] = true
		want, ok := m.model[string(k)]
		if !ok || !bytes.Equal(v, want) || !strings.HasPrefix(string(k), prefix) {
			t.Fatalf("Scan(%q) gave %q = %d bytes; model has %v, %d bytes", prefix, k, len(v), ok, len(want))
		}
		return true
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	for k := range m.model {
		if strings.HasPrefix(k, prefix) && !seen[k] {
			t.Fatalf("Scan(%q) missed %q", prefix, k)
		}
	}
}

// Fill writes unrelated keys to push the others towards disk.
func (m *storeMachine) Fill(t *rapid.T) {
	n := rapid.IntRange(1, 12).Draw(t, "fill")
	for i := range n {
		k := fmt.Appendf(nil, "fill/%d", i)
		v := bytes.Repeat([]byte{byte(i)}, 1000)
		if err := m.s.Put(k, v); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
		m.model[string(k)] = v
		m.wrote(k, v)
	}
}

func (m *storeMachine) Reopen(t *rapid.T) {
	m.close(t)
	m.durable()
	m.open(t)
	if got := m.s.Stats().Recovery.TornAt; got != 0 {
		t.Fatalf("a closed store reopened with a torn tail at %#x", got)
	}
}

// SyncAndCrash syncs, then continues from a copy of the files taken while
// the store is open, as a crash would leave them: nothing acknowledged
// before the Sync may be missing.
func (m *storeMachine) SyncAndCrash(t *rapid.T) {
	if err := m.s.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	m.durable()
	m.crash(t)
}

// crash continues from a copy of the files taken while the store is open.
func (m *storeMachine) crash(t *rapid.T) {
	cp := m.dir + "-crash"
	if err := copyDir(m.dir, cp); err != nil {
		t.Fatal(err)
	}
	m.close(t)
	if err := os.RemoveAll(m.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(cp, m.dir); err != nil {
		t.Fatal(err)
	}
	m.open(t)
}

// Crash continues from a copy of the files taken without a Sync: what was
// flushed to make room is there, the rest is lost. Every key must hold its
// value at the last durable point or one written since (or be absent, if
// it was absent then or deleted since), and the result is the new model.
func (m *storeMachine) Crash(t *rapid.T) {
	m.crash(t)
	got := map[string][]byte{}
	if err := m.s.Scan(nil, func(k, v []byte) bool { got[string(k)] = v; return true }); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	keys := map[string]bool{}
	for _, mm := range []map[string][]byte{got, m.synced} {
		for k := range mm {
			keys[k] = true
		}
	}
	for k := range m.since {
		keys[k] = true
	}
	for k := range keys {
		v, present := got[k]
		allowed := false
		if sv, ok := m.synced[k]; ok == present && (!ok || bytes.Equal(sv, v)) {
			allowed = true
		}
		for _, w := range m.since[k] {
			if (w == nil) == !present && (w == nil || bytes.Equal(w, v)) {
				allowed = true
			}
		}
		if !allowed {
			t.Fatalf("after a crash %q is present=%v with %d bytes: not a value it had since the last sync", k, present, len(v))
		}
		if gv, err := m.s.Get([]byte(k)); present != (err == nil) || (present && !bytes.Equal(gv, v)) {
			t.Fatalf("after a crash Get(%q) disagrees with Scan: %v", k, err)
		}
	}
	if m.s.Len() != len(got) {
		t.Fatalf("after a crash Len() = %d, Scan found %d keys", m.s.Len(), len(got))
	}
	m.model = got
	m.durable()
}

func (m *storeMachine) Check(t *rapid.T) {
	if got := m.s.Len(); got != len(m.model) {
		t.Fatalf("Len() = %d, model has %d keys", got, len(m.model))
	}
}

// TestStoreMatchesMap drives the store and a Go map through the same random
// sequences of operations, reopens and crash copies included, and requires
// the same answers at every step.
func TestStoreMatchesMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		root, err := os.MkdirTemp("", "rskv-property-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(root)
		m := &storeMachine{dir: filepath.Join(root, "store"), model: map[string][]byte{}}
		m.durable()
		m.open(t)
		defer func() { _ = m.s.Close() }()
		t.Repeat(rapid.StateMachineActions(m))
		// A final full comparison, after a reopen.
		m.Reopen(t)
		m.Check(t)
		m.Scan(t)
	})
}
