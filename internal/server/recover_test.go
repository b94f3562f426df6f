package server

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// The tests below build by hand the store states a crash (or a downtime)
// can leave, then check what New makes of them.

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

// TestRecoverExpiredHashAndIndex: a hash that expired while the server was
// down loses its fields at startup; a key whose expiry is still ahead is in
// the expiry index, and is uncounted once due.
func TestRecoverExpiredHashAndIndex(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	d := newDB(st)
	var sc scratch
	_, err := d.hset(&sc, []byte("h"), [][]byte{[]byte("a"), []byte("1"), []byte("b"), []byte("2")}, false)
	require.NoError(t, err)
	require.NoError(t, st.Expire(metaKey(nil, []byte("h")), time.Now().Add(30*time.Millisecond)))
	require.NoError(t, d.putStringAt(&sc, []byte("s"), []byte("v"), time.Now().Add(2*time.Second), false)) // ahead even on a slow machine
	require.NoError(t, d.putString(&sc, []byte("p"), []byte("v")))
	require.NoError(t, st.Close())
	time.Sleep(60 * time.Millisecond)

	st = openStore(t, dir)
	defer st.Close()
	srv := newServer(t, st)
	rep := srv.Recovery()
	require.Equal(t, 4, rep.Orphans, "two fields and two slots")
	require.Equal(t, int64(2), rep.Keys)
	require.Equal(t, 1, rep.Expiring)
	require.Eventually(t, func() bool {
		_, err := srv.db.sweep(time.Now())
		require.NoError(t, err)
		return srv.db.size() == 1
	}, 15*time.Second, 20*time.Millisecond)
	require.Equal(t, 0, srv.db.expiring())
}
