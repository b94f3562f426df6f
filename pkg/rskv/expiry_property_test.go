package rskv_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/rskv-go/rskv/actors/actorstest"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"pgregory.net/rapid"
)

// The model test of expiry and backups: random Put, PutTTL, Expire, RMW,
// Delete, clock steps, expirer sweeps, compactions, reopens and backup /
// restore round trips against a map of values with absolute expiries, on
// an injected clock. The store's geometry keeps every boundary close
// (pages, segments, the read-only and head addresses).

type ttlEntry struct {
	value []byte
	at    int64 // 0: none
}

type ttlMachine struct {
	fs      *vfs.MemFS
	clk     *actorstest.Clock
	s       *rskv.Store
	model   map[string]ttlEntry
	restore int
	dir     string // the store in use: "db", then the latest restored copy
}

func ttlOptions(fs vfs.FS, clk *actorstest.Clock) *rskv.Options {
	return rskv.SetClock(&rskv.Options{FS: fs, MemorySize: 32 << 10, PageSize: 4 << 10, SegmentSize: 16 << 10,
		MutableFraction: 0.5, DisableBackground: true}, clk)
}

var ttlKeys = func() [][]byte {
	var ks [][]byte
	for i := range 16 {
		ks = append(ks, fmt.Appendf(nil, "%s%d", []string{"a/", "b/", ""}[i%3], i))
	}
	return ks
}()

func (m *ttlMachine) key(t *rapid.T) []byte { return rapid.SampledFrom(ttlKeys).Draw(t, "key") }

func (m *ttlMachine) value(t *rapid.T) []byte {
	n := rapid.OneOf(rapid.IntRange(0, 40), rapid.IntRange(300, 1200)).Draw(t, "len")
	return bytes.Repeat([]byte{rapid.Byte().Draw(t, "fill")}, n)
}

func (m *ttlMachine) now() int64 { return m.clk.Now().UnixNano() }

// live returns the model's entry for k if it is visible now.
func (m *ttlMachine) live(k []byte) (ttlEntry, bool) {
	e, ok := m.model[string(k)]
	if !ok || (e.at != 0 && e.at <= m.now()) {
		return ttlEntry{}, false
	}
	return e, true
}

func (m *ttlMachine) Put(t *rapid.T) {
	k, v := m.key(t), m.value(t)
	if err := m.s.Put(k, v); err != nil {
		t.Fatal(err)
	}
	m.model[string(k)] = ttlEntry{value: v}
}

func (m *ttlMachine) PutTTL(t *rapid.T) {
	k, v := m.key(t), m.value(t)
	ttl := time.Duration(rapid.IntRange(1, 100).Draw(t, "ttl")) * time.Second
	if err := m.s.PutTTL(k, v, ttl); err != nil {
		t.Fatal(err)
	}
	m.model[string(k)] = ttlEntry{value: v, at: m.now() + int64(ttl)}
}

func (m *ttlMachine) Expire(t *rapid.T) {
	k := m.key(t)
	var at time.Time
	switch rapid.IntRange(0, 2).Draw(t, "when") {
	case 1:
		at = m.clk.Now().Add(time.Duration(rapid.IntRange(1, 100).Draw(t, "in")) * time.Second)
	case 2:
		at = m.clk.Now().Add(-time.Second)
	}
	err := m.s.Expire(k, at)
	e, ok := m.live(k)
	if !ok {
		if err == nil {
			t.Fatalf("Expire(%q) of an absent key: nil error", k)
		}
		return
	}
	if err != nil {
		t.Fatalf("Expire(%q): %v", k, err)
	}
	switch {
	case at.IsZero():
		e.at = 0
	case !at.After(m.clk.Now()):
		delete(m.model, string(k))
		return
	default:
		e.at = at.UnixNano()
	}
	m.model[string(k)] = e
}

func (m *ttlMachine) RMW(t *rapid.T) {
	k := m.key(t)
	got, err := m.s.RMW(k, func(old []byte, found bool) []byte {
		if !found || len(old) > 1000 {
			return []byte{1}
		}
		return append(append([]byte(nil), old...), byte(len(old)))
	})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.live(k)
	if !ok {
		e = ttlEntry{}
		e.value = []byte{1}
	} else if len(e.value) > 1000 {
		e.value = []byte{1}
	} else {
		e.value = append(append([]byte(nil), e.value...), byte(len(e.value)))
	}
	if !bytes.Equal(got, e.value) {
		t.Fatalf("RMW(%q) = %d bytes, want %d", k, len(got), len(e.value))
	}
	m.model[string(k)] = e
}

func (m *ttlMachine) Delete(t *rapid.T) {
	k := m.key(t)
	if err := m.s.Delete(k); err != nil {
		t.Fatal(err)
	}
	delete(m.model, string(k))
}

func (m *ttlMachine) Advance(t *rapid.T) {
	m.clk.Advance(time.Duration(rapid.IntRange(1, 60).Draw(t, "secs")) * time.Second)
}

func (m *ttlMachine) Sweep(t *rapid.T) {
	if _, err := m.s.SweepExpiredForTest(); err != nil {
		t.Fatal(err)
	}
}

func (m *ttlMachine) Compact(t *rapid.T) {
	if _, err := m.s.Compact(); err != nil {
		t.Fatal(err)
	}
}

func (m *ttlMachine) Reopen(t *rapid.T) {
	if err := m.s.Close(); err != nil {
		t.Fatal(err)
	}
	m.open(t, m.dir)
}

// BackupRestore backs the store up, restores the stream into a new
// directory and goes on with the restored store.
func (m *ttlMachine) BackupRestore(t *rapid.T) {
	var b bytes.Buffer
	if _, err := m.s.Backup(&b); err != nil {
		t.Fatal(err)
	}
	if err := m.s.Close(); err != nil {
		t.Fatal(err)
	}
	m.restore++
	dir := fmt.Sprint("restored", m.restore)
	if _, err := rskv.RestoreWith(dir, &b, ttlOptions(m.fs, m.clk)); err != nil {
		t.Fatal(err)
	}
	m.open(t, dir)
}

func (m *ttlMachine) open(t *rapid.T, dir string) {
	m.dir = dir
	s, err := rskv.Open(dir, ttlOptions(m.fs, m.clk))
	if err != nil {
		t.Fatal(err)
	}
	m.s = s
}

func (m *ttlMachine) Check(t *rapid.T) {
	for _, k := range ttlKeys {
		e, ok := m.live(k)
		v, err := m.s.Get(k)
		has, herr := m.s.Has(k)
		at, aerr := m.s.ExpiresAt(k)
		if herr != nil {
			t.Fatal(herr)
		}
		if !ok {
			if err == nil || has || aerr == nil {
				t.Fatalf("%q should be absent: Get err %v, Has %v, ExpiresAt err %v", k, err, has, aerr)
			}
			continue
		}
		if err != nil || !bytes.Equal(v, e.value) || !has || aerr != nil {
			t.Fatalf("%q: Get %d bytes, %v (want %d bytes); Has %v; ExpiresAt %v", k, len(v), err, len(e.value), has, aerr)
		}
		if (e.at == 0) != at.IsZero() || (e.at != 0 && at.UnixNano() != e.at) {
			t.Fatalf("%q: ExpiresAt %v, want %d", k, at, e.at)
		}
	}
	n := 0
	if err := m.s.Scan(nil, func(k, v []byte) bool {
		n++
		if e, ok := m.live(k); !ok || !bytes.Equal(v, e.value) {
			t.Fatalf("Scan visits %q (%d bytes), not live in the model", k, len(v))
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, k := range ttlKeys {
		if _, ok := m.live(k); ok {
			want++
		}
	}
	if n != want {
		t.Fatalf("Scan visits %d keys, want %d", n, want)
	}
	// Len counts expired keys until they are reclaimed: it lies between
	// the live keys and the keys written and not deleted.
	if l := m.s.Len(); l < want || l > len(m.model) {
		t.Fatalf("Len %d, want between %d and %d", l, want, len(m.model))
	}
}

func TestExpiryAndBackupMatchModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &ttlMachine{fs: vfs.NewMem(), clk: actorstest.NewClock(t0), model: map[string]ttlEntry{}}
		m.open(t, "db")
		defer func() {
			if err := m.s.Close(); err != nil {
				t.Fatal(err)
			}
		}()
		t.Repeat(rapid.StateMachineActions(m))
	})
}
