package test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// The tests in this file match errors with the standard library's
// errors.Is, as a program using rskv would.

func TestKeyAndValueLimits(t *testing.T) {
	s := openStore(t, t.TempDir(), smallOptions()) // 4 KiB pages
	noop := func(old []byte, found bool) []byte { return old }
	ops := map[string]func(k []byte) error{
		"Get":         func(k []byte) error { _, err := s.Get(k); return err },
		"AppendValue": func(k []byte) error { _, err := s.AppendValue(nil, k); return err },
		"Put":         func(k []byte) error { return s.Put(k, []byte("v")) },
		"Delete":      func(k []byte) error { return s.Delete(k) },
		"Has":         func(k []byte) error { _, err := s.Has(k); return err },
		"RMW":         func(k []byte) error { _, err := s.RMW(k, noop); return err },
	}
	for name, op := range ops {
		require.True(t, errors.Is(op(nil), rskv.ErrEmptyKey), "%s(nil)", name)
		require.True(t, errors.Is(op([]byte{}), rskv.ErrEmptyKey), "%s(empty)", name)
		err := op(make([]byte, rskv.MaxKeySize+1))
		require.True(t, errors.Is(err, rskv.ErrKeyTooLarge), "%s(65536-byte key): %v", name, err)
		require.Contains(t, err.Error(), "65536")
	}
	require.Equal(t, 0, s.Len())

	// The largest value that fits a 4 KiB page with a 1-byte key: 4096 - 24
	// header - 8 key.
	require.NoError(t, s.Put([]byte("k"), make([]byte, 4064)))
	err := s.Put([]byte("k"), make([]byte, 4065))
	require.True(t, errors.Is(err, rskv.ErrValueTooLarge), "%v", err)
	err = s.Put([]byte("k2"), make([]byte, 1<<20))
	require.True(t, errors.Is(err, rskv.ErrValueTooLarge), "%v", err)
	_, err = s.RMW([]byte("k"), func(old []byte, found bool) []byte { return append(old, 'x') })
	require.True(t, errors.Is(err, rskv.ErrValueTooLarge), "RMW growing past a page: %v", err)
	got, err := s.Get([]byte("k"))
	require.NoError(t, err)
	require.Len(t, got, 4064, "a refused write changes nothing")
	require.Equal(t, 1, s.Len())

	// A maximal key works with a page large enough for it; with a small page
	// it is a record too large.
	maxKey := bytes.Repeat([]byte{'k'}, rskv.MaxKeySize)
	require.True(t, errors.Is(s.Put(maxKey, nil), rskv.ErrValueTooLarge))
	big := openStore(t, t.TempDir(), &rskv.Options{MemorySize: 1 << 20, PageSize: 128 << 10, DisableBackground: true})
	require.NoError(t, big.Put(maxKey, []byte("v")))
	v, err := big.Get(maxKey)
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
	require.NoError(t, big.Delete(maxKey))
	require.Equal(t, 0, big.Len())
}

func TestInvalidOptions(t *testing.T) {
	base := func() rskv.Options { return *smallOptions() }
	cases := []struct {
		name  string
		field string // must be named in the message
		mod   func(o *rskv.Options)
	}{
		{"negative MemorySize", "MemorySize", func(o *rskv.Options) { o.MemorySize = -1 }},
		{"MemorySize under 4 pages", "MemorySize", func(o *rskv.Options) { o.MemorySize = 12 << 10 }},
		{"MemorySize under 4 default pages", "MemorySize", func(o *rskv.Options) { o.MemorySize, o.PageSize = 8<<10, 0 }},
		{"MemorySize of 1 byte", "MemorySize", func(o *rskv.Options) { o.MemorySize, o.PageSize = 1, 0 }},
		{"negative PageSize", "PageSize", func(o *rskv.Options) { o.PageSize = -4096 }},
		{"PageSize not a power of two", "PageSize", func(o *rskv.Options) { o.PageSize = 5000 }},
		{"PageSize under 4 KiB", "PageSize", func(o *rskv.Options) { o.PageSize = 2048 }},
		{"PageSize over 1 GiB", "PageSize", func(o *rskv.Options) { o.PageSize = 2 << 30 }},
		{"negative MutableFraction", "MutableFraction", func(o *rskv.Options) { o.MutableFraction = -0.1 }},
		{"MutableFraction 1.5", "MutableFraction", func(o *rskv.Options) { o.MutableFraction = 1.5 }},
		{"MutableFraction NaN", "MutableFraction", func(o *rskv.Options) { o.MutableFraction = math.NaN() }},
		{"MutableFraction +Inf", "MutableFraction", func(o *rskv.Options) { o.MutableFraction = math.Inf(1) }},
		{"SyncMode 7", "SyncMode", func(o *rskv.Options) { o.SyncMode = 7 }},
		{"SyncMode -1", "SyncMode", func(o *rskv.Options) { o.SyncMode = -1 }},
		{"negative SyncInterval", "SyncInterval", func(o *rskv.Options) { o.SyncInterval = -time.Second }},
		{"negative SegmentSize", "SegmentSize", func(o *rskv.Options) { o.SegmentSize = -1 }},
		{"SegmentSize not a power of two", "SegmentSize", func(o *rskv.Options) { o.SegmentSize = 100000 }},
		{"SegmentSize under PageSize", "SegmentSize", func(o *rskv.Options) { o.SegmentSize = 2048 }},
		{"SegmentSize under the default PageSize", "SegmentSize", func(o *rskv.Options) {
			o.MemorySize, o.PageSize, o.SegmentSize = 64<<20, 0, 4096 // default page: 2 MiB
		}},
		{"SegmentSize over 1 TiB", "SegmentSize", func(o *rskv.Options) { o.SegmentSize = 2 << 40 }},
		{"negative IndexBuckets", "IndexBuckets", func(o *rskv.Options) { o.IndexBuckets = -1 }},
		{"IndexBuckets not a power of two", "IndexBuckets", func(o *rskv.Options) { o.IndexBuckets = 3000 }},
		{"IndexBuckets too few", "IndexBuckets", func(o *rskv.Options) { o.IndexBuckets = 512 }},
		{"IndexBuckets too many", "IndexBuckets", func(o *rskv.Options) { o.IndexBuckets = 1 << 27 }},
		{"negative CheckpointsToKeep", "CheckpointsToKeep", func(o *rskv.Options) { o.CheckpointsToKeep = -1 }},
		{"negative GCDeadFraction", "GCDeadFraction", func(o *rskv.Options) { o.GCDeadFraction = -0.5 }},
		{"GCDeadFraction 1.5", "GCDeadFraction", func(o *rskv.Options) { o.GCDeadFraction = 1.5 }},
		{"GCDeadFraction NaN", "GCDeadFraction", func(o *rskv.Options) { o.GCDeadFraction = math.NaN() }},
		{"negative GCMinBytes", "GCMinBytes", func(o *rskv.Options) { o.GCMinBytes = -1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			o := base()
			tc.mod(&o)
			s, err := rskv.Open(dir, &o)
			if s != nil {
				_ = s.Close()
			}
			require.True(t, s == nil, "a failed Open returns no Store")
			require.True(t, errors.Is(err, rskv.ErrInvalidOptions), "got %v", err)
			require.False(t, errors.Is(err, rskv.ErrCorruption), "bad options are not corruption: %v", err)
			require.Contains(t, err.Error(), tc.field)
			// A refused Open leaves nothing behind that constrains the next
			// one: a store of another page size can be created.
			s, err = rskv.Open(dir, &rskv.Options{MemorySize: 1 << 20, PageSize: 8 << 10, DisableBackground: true})
			require.NoError(t, err, "Open with good options after a refused one")
			require.NoError(t, s.Close())
		})
	}

	// Every problem is reported at once.
	o := base()
	o.MemorySize, o.SyncMode, o.GCMinBytes = -1, 9, -1
	_, err := rskv.Open(t.TempDir(), &o)
	require.True(t, errors.Is(err, rskv.ErrInvalidOptions))
	for _, f := range []string{"MemorySize", "SyncMode", "GCMinBytes"} {
		require.Contains(t, err.Error(), f)
	}

	_, err = rskv.Open("", smallOptions())
	require.True(t, errors.Is(err, rskv.ErrInvalidOptions), "empty directory name: %v", err)
}

// TestZeroMeansDefault: zero-valued fields take their documented default
// (API.md), so MutableFraction 0 is the default 0.9, not an error; options
// are copied, so changing them after Open has no effect.
func TestZeroMeansDefault(t *testing.T) {
	o := smallOptions()
	o.MutableFraction = 0
	dir := t.TempDir()
	s := openStore(t, dir, o)
	o.MemorySize = -5 // no effect on the open store
	require.NoError(t, s.Put([]byte("k"), []byte("v")))
	st := s.Stats()
	require.Equal(t, int64(st.TailAddress-st.ReadOnlyAddress), st.MutableBytes)
	require.NoError(t, s.Close())

	// PageSize, SegmentSize and IndexBuckets 0 on reopen mean "as created".
	s = openStore(t, dir, &rskv.Options{MemorySize: 256 << 10, DisableBackground: true})
	v, err := s.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
}

func TestReopenWithDifferentShape(t *testing.T) {
	dir := t.TempDir()
	o := smallOptions()
	o.SegmentSize = 64 << 10
	o.IndexBuckets = 2048
	s, err := rskv.Open(dir, o)
	require.NoError(t, err)
	require.NoError(t, s.Put([]byte("k"), []byte("v")))
	require.NoError(t, s.Close())
	for field, mod := range map[string]func(*rskv.Options){
		"PageSize":     func(o *rskv.Options) { o.PageSize = 8 << 10 },
		"SegmentSize":  func(o *rskv.Options) { o.SegmentSize = 128 << 10 },
		"IndexBuckets": func(o *rskv.Options) { o.IndexBuckets = 4096 },
		"MemorySize":   func(o *rskv.Options) { o.MemorySize = 8 << 10 }, // 2 pages of the store's 4 KiB
	} {
		c := *o
		mod(&c)
		s, err := rskv.Open(dir, &c)
		require.True(t, s == nil, "a failed Open returns no Store")
		require.True(t, errors.Is(err, rskv.ErrInvalidOptions), "%s: %v", field, err)
		require.Contains(t, err.Error(), field)
	}
	s = openStore(t, dir, o)
	v, err := s.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := rskv.Open(dir, smallOptions())
	require.NoError(t, err)
	for range 2 {
		s2, err := rskv.Open(dir, smallOptions())
		require.True(t, s2 == nil, "a failed Open returns no Store")
		require.True(t, errors.Is(err, rskv.ErrLocked), "got %v", err)
	}
	require.NoError(t, s.Put([]byte("k"), []byte("v")), "the failed Open did not disturb the first")
	require.NoError(t, s.Close())
	s2 := openStore(t, dir, smallOptions())
	v, err := s2.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
}

func TestMethodsAfterClose(t *testing.T) {
	s, err := rskv.Open(t.TempDir(), smallOptions())
	require.NoError(t, err)
	require.NoError(t, s.Put([]byte("k"), []byte("v")))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")

	k := []byte("k")
	noop := func(old []byte, found bool) []byte { return old }
	for name, op := range map[string]func() error{
		"Get":         func() error { _, err := s.Get(k); return err },
		"AppendValue": func() error { _, err := s.AppendValue(nil, k); return err },
		"Put":         func() error { return s.Put(k, []byte("v2")) },
		"Delete":      func() error { return s.Delete(k) },
		"Delete absent": func() error {
			return s.Delete([]byte("absent"))
		},
		"Has":  func() error { _, err := s.Has(k); return err },
		"RMW":  func() error { _, err := s.RMW(k, noop); return err },
		"Scan": func() error { return s.Scan(nil, func(k, v []byte) bool { return true }) },
		"Sync": s.Sync,
	} {
		require.True(t, errors.Is(op(), rskv.ErrClosed), name)
	}
	require.NoError(t, s.Close())
}

// TestCloseWhileBusy closes the store under a running workload: every
// operation either succeeds or reports ErrClosed, Close returns nil, and the
// store reopens with exactly what was acknowledged.
func TestCloseWhileBusy(t *testing.T) {
	for round := range scaled(12) {
		dir := t.TempDir()
		opts := smallOptions()
		opts.MemorySize = 32 << 10
		s, err := rskv.Open(dir, opts)
		require.NoError(t, err)
		const workers = 6
		type ack struct {
			key   string
			value []byte
		}
		acked := make([][]ack, workers)
		errs := make(chan error, workers)
		var started, wg sync.WaitGroup
		started.Add(workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				started.Done()
				for i := 0; ; i++ {
					k := key(w*1_000_000 + i%40)
					v := versioned(k, uint64(i), 300)
					var err error
					switch i % 4 {
					case 3:
						_, err = s.Get(k)
						if errors.Is(err, rskv.ErrNotFound) {
							err = nil
						}
					default:
						err = s.Put(k, v)
						if err == nil {
							acked[w] = append(acked[w], ack{string(k), v})
						}
					}
					if errors.Is(err, rskv.ErrClosed) {
						return
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		started.Wait()
		for range 50 * (round + 1) {
			require.NoError(t, s.Put([]byte("main"), make([]byte, 100)))
		}
		require.NoError(t, s.Close())
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		want := map[string][]byte{"main": make([]byte, 100)}
		for w := range workers {
			for _, a := range acked[w] {
				want[a.key] = a.value
			}
		}
		s = openStore(t, dir, opts)
		requireContents(t, s, want)
		require.NoError(t, s.Close())
	}
}

// TestOpenRefusesDamagedStoreFile: a STORE file that is not a manifest is
// corruption, and a directory of segments without one is not a new store.
func TestOpenRefusesDamagedStoreFile(t *testing.T) {
	dir := t.TempDir()
	s, err := rskv.Open(dir, smallOptions())
	require.NoError(t, err)
	for i := range 3000 {
		require.NoError(t, s.Put(key(i), make([]byte, 100)))
	}
	require.NoError(t, s.Close())
	storeFile := filepath.Join(dir, "STORE")
	orig, err := os.ReadFile(storeFile)
	require.NoError(t, err)

	bad := append([]byte(nil), orig...)
	bad[20] ^= 0xff
	require.NoError(t, os.WriteFile(storeFile, bad, 0o644))
	_, err = rskv.Open(dir, smallOptions())
	require.True(t, errors.Is(err, rskv.ErrCorruption), "damaged STORE: %v", err)

	require.NoError(t, os.Remove(storeFile))
	_, err = rskv.Open(dir, smallOptions())
	require.True(t, errors.Is(err, rskv.ErrCorruption), "segments without STORE: %v", err)
	require.True(t, strings.Contains(err.Error(), "STORE"), "%v", err)

	require.NoError(t, os.WriteFile(storeFile, orig, 0o644))
	s = openStore(t, dir, smallOptions())
	require.Equal(t, 3000, s.Len())
}
