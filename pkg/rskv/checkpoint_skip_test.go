package rskv

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/stretchr/testify/require"
)

// TestCheckpointerSkipStillSyncs: with in-place updates the tail does not
// move, so the checkpointer skips the index snapshot (it would be the same
// bytes), but it must still make the updates durable, as the checkpoint it
// replaces would have: under SyncNone nothing else does. Stats must count
// the delta and checkpoint files the directory holds.
func TestCheckpointerSkipStillSyncs(t *testing.T) {
	fs := vfs.NewMem()
	o := &Options{FS: fs, MemorySize: 4 << 20, DisableBackground: true, SyncMode: SyncNone}
	s, err := Open("db", o)
	require.NoError(t, err)
	key := func(i int) []byte { return []byte(fmt.Sprintf("key-%03d", i)) }
	val := func(i, v int) []byte { return []byte(fmt.Sprintf("value-%03d-%05d", i, v)) }
	for i := 0; i < 100; i++ {
		require.NoError(t, s.Put(key(i), val(i, 0)))
	}
	_, err = s.Checkpoint()
	require.NoError(t, err)
	before := s.Stats()
	for i := 0; i < 100; i++ {
		require.NoError(t, s.Put(key(i), val(i, 1))) // same size: in place
	}
	st := s.Stats()
	require.Equal(t, before.TailAddress, st.TailAddress, "the overwrites were appended, not done in place")

	skipped, err := s.tryCheckpoint(s.life.ctx)
	require.NoError(t, err)
	require.True(t, skipped, "nothing was appended: the snapshot is skipped")
	cps, err := s.Checkpoints()
	require.NoError(t, err)
	require.Len(t, cps, 1)

	// Stats agrees with the directory.
	st = s.Stats()
	names, err := fs.List("db")
	require.NoError(t, err)
	var delta, ckpt int64
	for _, n := range names {
		fi, err := fs.Stat("db/" + n)
		require.NoError(t, err)
		switch {
		case strings.HasPrefix(n, "delta-"):
			delta += fi.Size()
		case strings.HasPrefix(n, "checkpoint-"):
			ckpt += fi.Size()
		}
	}
	require.Positive(t, delta, "the sync wrote the in-place updates to the delta log")
	require.Equal(t, delta, st.DeltaBytes)
	require.Equal(t, ckpt, st.CheckpointBytes)
	require.Equal(t, cps[0].Bytes, st.CheckpointBytes)

	// A power cut now keeps the updates: the skipped checkpoint synced them.
	crashed := fs.CrashClone()
	require.NoError(t, s.Close())
	s2, err := Open("db", &Options{FS: crashed, MemorySize: 4 << 20, DisableBackground: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, s2.Close()) }()
	for i := 0; i < 100; i++ {
		v, err := s2.Get(key(i))
		require.NoError(t, err)
		require.Equal(t, string(val(i, 1)), string(v))
	}
}
