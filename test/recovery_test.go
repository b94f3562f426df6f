package test

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// On-disk layout used here (log package): segment files seg-%016x.log, a
// 4096-byte header with a checksummed durable mark at offset 64 (16 bytes),
// then data at the address's offset within the segment.
const (
	segmentHeaderSize = 4096
	markOffset        = 64
	markSize          = 16
)

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	require.NoError(t, err)
	sort.Strings(m)
	return m
}

// tearLastRecord simulates a crash in the middle of writing the end of the
// log: the newest segment loses its durable mark (as if the sync that wrote
// it never happened) and its last cut bytes.
func tearLastRecord(t testing.TB, dir string, cut int64) {
	t.Helper()
	segs := segmentFiles(t, dir)
	last := segs[len(segs)-1]
	f, err := os.OpenFile(last, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(make([]byte, markSize), markOffset)
	require.NoError(t, err)
	fi, err := f.Stat()
	require.NoError(t, err)
	require.Greater(t, fi.Size()-cut, int64(segmentHeaderSize))
	require.NoError(t, f.Truncate(fi.Size()-cut))
}

// recoveryOptions makes a store that Close leaves without a checkpoint, so
// that Open replays (and checks) the whole log. (With a checkpoint, damage
// below its start is found when the damaged record is read; damage below
// its end is ErrCorruption: the checkpoint proves that data was durable.)
func recoveryOptions() *rskv.Options {
	o := smallOptions()
	o.MemorySize = 64 << 10
	o.SegmentSize = 16 << 10
	o.CheckpointInterval = -1
	return o
}

func TestRecoverTornTailThroughStore(t *testing.T) {
	dir := t.TempDir()
	s, err := rskv.Open(dir, recoveryOptions())
	require.NoError(t, err)
	want := map[string][]byte{}
	for i := range 800 {
		k := key(i)
		v := versioned(k, 0, 70)
		require.NoError(t, s.Put(k, v))
		want[string(k)] = v
	}
	require.NoError(t, s.Delete(key(5)))
	delete(want, string(key(5)))
	torn := []byte("torn-key")
	require.NoError(t, s.Put(torn, make([]byte, 500)))
	require.NoError(t, s.Close())
	tearLastRecord(t, dir, 200)

	s, err = rskv.Open(dir, recoveryOptions())
	require.NoError(t, err)
	rec := s.Stats().Recovery
	require.NotZero(t, rec.TornAt)
	require.Positive(t, rec.TornBytes)
	require.False(t, rec.Created)
	_, err = s.Get(torn)
	require.True(t, errors.Is(err, rskv.ErrNotFound))
	requireContents(t, s, want)
	// The log goes on from the cut.
	require.NoError(t, s.Put(torn, []byte("again")))
	want[string(torn)] = []byte("again")
	require.NoError(t, s.Close())

	s = openStore(t, dir, recoveryOptions())
	require.Zero(t, s.Stats().Recovery.TornAt)
	requireContents(t, s, want)
}

func TestRecoverCorruptionThroughStore(t *testing.T) {
	build := func(t *testing.T) string {
		dir := t.TempDir()
		s, err := rskv.Open(dir, recoveryOptions())
		require.NoError(t, err)
		for i := range 2000 {
			require.NoError(t, s.Put(key(i), versioned(key(i), 0, 50)))
		}
		require.NoError(t, s.Close())
		require.Greater(t, len(segmentFiles(t, dir)), 4)
		return dir
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, segs []string)
	}{
		{"flipped byte in a middle segment", func(t *testing.T, segs []string) {
			f, err := os.OpenFile(segs[len(segs)/2], os.O_RDWR, 0)
			require.NoError(t, err)
			defer f.Close()
			b := make([]byte, 1)
			_, err = f.ReadAt(b, segmentHeaderSize+5000)
			require.NoError(t, err)
			b[0] ^= 0x20
			_, err = f.WriteAt(b, segmentHeaderSize+5000)
			require.NoError(t, err)
		}},
		{"missing middle segment", func(t *testing.T, segs []string) {
			require.NoError(t, os.Remove(segs[len(segs)/2]))
		}},
		{"segment of another store", func(t *testing.T, segs []string) {
			f, err := os.OpenFile(segs[1], os.O_RDWR, 0)
			require.NoError(t, err)
			defer f.Close()
			b := make([]byte, 1)
			_, err = f.ReadAt(b, 16) // store ID, under the header checksum
			require.NoError(t, err)
			b[0] ^= 0x01
			_, err = f.WriteAt(b, 16)
			require.NoError(t, err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := build(t)
			tc.damage(t, segmentFiles(t, dir))
			s, err := rskv.Open(dir, recoveryOptions())
			require.True(t, s == nil, "a failed Open returns no Store")
			require.True(t, errors.Is(err, rskv.ErrCorruption), "want ErrCorruption, got %v", err)
			require.True(t, strings.Contains(err.Error(), "seg-"), "the error names the segment: %v", err)
			// The refused Open released the directory.
			_, err = rskv.Open(dir, recoveryOptions())
			require.False(t, errors.Is(err, rskv.ErrLocked), "%v", err)
		})
	}
}

// crashCopy copies the store's files while it is open, as a process crash
// would leave them (written data is in the files, memory is lost), and opens
// the copy.
func crashCopy(t *testing.T, dir string, opts *rskv.Options) *rskv.Store {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "crash")
	require.NoError(t, copyDir(dir, cp))
	s, err := rskv.Open(cp, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestSyncAlwaysSurvivesCrash: with SyncAlways, a write whose call returned
// is in the files at once, including updates of a key written just before
// (which must not have been made in place in a record already on disk).
func TestSyncAlwaysSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	opts := recoveryOptions()
	opts.SetSyncMode(rskv.SyncAlways)
	s := openStore(t, dir, opts)
	hot := []byte("hot")
	for i := range 8 {
		v := versioned(hot, uint64(i), 0)
		require.NoError(t, s.Put(hot, v))
		_, err := s.RMW([]byte("ctr"), incr)
		require.NoError(t, err)
		c := crashCopy(t, dir, opts)
		got, err := c.Get(hot)
		require.NoError(t, err, "write %d acknowledged but lost", i)
		require.Equal(t, v, got, "write %d acknowledged but lost", i)
		got, err = c.Get([]byte("ctr"))
		require.NoError(t, err)
		require.Equal(t, uint64(i+1), decodeCounter(got))
		require.NoError(t, c.Close())
	}
	require.NoError(t, s.Delete(hot))
	c := crashCopy(t, dir, opts)
	_, err := c.Get(hot)
	require.True(t, errors.Is(err, rskv.ErrNotFound), "acknowledged delete lost")
}

// TestSyncMakesWritesDurable: without SyncAlways, what was acknowledged
// before Sync returned is in the files, in-place updates included.
func TestSyncMakesWritesDurable(t *testing.T) {
	dir := t.TempDir()
	opts := recoveryOptions()
	opts.SetSyncMode(rskv.SyncNone)
	s := openStore(t, dir, opts)
	want := map[string][]byte{}
	for round := range 4 {
		for i := range 300 {
			k := key(i % 120) // repeated keys: in-place updates in the mutable region
			v := versioned(k, uint64(round*1000+i), 0)
			require.NoError(t, s.Put(k, v))
			want[string(k)] = v
		}
		require.NoError(t, s.Sync())
		c := crashCopy(t, dir, opts)
		requireContents(t, c, want)
		require.NoError(t, c.Close())
	}
	require.Positive(t, s.Stats().InPlaceUpdates)
}

func decodeCounter(b []byte) uint64 {
	var n uint64
	for i := len(b) - 1; i >= 0; i-- {
		n = n<<8 | uint64(b[i])
	}
	return n
}

// TestSyncAlwaysConcurrentWriters: concurrent SyncAlways writers share
// syncs (group commit) without deadlock, and every write acknowledged
// before the crash copy is in it.
func TestSyncAlwaysConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	opts := recoveryOptions()
	opts.SetSyncMode(rskv.SyncAlways)
	s := openStore(t, dir, opts)
	const workers = 6
	perWorker := scaled(60)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				k := key(w*1000 + i)
				if err := s.Put(k, versioned(k, uint64(i), 20)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st := s.Stats()
	require.GreaterOrEqual(t, st.DurableAddress, st.TailAddress)
	c := crashCopy(t, dir, opts)
	require.Equal(t, workers*perWorker, c.Len())
	for w := range workers {
		for i := range perWorker {
			k := key(w*1000 + i)
			got, err := c.Get(k)
			require.NoError(t, err)
			require.Equal(t, versioned(k, uint64(i), 20), got)
		}
	}
}
