package rskv_test

import (
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// TestForgedCheckpointIsSkippedWithoutLargeAllocation: a checkpoint whose
// (checksummed) header claims an index of 64 Mi buckets (4 GiB) over an
// 8-byte body is skipped at Open and reported, and Open allocates nothing
// near what the header asks for.
func TestForgedCheckpointIsSkippedWithoutLargeAllocation(t *testing.T) {
	fs := vfs.NewMem()
	o := &rskv.Options{FS: fs, MemorySize: 1 << 20, IndexBuckets: 1 << 10, DisableBackground: true}
	s, err := rskv.Open("db", o)
	require.NoError(t, err)
	require.NoError(t, s.Put([]byte("k"), []byte("v")))
	cp, err := s.Checkpoint()
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// Rewrite the newest checkpoint: same store, forged shape.
	names, err := fs.List("db")
	require.NoError(t, err)
	var name string
	for _, n := range names {
		if strings.HasPrefix(n, "checkpoint-") && strings.HasSuffix(n, ".ckpt") {
			name = n // the last in order is the newest
		}
	}
	require.NotEmpty(t, name, "checkpoint %d on disk", cp.ID)
	path := filepath.Join("db", name)
	f, err := fs.Open(path)
	require.NoError(t, err)
	hdr := make([]byte, 128)
	_, err = f.ReadAt(hdr, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	binary.LittleEndian.PutUint64(hdr[80:], 1<<26) // buckets
	binary.LittleEndian.PutUint64(hdr[88:], 0)     // overflow
	binary.LittleEndian.PutUint64(hdr[96:], 8)     // index bytes
	binary.LittleEndian.PutUint32(hdr[124:], crc32.Checksum(hdr[:124], crc32.MakeTable(crc32.Castagnoli)))
	body := append(hdr, make([]byte, 8+4)...)
	body = append(body, "RSKVEND\x00"...)
	w, err := fs.Create(path)
	require.NoError(t, err)
	_, err = w.WriteAt(body, 0)
	require.NoError(t, err)
	require.NoError(t, w.Close())

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err = rskv.Open("db", o)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(256<<20), "bytes Open allocated")
	rec := s.Stats().Recovery
	require.Len(t, rec.SkippedCheckpoints, 1, "%v", rec.SkippedCheckpoints)
	require.Contains(t, rec.SkippedCheckpoints[0], name)
	v, err := s.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}
