package checkpoint

import (
	"bytes"
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/stretchr/testify/require"
)

// filledIndex returns an index of 1024 buckets holding n entries (so some
// overflow when n is large) and the entries by hash.
func filledIndex(t *testing.T, n int) (*hashidx.Index, map[uint64]uint64) {
	x, err := hashidx.New(1024)
	require.NoError(t, err)
	want := map[uint64]uint64{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		h := rng.Uint64()
		slot, e := x.FindOrCreate(h)
		addr := uint64(64 + 8*i)
		require.True(t, hashidx.CompareAndSwap(slot, e, hashidx.MakeEntry(addr, hashidx.TagOf(h))))
		want[h] = addr
	}
	return x, want
}

func write(t *testing.T, fs vfs.FS, id uint64, x *hashidx.Index) Meta {
	m := Meta{StoreID: 5, ID: id, Time: time.Unix(100, 0), Start: 4096, Begin: 64, KeySum: 12, DeadBytes: 34, Buckets: x.Buckets()}
	m, err := Write(fs, "db", m, x.WriteSnapshot, func(m *Meta) error { m.End = 8192; return nil })
	require.NoError(t, err)
	return m
}

func newFS(t *testing.T) *vfs.MemFS {
	fs := vfs.NewMem()
	require.NoError(t, fs.MkdirAll("db", 0o755))
	return fs
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 10, 5000} {
		fs := newFS(t)
		x, want := filledIndex(t, n)
		m := write(t, fs, 3, x)
		require.Equal(t, uint64(8192), m.End)
		got, y, err := Read(fs, "db", 3, Shape{})
		require.NoError(t, err, "%d entries", n)
		require.Equal(t, m.Start, got.Start)
		require.Equal(t, m.End, got.End)
		require.Equal(t, m.KeySum, got.KeySum)
		require.Equal(t, m.Overflow, got.Overflow)
		require.Equal(t, m.Bytes, got.Bytes)
		for h, addr := range want {
			_, e, ok := y.Find(h)
			require.True(t, ok)
			require.Equal(t, addr, e.Address())
		}
		require.Equal(t, x.Stats().Entries, y.Stats().Entries)
		if n == 10 {
			// Sparse: 10 entries cost about ten buckets, not 1024.
			require.Less(t, m.IndexBytes, int64(20*64+1024/8))
		}
	}
}

// TestDamageIsDetected flips bytes all over a checkpoint file: every flip
// must fail Read with ErrBad (none may load a different index).
func TestDamageIsDetected(t *testing.T) {
	fs := newFS(t)
	x, _ := filledIndex(t, 300)
	m := write(t, fs, 1, x)
	path := filepath.Join("db", FileName(1))
	f, err := fs.Open(path)
	require.NoError(t, err)
	good := make([]byte, m.Bytes)
	_, err = f.ReadAt(good, 0)
	if !errors.Is(err, io.EOF) {
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())

	put := func(b []byte) {
		f, err := fs.Create(path)
		require.NoError(t, err)
		_, err = f.WriteAt(b, 0)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 300; trial++ {
		b := bytes.Clone(good)
		i := rng.IntN(len(b))
		b[i] ^= byte(1 + rng.IntN(255))
		put(b)
		_, _, err := Read(fs, "db", 1, Shape{})
		require.True(t, errors.Is(err, ErrBad), "flipped byte %d: %v", i, err)
	}
	for _, cut := range []int{0, 10, headerSize, len(good) - 1} {
		put(good[:cut])
		_, _, err := Read(fs, "db", 1, Shape{})
		require.True(t, errors.Is(err, ErrBad), "cut at %d: %v", cut, err)
	}
	put(append(bytes.Clone(good), 0))
	_, _, err = Read(fs, "db", 1, Shape{})
	require.True(t, errors.Is(err, ErrBad), "a stray byte: %v", err)
	put(good)
	_, _, err = Read(fs, "db", 1, Shape{})
	require.NoError(t, err)
}

func TestListAndRemove(t *testing.T) {
	fs := newFS(t)
	x, _ := filledIndex(t, 10)
	for _, id := range []uint64{3, 1, 2} {
		write(t, fs, id, x)
	}
	// A leftover temporary file and a checkpoint with a broken header.
	f, err := fs.Create(filepath.Join("db", FileName(9)+tmpSuffix))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	f, err = fs.Create(filepath.Join("db", FileName(7)))
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("garbage"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	metas, stale, err := List(fs, "db")
	require.NoError(t, err)
	var ids []uint64
	for _, m := range metas {
		ids = append(ids, m.ID)
	}
	require.Equal(t, []uint64{1, 2, 3}, ids, "oldest first, damaged headers skipped")
	require.Equal(t, []string{FileName(9) + tmpSuffix}, stale)
	all, err := IDs(fs, "db")
	require.NoError(t, err)
	require.ElementsMatch(t, []uint64{1, 2, 3, 7}, all)

	require.NoError(t, Remove(fs, "db", FileName(2)))
	metas, _, err = List(fs, "db")
	require.NoError(t, err)
	require.Len(t, metas, 2)
}

// TestFailedPrepareLeavesNothing: when making the log durable fails, the
// checkpoint file never appears, not even as a temporary file.
func TestFailedPrepareLeavesNothing(t *testing.T) {
	fs := newFS(t)
	x, _ := filledIndex(t, 10)
	boom := errors.New("sync failed")
	_, err := Write(fs, "db", Meta{ID: 1, Buckets: x.Buckets()}, x.WriteSnapshot, func(*Meta) error { return boom })
	require.True(t, errors.Is(err, boom))
	names, err := fs.List("db")
	require.NoError(t, err)
	require.Empty(t, names)
}

// forge writes checkpoint id with header m (checksummed, so it passes the
// header check) followed by body and a trailer: a file shaped right.
func forge(t *testing.T, fs vfs.FS, id uint64, m Meta, body []byte) {
	t.Helper()
	m.ID = id
	m.IndexBytes = int64(len(body))
	f, err := fs.Create(filepath.Join("db", FileName(id)))
	require.NoError(t, err)
	b := append(m.encode(), body...)
	b = append(b, make([]byte, 12)...)
	copy(b[len(b)-8:], endMagic)
	_, err = f.WriteAt(b, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// allocatedBy returns the bytes fn allocated.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestForgedShapeIsRefusedBeforeAllocating: a header that claims a huge
// index over a tiny body, or an index of another shape than the reader's,
// is ErrBad without the index being allocated.
func TestForgedShapeIsRefusedBeforeAllocating(t *testing.T) {
	fs := newFS(t)
	base := Meta{StoreID: 5, Time: time.Unix(100, 0), Start: 64, End: 128, Begin: 64}
	huge := base
	huge.Buckets = 1 << 26 // a 4 GiB index
	forge(t, fs, 1, huge, make([]byte, 8))
	var err error
	n := allocatedBy(func() { _, _, err = Read(fs, "db", 1, Shape{}) })
	require.ErrorIs(t, err, ErrBad)
	require.Contains(t, err.Error(), "cannot hold")
	require.Less(t, n, uint64(4<<20), "bytes allocated reading a forged header")

	// A well-formed file whose index is larger than the reader allows:
	// refused on the header alone. So is one smaller than the store was
	// created with (an index only grows).
	other := base
	other.Buckets = 1 << 20
	least, _ := hashidx.SnapshotSize(other.Buckets, 0)
	forge(t, fs, 2, other, make([]byte, least))
	n = allocatedBy(func() { _, _, err = Read(fs, "db", 2, Shape{StoreID: 5, MinBuckets: 1024, MaxBuckets: 1 << 16}) })
	require.ErrorIs(t, err, ErrBad)
	require.Contains(t, err.Error(), "outside this store's range")
	require.Less(t, n, uint64(4<<20), "bytes allocated reading a foreign shape")
	_, _, err = Read(fs, "db", 2, Shape{StoreID: 5, MinBuckets: 1 << 21})
	require.ErrorIs(t, err, ErrBad)
	require.Contains(t, err.Error(), "outside this store's range")
	_, _, err = Read(fs, "db", 2, Shape{StoreID: 6})
	require.ErrorIs(t, err, ErrBad)
	require.Contains(t, err.Error(), "another store")
	// Within range, the shape passes (the forged body's checksum does not).
	_, _, err = Read(fs, "db", 2, Shape{StoreID: 5, MinBuckets: 1024, MaxBuckets: 1 << 20})
	require.ErrorIs(t, err, ErrBad)
	require.Contains(t, err.Error(), "checksum")
}
