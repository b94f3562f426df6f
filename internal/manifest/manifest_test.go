package manifest

import (
	"encoding/binary"
	"encoding/hex"
	"io/fs"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	mfs := vfs.NewMem()
	require.NoError(t, mfs.MkdirAll("db", 0o755))
	m := Manifest{Version: CurrentVersion, StoreID: 42, PageBits: 16, SegmentBits: 20, IndexBuckets: 1 << 12,
		HashFunction: HashXXH64, Begin: 1 << 20, KeyBase: -3}
	require.NoError(t, Write(mfs, "db", m))
	got, err := Read(mfs, "db")
	require.NoError(t, err)
	require.Equal(t, m, got)

	// Rewriting replaces it whole.
	m.Begin, m.KeyBase = 2<<20, 7
	require.NoError(t, Write(mfs, "db", m))
	got, err = Read(mfs, "db")
	require.NoError(t, err)
	require.Equal(t, m, got)
}

func TestMissing(t *testing.T) {
	mfs := vfs.NewMem()
	require.NoError(t, mfs.MkdirAll("db", 0o755))
	_, err := Read(mfs, "db")
	require.True(t, errors.Is(err, fs.ErrNotExist), "%v", err)
}

// TestDamageIsDetected flips every bit of the file in turn: each flip must
// be reported as ErrBadManifest, never read as another manifest.
func TestDamageIsDetected(t *testing.T) {
	m := Manifest{StoreID: 9, PageBits: 12, SegmentBits: 14, IndexBuckets: 1024, HashFunction: HashXXH64, Begin: 64}
	good := m.encode()
	for i := 0; i < len(good)*8; i++ {
		b := append([]byte(nil), good...)
		b[i/8] ^= 1 << (i % 8)
		_, err := decode(b)
		require.True(t, errors.Is(err, ErrBadManifest), "bit %d: %v", i, err)
	}
	_, err := decode(good[:20])
	require.True(t, errors.Is(err, ErrBadManifest))
	_, err = decode([]byte("not a manifest at all, certainly not"))
	require.True(t, errors.Is(err, ErrBadManifest))
}

// TestCrashDuringWriteKeepsOldOrNew fails each file operation of Write in
// turn and then cuts the power: what survives is the old manifest or the new
// one, never a mix or none.
func TestCrashDuringWriteKeepsOldOrNew(t *testing.T) {
	old := Manifest{Version: CurrentVersion, StoreID: 1, PageBits: 12, SegmentBits: 14, IndexBuckets: 1024, HashFunction: HashXXH64, Begin: 64}
	updated := old
	updated.Begin = 1 << 14
	for k := 0; ; k++ {
		require.Less(t, k, 100)
		mfs := vfs.NewMem()
		require.NoError(t, mfs.MkdirAll("db", 0o755))
		require.NoError(t, mfs.SyncDir("."))
		require.NoError(t, Write(mfs, "db", old))
		inj := errorfs.OnIndex(int64(k))
		err := Write(errorfs.Wrap(mfs, inj), "db", updated)
		got, rerr := Read(mfs.CrashClone(), "db")
		require.NoError(t, rerr, "operation %d failed", k)
		require.Contains(t, []Manifest{old, updated}, got, "operation %d failed", k)
		if err == nil {
			require.Equal(t, updated, got, "a successful Write is durable")
			require.False(t, inj.Fired(), "Write succeeded although operation %d failed", k)
			break
		}
		require.True(t, errors.Is(err, errorfs.ErrInjected), "%v", err)
	}
}

// TestGoldenBytes pins the on-disk format: these bytes were written by the
// encoder before the framed header moved to package fileformat, so stores
// created by older code still open, and a change to the layout fails here.
func TestGoldenBytes(t *testing.T) {
	const golden = "52534b5653544f520100000044000000efcdab89674523011000000014000000001000000000000001000000000000000000100000000000fdffffffffffffff4c5e0fa0"
	m := Manifest{StoreID: 0x0123456789abcdef, PageBits: 16, SegmentBits: 20, IndexBuckets: 1 << 12,
		HashFunction: HashXXH64, Begin: 1 << 20, KeyBase: -3}
	// Version 1, as written before batches, transactions and expiry, is
	// still read.
	b, err := hex.DecodeString(golden)
	require.NoError(t, err)
	got, err := decode(b)
	require.NoError(t, err)
	m.Version = 1
	require.Equal(t, m, got)
	// The encoder writes version 2: the same bytes but the version and the
	// checksum.
	enc := m.encode()
	require.Equal(t, golden[:16], hex.EncodeToString(enc[:8]))
	require.Equal(t, uint32(2), binary.LittleEndian.Uint32(enc[8:]))
	require.Equal(t, golden[24:len(golden)-8], hex.EncodeToString(enc[12:len(enc)-4]))
	got, err = decode(enc)
	require.NoError(t, err)
	m.Version = 2
	require.Equal(t, m, got)
}
