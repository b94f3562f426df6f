package rskv_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/actors/actorstest"
	"github.com/rskv-go/rskv/internal/racecheck"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// The read cache (internal/hlog/readcache.go) serves records below the head
// from memory. These tests check that it never changes what a read returns:
// the chain decides which version is current, before and after deletes,
// overwrites, expiry, compaction and recovery.

// cacheOptions is a store whose budget holds 16 pages of 64 KiB, the least
// that gets a read cache (a quarter of it), so that most of a few thousand
// 100-byte records live on disk.
func cacheOptions(fs vfs.FS) rskv.Options {
	return rskv.Options{FS: fs, PageSize: 64 << 10, SegmentSize: 256 << 10, MemorySize: 16 * 64 << 10,
		DisableReadPromotion: true, DisableBackground: true,
		// An index large enough for the tests' keys: with the default one
		// (sized from the small MemorySize) many keys share an entry, and
		// a Put's chain walk reads, and caches, other keys' records.
		IndexBuckets: 1 << 14}
}

func rcKey(i int) []byte { return fmt.Appendf(nil, "key-%06d", i) }

func rcValue(i, version int) []byte {
	v := make([]byte, 100)
	binary.LittleEndian.PutUint64(v, uint64(version))
	copy(v[8:], fmt.Sprintf("value of %d, version %d", i, version))
	return v
}

// failableFS fails every read of a segment file once armed: a read served
// after that came from memory.
type failableFS struct {
	vfs.FS
	armed *atomic.Bool
}

func newFailableFS() failableFS {
	armed := new(atomic.Bool)
	inj := errorfs.InjectorFunc(func(c errorfs.Call) bool {
		return armed.Load() && c.Op == errorfs.OpRead && strings.Contains(c.Path, "seg-")
	})
	return failableFS{FS: errorfs.Wrap(vfs.NewMem(), inj), armed: armed}
}

func TestReadCacheServesColdRecordsAndFollowsTheChain(t *testing.T) {
	fs := newFailableFS()
	s, err := rskv.Open("db", ptr(cacheOptions(fs)))
	require.NoError(t, err)
	const n = 20000
	for i := range n {
		require.NoError(t, s.Put(rcKey(i), rcValue(i, 1)))
	}
	require.Greater(t, s.Stats().HeadAddress, uint64(n/2*136), "most records are below the head")

	// Warm: read a small hot set from disk.
	hot := func(i int) bool { return i%50 == 0 }
	for i := range n {
		if hot(i) {
			got, err := s.Get(rcKey(i))
			require.NoError(t, err)
			require.Equal(t, rcValue(i, 1), got)
		}
	}
	// With the segment files unreadable, the hot set is still served: from
	// the cache. A cold key needs the file and fails.
	fs.armed.Store(true)
	before := s.Stats().DiskReads
	for i := range n {
		if hot(i) {
			got, err := s.Get(rcKey(i))
			require.NoError(t, err, "key %d", i)
			require.Equal(t, rcValue(i, 1), got)
		}
	}
	require.Greater(t, s.Stats().DiskReads, before, "the reads were below the head")
	// A cold key's record is not cached, unless a chain walk read it (a
	// Put of a key whose hash shares its index entry and tag reads the
	// records on the chain; the hash is seeded per store, so which keys
	// collide varies): nearly every cold key fails.
	failed := 0
	for i := 1; i <= 100; i++ {
		if _, err := s.Get(rcKey(i)); err != nil {
			failed++
		}
	}
	require.GreaterOrEqual(t, failed, 98, "records never read are not cached")
	fs.armed.Store(false)

	// Overwrite and delete some hot keys: the new versions are reached
	// first on the chain, so the cached old records are never returned.
	for i := range n {
		switch {
		case hot(i) && i%100 == 0:
			require.NoError(t, s.Put(rcKey(i), rcValue(i, 2)))
		case hot(i) && i%150 == 0:
			require.NoError(t, s.Delete(rcKey(i)))
		}
	}
	// Push the new versions below the head too.
	for i := range n {
		require.NoError(t, s.Put(rcKey(n+i), rcValue(n+i, 1)))
	}
	check := func(s *rskv.Store) {
		t.Helper()
		for i := range n {
			if !hot(i) && i%7 != 0 {
				continue
			}
			got, err := s.Get(rcKey(i))
			switch {
			case hot(i) && i%100 == 0:
				require.NoError(t, err)
				require.Equal(t, rcValue(i, 2), got, "key %d: the overwrite", i)
			case hot(i) && i%150 == 0:
				require.ErrorIs(t, err, rskv.ErrNotFound, "key %d: deleted", i)
			default:
				require.NoError(t, err)
				require.Equal(t, rcValue(i, 1), got, "key %d", i)
			}
		}
	}
	check(s)
	check(s) // again, now from the cache

	// Compaction copies live records forward and deletes segments: the
	// cached addresses below the new begin are never asked for again.
	for range 3 {
		_, err := s.Compact()
		require.NoError(t, err)
	}
	check(s)
	check(s)

	// Recovery starts with an empty cache over the same files.
	require.NoError(t, s.Close())
	s, err = rskv.Open("db", ptr(cacheOptions(fs)))
	require.NoError(t, err)
	check(s)
	check(s)
	require.NoError(t, s.Close())
}

func ptr[T any](v T) *T { return &v }

// TestReadCacheExpiry: a record whose expiry passes while it is cached
// reads as absent, as it does from the file.
func TestReadCacheExpiry(t *testing.T) {
	fs := vfs.NewMem()
	clk := actorstest.NewClock(t0)
	s := openClock(t, fs, clk, cacheOptions(nil))
	defer s.Close()
	require.NoError(t, s.PutTTL([]byte("ttl"), rcValue(0, 1), time.Minute))
	for i := range 20000 {
		require.NoError(t, s.Put(rcKey(i), rcValue(i, 1)))
	}
	for range 2 { // from disk, then from the cache
		got, err := s.Get([]byte("ttl"))
		require.NoError(t, err)
		require.Equal(t, rcValue(0, 1), got)
	}
	require.Positive(t, s.Stats().DiskReads)
	clk.Advance(2 * time.Minute)
	for range 2 {
		_, err := s.Get([]byte("ttl"))
		require.ErrorIs(t, err, rskv.ErrNotFound)
	}
}

// TestReadCacheConcurrentWritersNeverGoBack: readers of keys being
// overwritten, with the old versions on disk and cached, never see a
// version older than one whose Put had returned before the read began.
func TestReadCacheConcurrentWritersNeverGoBack(t *testing.T) {
	s, err := rskv.Open("db", ptr(cacheOptions(vfs.NewMem())))
	require.NoError(t, err)
	defer s.Close()
	const keys = 8000
	for i := range keys {
		require.NoError(t, s.Put(rcKey(i), rcValue(i, 0)))
	}
	var done [keys]atomic.Int64 // the newest version whose Put returned
	rounds := racecheck.Scale(6, 3)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stop.Store(true)
		for v := 1; v <= rounds; v++ {
			for i := range keys {
				if err := s.Put(rcKey(i), rcValue(i, v)); err != nil {
					errs <- err
					return
				}
				done[i].Store(int64(v))
			}
		}
	}()
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 128)
			for j := r; !stop.Load(); j += 7 {
				i := j % keys
				floor := done[i].Load()
				var err error
				buf, err = s.AppendValue(buf[:0], rcKey(i))
				if err != nil {
					errs <- err
					return
				}
				got := int64(binary.LittleEndian.Uint64(buf))
				if got < floor || string(buf[8:]) != string(rcValue(i, int(got))[8:]) {
					errs <- errors.Newf("key %d: read version %d (%q) after version %d was written", i, got, buf[8:40], floor)
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
	require.Positive(t, s.Stats().DiskReads)
}

// TestReadCacheReadOnlyStore: a read-only store cannot promote (it never
// appends), so it gets the read cache; a store that promotes does not (see
// readCacheShare).
func TestReadCacheReadOnlyStore(t *testing.T) {
	fs := newFailableFS()
	o := cacheOptions(fs)
	o.DisableReadPromotion = false
	s, err := rskv.Open("db", &o)
	require.NoError(t, err)
	const n = 20000
	for i := range n {
		require.NoError(t, s.Put(rcKey(i), rcValue(i, 1)))
	}
	warmThenFail := func(s *rskv.Store) error {
		for i := 0; i < n; i += 97 {
			got, err := s.Get(rcKey(i))
			require.NoError(t, err)
			require.Equal(t, rcValue(i, 1), got)
		}
		fs.armed.Store(true)
		defer fs.armed.Store(false)
		for i := 0; i < n; i += 97 {
			if _, err := s.Get(rcKey(i)); err != nil {
				return err
			}
		}
		return nil
	}
	require.Error(t, warmThenFail(s), "a store that promotes has no read cache: the second reads need the files")
	require.NoError(t, s.Close())

	o.ReadOnly = true
	s, err = rskv.Open("db", &o)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, warmThenFail(s), "a read-only store serves the warmed records from its cache")
}

// TestColdReadsDoNotAllocate: a read below the head allocates nothing,
// served by the read cache, by a mapping (MmapReads) or by pread.
func TestColdReadsDoNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   vfs.FS
		mmap bool
	}{{"cache", vfs.NewMem(), false}, {"mmap", vfs.Default, true}, {"pread", vfs.Default, false}} {
		if racecheck.Enabled {
			// The race detector makes sync.Pool drop items at random, so the
			// scratch buffers are reallocated (see alloc_test.go).
			t.Skip("allocation counts are meaningless under -race")
		}
		t.Run(tc.name, func(t *testing.T) {
			o := cacheOptions(tc.fs)
			o.MmapReads = tc.mmap
			dir := "db"
			if tc.fs == vfs.Default {
				dir = t.TempDir()
			}
			s, err := rskv.Open(dir, &o)
			require.NoError(t, err)
			defer s.Close()
			for i := range 20000 {
				require.NoError(t, s.Put(rcKey(i), rcValue(i, 1)))
			}
			key := rcKey(3)
			buf := make([]byte, 0, 256)
			before := s.Stats().DiskReads
			allocs := testing.AllocsPerRun(200, func() {
				var err error
				if buf, err = s.AppendValue(buf[:0], key); err != nil {
					t.Fatal(err)
				}
			})
			require.Greater(t, s.Stats().DiskReads, before, "the reads were below the head")
			require.Zero(t, allocs)
		})
	}
}
