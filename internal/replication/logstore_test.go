package replication

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/stretchr/testify/require"
)

// A new dir gets the kind asked for (boltdb by default); a dir with a log
// keeps its kind whatever is asked; a second open of a dir in use fails
// with ErrDirInUse; an unknown kind is ErrLogKind; what was stored is
// there after a reopen.
func TestOpenLogStoreKinds(t *testing.T) {
	for _, tc := range []struct{ ask, file string }{{"", "raft.db"}, {LogWAL, "wal"}, {LogBoltDB, "raft.db"}} {
		dir := t.TempDir()
		s, err := OpenLogStore(dir, tc.ask)
		require.NoError(t, err)
		_, err = os.Stat(filepath.Join(dir, tc.file))
		require.NoError(t, err, "ask %q", tc.ask)
		_, err = OpenLogStore(dir, tc.ask)
		require.ErrorIs(t, err, ErrDirInUse, "second open, ask %q", tc.ask)
		require.NoError(t, s.StoreLogs([]*raft.Log{{Index: 1, Term: 1, Data: []byte("a")}, {Index: 2, Term: 1, Data: []byte("b")}}))
		require.NoError(t, s.SetUint64([]byte("CurrentTerm"), 7))
		require.NoError(t, s.Close())

		other := LogBoltDB
		if tc.file == "raft.db" {
			other = LogWAL
		}
		s, err = OpenLogStore(dir, other)
		require.NoError(t, err)
		_, isBolt := s.(*raftboltdb.BoltStore)
		require.Equal(t, tc.file == "raft.db", isBolt, "reopened with %q: the dir's kind is kept", other)
		var l raft.Log
		require.NoError(t, s.GetLog(2, &l))
		require.Equal(t, "b", string(l.Data))
		last, err := s.LastIndex()
		require.NoError(t, err)
		require.EqualValues(t, 2, last)
		term, err := s.GetUint64([]byte("CurrentTerm"))
		require.NoError(t, err)
		require.EqualValues(t, 7, term)
		require.NoError(t, s.Close())
	}
	_, err := OpenLogStore(t.TempDir(), "rocksdb")
	require.ErrorIs(t, err, ErrLogKind)
	require.Contains(t, err.Error(), `"rocksdb"`)
}

// A raft-wal cluster commits from every node, and a node restarted from
// its dir (the WAL reopened: its lock and meta file released by Close)
// keeps what was committed and applies it once.
func TestClusterWAL(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.LogStore = LogWAL })
	for _, tn := range c.nodes {
		_, err := os.Stat(filepath.Join(tn.dir, "raft", "wal"))
		require.NoError(t, err)
	}
	for i, tn := range c.nodes {
		do(t, client(t, tn), "INCR", "ctr")
		require.Equal(t, strconv.Itoa(i+1), client(t, c.nodes[(i+1)%3]).Get(ctx, "ctr").Val())
	}
	for _, tn := range c.nodes {
		c.stop(tn)
		c.start(tn, false, "")
		c.waitApplied()
		do(t, client(t, tn), "INCR", "ctr")
	}
	d := c.requireSame()
	require.Equal(t, "string|6|-1", d["ctr"])
}
