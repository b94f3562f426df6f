package server

import (
	"encoding/binary"
	"io"
	"log/slog"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// The tests below build by hand the store states a crash can leave in the
// middle of a multi-key change, then check what New makes of them.

func openStore(t *testing.T, dir string) *rskv.Store {
	st, err := rskv.Open(dir, &rskv.Options{MemorySize: 16 << 20, DisableBackground: true})
	require.NoError(t, err)
	return st
}

func newServer(t *testing.T, st *rskv.Store) *Server {
	srv, err := New(st, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	return srv
}

func hashContents(t *testing.T, d *db, key string) map[string]string {
	var sc scratch
	h, found, err := d.hash(&sc, []byte(key))
	require.NoError(t, err)
	if !found {
		return nil
	}
	out := map[string]string{}
	_, err = d.hiter(&sc, &h, h.count, func(f, v []byte) bool {
		out[string(f)] = string(v)
		return true
	})
	require.NoError(t, err)
	require.Len(t, out, int(h.count))
	return out
}

func pendingAdd(names ...string) []byte {
	var pay []byte
	pay = binary.AppendUvarint(pay, uint64(len(names)))
	for _, n := range names {
		pay = binary.AppendUvarint(pay, uint64(len(n)))
		pay = append(pay, n...)
	}
	return pay
}

func TestRecoverRollsBackInterruptedHSet(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	d := newDB(st)
	var sc scratch
	_, err := d.hset(&sc, []byte("h"), [][]byte{[]byte("a"), []byte("1"), []byte("b"), []byte("2")}, false)
	require.NoError(t, err)
	h, _, err := d.hash(&sc, []byte("h"))
	require.NoError(t, err)
	// HSET h c 3 d 4 interrupted after the pending header and c's writes.
	pend := h
	pend.pending, pend.payload = pendAdd, pendingAdd("c", "d")
	require.NoError(t, d.putHeader(&sc, []byte("h"), &pend))
	require.NoError(t, d.writeField(&sc, &h, 2, []byte("c"), []byte("3")))
	require.NoError(t, st.Put(slotKey(nil, h.id, 2), []byte("c")))
	// A new hash whose very first HSET was interrupted.
	fresh := hashHdr{id: 77, pending: pendAdd, payload: pendingAdd("x")}
	require.NoError(t, d.putHeader(&sc, []byte("fresh"), &fresh))
	require.NoError(t, d.writeField(&sc, &fresh, 0, []byte("x"), []byte("y")))
	require.NoError(t, st.Close())

	st = openStore(t, dir)
	defer st.Close()
	srv := newServer(t, st)
	require.Equal(t, 2, srv.Recovery().PendingHashes)
	require.Equal(t, map[string]string{"a": "1", "b": "2"}, hashContents(t, srv.db, "h"))
	require.Nil(t, hashContents(t, srv.db, "fresh"))
	require.Equal(t, int64(1), srv.db.size())
	_, err = st.Get(fieldKey(nil, h.id, []byte("c")))
	require.ErrorIs(t, err, rskv.ErrNotFound)
	_, err = st.Get(slotKey(nil, h.id, 2))
	require.ErrorIs(t, err, rskv.ErrNotFound)
	// The hash works on.
	n, err := srv.db.hset(&sc, []byte("h"), [][]byte{[]byte("d"), []byte("4")}, false)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, map[string]string{"a": "1", "b": "2", "d": "4"}, hashContents(t, srv.db, "h"))
}

func TestRecoverRollsForwardInterruptedHDel(t *testing.T) {
	// Interrupt HDEL h a after each of its store writes in turn.
	for steps := 0; steps <= 3; steps++ {
		dir := t.TempDir()
		st := openStore(t, dir)
		d := newDB(st)
		var sc scratch
		_, err := d.hset(&sc, []byte("h"), [][]byte{[]byte("a"), []byte("1"), []byte("b"), []byte("2"), []byte("c"), []byte("3")}, false)
		require.NoError(t, err)
		h, _, err := d.hash(&sc, []byte("h"))
		require.NoError(t, err)
		var pay []byte
		pay = binary.AppendUvarint(pay, 0) // a is in slot 0
		pay = binary.AppendUvarint(pay, 1)
		pay = append(pay, 'a')
		pay = append(pay, 'c') // the last slot's field
		pend := h
		pend.pending, pend.payload = pendDel, pay
		require.NoError(t, d.putHeader(&sc, []byte("h"), &pend))
		writes := []func() error{
			func() error { return st.Put(slotKey(nil, h.id, 0), []byte("c")) },
			func() error { return d.writeField(&sc, &h, 0, []byte("c"), []byte("3")) },
			func() error { return st.Delete(fieldKey(nil, h.id, []byte("a"))) },
		}
		for _, w := range writes[:steps] {
			require.NoError(t, w())
		}
		require.NoError(t, st.Close())

		st = openStore(t, dir)
		srv := newServer(t, st)
		require.Equal(t, 1, srv.Recovery().PendingHashes, "after %d steps", steps)
		require.Equal(t, map[string]string{"b": "2", "c": "3"}, hashContents(t, srv.db, "h"), "after %d steps", steps)
		require.NoError(t, st.Close())
	}
}

func TestRecoverRename(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	d := newDB(st)
	var sc scratch
	require.NoError(t, d.putString(&sc, []byte("done-src"), []byte("v1")))
	require.NoError(t, d.putString(&sc, []byte("undone-src"), []byte("v2")))
	// RENAME done-src done-dst: destination written, source not yet removed.
	require.NoError(t, st.Put(append([]byte{nsRename}, "done-src"...), []byte("done-dst")))
	require.NoError(t, st.Put(metaKey(nil, []byte("done-dst")), []byte("sv1")))
	// RENAME undone-src undone-dst: only the intent was written.
	require.NoError(t, st.Put(append([]byte{nsRename}, "undone-src"...), []byte("undone-dst")))
	require.NoError(t, st.Close())

	st = openStore(t, dir)
	defer st.Close()
	srv := newServer(t, st)
	require.Equal(t, 2, srv.Recovery().Renames)
	get := func(k string) (string, bool) {
		v, ok, err := srv.db.getString(&sc, []byte(k))
		require.NoError(t, err)
		return string(v), ok
	}
	v, ok := get("done-dst")
	require.True(t, ok)
	require.Equal(t, "v1", v)
	_, ok = get("done-src")
	require.False(t, ok)
	v, ok = get("undone-src")
	require.True(t, ok)
	require.Equal(t, "v2", v)
	_, ok = get("undone-dst")
	require.False(t, ok)
	require.Equal(t, int64(2), srv.db.size())
	has, err := st.Has(append([]byte{nsRename}, "done-src"...))
	require.NoError(t, err)
	require.False(t, has)
}

func TestRecoverRemovesOrphanedFields(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	d := newDB(st)
	var sc scratch
	_, err := d.hset(&sc, []byte("keep"), [][]byte{[]byte("a"), []byte("1")}, false)
	require.NoError(t, err)
	_, err = d.hset(&sc, []byte("drop"), [][]byte{[]byte("a"), []byte("1"), []byte("b"), []byte("2")}, false)
	require.NoError(t, err)
	// DEL drop interrupted after the header's removal.
	require.NoError(t, st.Delete(metaKey(nil, []byte("drop"))))
	require.NoError(t, st.Close())

	st = openStore(t, dir)
	defer st.Close()
	srv := newServer(t, st)
	require.Equal(t, 4, srv.Recovery().Orphans) // 2 fields, 2 slots
	require.Equal(t, map[string]string{"a": "1"}, hashContents(t, srv.db, "keep"))
	require.Equal(t, 3, st.Len()) // keep's header, field and slot
}

func TestRecoverRejectsUnknownEncoding(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	require.NoError(t, st.Put(metaKey(nil, []byte("h")), []byte{tagHash, 9, 0, 0}))
	require.NoError(t, st.Close())
	st = openStore(t, dir)
	defer st.Close()
	_, err := New(st, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.True(t, errors.Is(err, errBadFormat), "%v", err)
}
