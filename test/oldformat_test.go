package test

import (
	"encoding/binary"
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

	require.Equal(t, uint32(1), storeVersion(t, dir), "a read-only open upgrades nothing")

	rw, err := rskv.Open(dir, opts(false))
	require.NoError(t, err)
	// The first read-write open upgrades the STORE file to version 2 (the
	// log may now get expiry and batch records), so version-1 code refuses
	// the store from then on.
	require.Equal(t, uint32(2), storeVersion(t, dir))
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

// storeVersion reads the format version of dir's STORE file (bytes 8 to 12
// of its framed header).
func storeVersion(t *testing.T, dir string) uint32 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "STORE"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(b), 12)
	return binary.LittleEndian.Uint32(b[8:12])
}
