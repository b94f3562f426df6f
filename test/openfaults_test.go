package test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func faultOptions(fs *faultFS) *rskv.Options {
	o := smallOptions()
	o.MemorySize = 64 << 10
	o.FS = fs
	return o
}

// TestOpenFailsCleanly fails each file-system operation Open makes, one at a
// time (the first, then the second, ... until Open succeeds). Each failed
// Open must return an error and no Store, leave no file, lock or goroutine
// behind, and leave the directory such that a later Open works and finds
// every key that was there.
func TestOpenFailsCleanly(t *testing.T) {
	// A store with data on disk and a torn tail, so that reopening exercises
	// reading, checking headers, truncating and syncing.
	template := t.TempDir()
	// No checkpoint at Close: a tear below a checkpoint's end is corruption
	// (the checkpoint proves that data was durable), not a torn tail.
	opts := smallOptions()
	opts.CheckpointInterval = -1
	s, err := rskv.Open(template, opts)
	require.NoError(t, err)
	want := map[string][]byte{}
	for i := range 1500 {
		k := key(i)
		v := versioned(k, 1, 60)
		require.NoError(t, s.Put(k, v))
		want[string(k)] = v
	}
	last := key(1500)
	require.NoError(t, s.Put(last, versioned(last, 1, 2000)))
	require.NoError(t, s.Close())
	tearLastRecord(t, template, 100) // key 1500 is lost to the tear

	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		want map[string][]byte
	}{
		{"new store", func(t *testing.T) string { return filepath.Join(t.TempDir(), "new") }, map[string][]byte{}},
		{"existing store", func(t *testing.T) string {
			dir := filepath.Join(t.TempDir(), "copy")
			require.NoError(t, copyDir(template, dir))
			return dir
		}, want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k := 0; ; k++ {
				require.Less(t, k, 10000, "Open never succeeded")
				dir := tc.dir(t)
				fs := newFaultFS()
				fs.failAt = k
				s, err := rskv.Open(dir, faultOptions(fs))
				if err == nil {
					fs.failAt = -1
					if fs.injected > 0 {
						// Only a failed close of a file opened for reading
						// (the STORE file) may go unreported.
						require.Equal(t, "close", fs.lastKind, "Open succeeded although operation %d (%s) failed", k, fs.lastKind)
						require.NoError(t, s.Close())
						continue
					}
					require.NoError(t, s.Close())
					require.Empty(t, fs.openHandles())
					t.Logf("Open makes %d file-system operations", k)
					break
				}
				require.True(t, s == nil, "failed Open returned a Store")
				require.True(t, errors.Is(err, errInjected), "operation %d: unexpected error %v", k, err)
				require.Empty(t, fs.openHandles(), "operation %d failed: Open left handles open", k)
				goleak.VerifyNone(t)

				// The directory is still good.
				s, err = rskv.Open(dir, smallOptions())
				require.NoError(t, err, "Open after operation %d failed", k)
				require.Equal(t, len(tc.want), s.Len(), "after operation %d failed", k)
				if k%7 == 0 || len(tc.want) == 0 {
					requireContents(t, s, tc.want)
				}
				require.NoError(t, s.Close())
			}
		})
	}
}

// TestWriteFailureIsSticky: once a write to the log fails, Sync and every
// later write report it (also after the file system recovers), Stats shows
// it, reads of memory and disk keep working, Close reports it, and a reopen
// finds every key as it was at the last successful Sync or later.
func TestWriteFailureIsSticky(t *testing.T) {
	for _, failSyncs := range []bool{false, true} {
		name := map[bool]string{false: "failed write", true: "failed sync"}[failSyncs]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fs := newFaultFS()
			opts := faultOptions(fs)
			opts.SetSyncMode(rskv.SyncNone)
			s, err := rskv.Open(dir, opts)
			require.NoError(t, err)

			synced := map[string][]byte{}
			for i := range 2000 { // several times memory: most on disk
				k := key(i)
				v := versioned(k, 1, 50)
				require.NoError(t, s.Put(k, v))
				synced[string(k)] = v
			}
			require.NoError(t, s.Sync())
			later := map[string][]byte{}
			for i := 0; i < 2100; i += 10 {
				k := key(i)
				v := versioned(k, 2, 10)
				require.NoError(t, s.Put(k, v))
				later[string(k)] = v
			}

			fs.arm(!failSyncs, failSyncs)
			err = s.Sync()
			require.True(t, errors.Is(err, errInjected), "Sync: %v", err)
			require.NotEmpty(t, s.Stats().IOError)
			fs.arm(false, false)

			require.True(t, errors.Is(s.Sync(), errInjected), "the error is sticky")
			require.True(t, errors.Is(s.Put(key(0), []byte("x")), errInjected), "writes are refused")
			require.True(t, errors.Is(s.Put([]byte("brand-new"), []byte("x")), errInjected))
			require.True(t, errors.Is(s.Delete(key(1)), errInjected))
			_, err = s.RMW(key(2), incr)
			require.True(t, errors.Is(err, errInjected))
			require.Contains(t, s.Stats().IOError, "injected")

			// Reads keep working: recent keys from memory, old ones from disk.
			st := s.Stats()
			for k, v := range synced {
				if lv, ok := later[k]; ok {
					v = lv
				}
				got, err := s.Get([]byte(k))
				require.NoError(t, err, "Get(%q) after the I/O error", k)
				require.Equal(t, v, got)
			}
			require.Greater(t, s.Stats().DiskReads, st.DiskReads)
			require.Equal(t, len(synced)+10, s.Len())
			require.Equal(t, len(synced)+10, len(snapshot(t, s, nil)))

			cerr := s.Close()
			require.True(t, errors.Is(cerr, errInjected), "Close must report that data may be lost: %v", cerr)
			require.NoError(t, s.Close())
			require.Empty(t, fs.openHandles())

			// Every key is as of the last successful Sync or later.
			s = openStore(t, dir, smallOptions())
			for k, v := range synced {
				got, err := s.Get([]byte(k))
				require.NoError(t, err, "key %q was synced", k)
				if lv, ok := later[k]; ok && string(got) == string(lv) {
					continue
				}
				require.Equal(t, v, got, "key %q", k)
			}
			for k, v := range later {
				if _, ok := synced[k]; ok {
					continue
				}
				got, err := s.Get([]byte(k))
				if err == nil {
					require.Equal(t, v, got)
				} else {
					require.True(t, errors.Is(err, rskv.ErrNotFound), "%v", err)
				}
			}
		})
	}
}

// TestSyncAlwaysReportsFailedSync: with SyncAlways a write whose sync fails
// returns the error, and so does every later write; reads keep working.
func TestSyncAlwaysReportsFailedSync(t *testing.T) {
	fs := newFaultFS()
	opts := faultOptions(fs)
	opts.SetSyncMode(rskv.SyncAlways)
	s, err := rskv.Open(t.TempDir(), opts)
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, s.Put(key(i), []byte("v")))
	}
	fs.arm(false, true)
	err = s.Put(key(50), []byte("v"))
	require.True(t, errors.Is(err, errInjected), "%v", err)
	fs.arm(false, false)
	for i := 51; i < 55; i++ {
		require.True(t, errors.Is(s.Put(key(i), []byte("v")), errInjected))
	}
	require.True(t, errors.Is(s.Sync(), errInjected))
	for i := range 50 {
		v, err := s.Get(key(i))
		require.NoError(t, err)
		require.Equal(t, []byte("v"), v)
	}
	require.Error(t, s.Close())
	require.NoError(t, s.Close())
	require.Empty(t, fs.openHandles())
}

// TestInlineFlushFailure: with the background services off a writer that
// fills memory flushes inline; when that flush fails the write reports it
// and the store refuses writes from then on.
func TestInlineFlushFailure(t *testing.T) {
	fs := newFaultFS()
	s, err := rskv.Open(t.TempDir(), faultOptions(fs))
	require.NoError(t, err)
	fs.arm(true, false)
	var failed int
	written := map[string][]byte{}
	for i := range 5000 {
		k := key(i)
		v := versioned(k, 0, 80)
		if err := s.Put(k, v); err != nil {
			require.True(t, errors.Is(err, errInjected), "%v", err)
			failed = i
			break
		}
		written[string(k)] = v
	}
	require.Positive(t, failed, "a write had to flush (64 KiB of memory)")
	fs.arm(false, false)
	require.True(t, errors.Is(s.Put([]byte("after"), []byte("x")), errInjected))
	for k, v := range written {
		got, err := s.Get([]byte(k))
		require.NoError(t, err, fmt.Sprintf("Get(%q)", k))
		require.Equal(t, v, got)
	}
	require.Error(t, s.Close())
	require.Empty(t, fs.openHandles())
}
