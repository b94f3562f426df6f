package test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// testdata/store-v1 was written by the code before file names and framed
// headers moved to package fileformat (commit 8ee7a3d): keys key-000 to
// key-299 with "value-<i>-v1", key-100 to key-149 then overwritten with
// "value-<i>-v2", key-000 to key-009 deleted, a checkpoint taken after the
// first 200 puts. Its STORE file, segment headers and checkpoint header are
// in the version 1 layout; every later version must open it.
func TestOpensStoreWrittenByVersion1(t *testing.T) {
	want := map[string][]byte{}
	for i := 10; i < 300; i++ {
		v := fmt.Sprintf("value-%d-v1", i)
		if i >= 100 && i < 150 {
			v = fmt.Sprintf("value-%d-v2", i)
		}
		want[fmt.Sprintf("key-%03d", i)] = []byte(v)
	}
	opts := func(ro bool) *rskv.Options {
		return &rskv.Options{MemorySize: 16 << 10, DisableBackground: true, CheckpointInterval: -1, ReadOnly: ro}
	}
	dir := filepath.Join(t.TempDir(), "store")
	require.NoError(t, os.CopyFS(dir, os.DirFS("testdata/store-v1")))
	before := treeState(t, dir)

	ro, err := rskv.Open(dir, opts(true))
	require.NoError(t, err)
	rec := ro.Stats().Recovery
	require.Equal(t, uint64(1), rec.CheckpointID, "the old checkpoint loads: %v", rec.SkippedCheckpoints)
	require.Empty(t, rec.SkippedCheckpoints)
	require.Zero(t, rec.TornAt)
	requireContents(t, ro, want)
	require.NoError(t, ro.Close())
	require.Equal(t, before, treeState(t, dir))

	rw, err := rskv.Open(dir, opts(false))
	require.NoError(t, err)
	requireContents(t, rw, want)
	require.NoError(t, rw.Put([]byte("new"), []byte("after the upgrade")))
	want["new"] = []byte("after the upgrade")
	_, err = rw.Checkpoint()
	require.NoError(t, err)
	require.NoError(t, rw.Close())

	rw, err = rskv.Open(dir, opts(false))
	require.NoError(t, err)
	requireContents(t, rw, want)
	require.NoError(t, rw.Close())
}
