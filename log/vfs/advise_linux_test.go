package vfs_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/log/vfs"
)

// TestAdviseDontNeedKeepsData: dropping a range just written (still dirty)
// from the page cache writes it back first; every byte reads back.
func TestAdviseDontNeedKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := vfs.Default.Create(path)
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	data := bytes.Repeat([]byte("checkpoint"), 400_000)
	_, err = f.WriteAt(data, 0)
	require.NoError(t, err)
	a, ok := f.(vfs.Advisor)
	require.True(t, ok, "os files take advice on Linux")
	require.NoError(t, a.Advise(0, int64(len(data)/2), vfs.AdviseDontNeed))
	require.NoError(t, a.Advise(0, 0, vfs.AdviseDontNeed))
	got := make([]byte, len(data))
	_, err = f.ReadAt(got, 0)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got))
}
