package test

import (
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// finishes runs fn and stops the test binary, with every goroutine's stack,
// if it does not return within a generous bound: the defect it guards
// against is a hang, not slowness.
func finishes(t *testing.T, what string, fn func()) {
	t.Helper()
	watchdog := time.AfterFunc(time.Minute, func() { panic(what + " hangs") })
	defer watchdog.Stop()
	fn()
}

// TestRMWPanicLeavesStoreWorking: an RMW whose fn panics passes the panic to
// its caller and leaves the store as it was: the record unlocked and not
// sealed, its value unchanged, the epoch released. Then Get, Put and RMW of
// the same key, Sync and Close work, and the store reopens with the values
// written after the panic. Covered: a record updated in place (locked while
// fn runs), one in the read-only region, one on disk, and an absent key.
func TestRMWPanicLeavesStoreWorking(t *testing.T) {
	dir := t.TempDir()
	opts := smallOptions()
	opts.DisableBackground = false // Close must stop the services too
	opts.CheckpointInterval = -1
	opts.SetSyncMode(rskv.SyncNone) // no periodic fold-over: the hot record stays mutable
	s, err := rskv.Open(dir, opts)
	require.NoError(t, err)

	boom := func([]byte, bool) []byte { panic("boom") }
	panicRMW := func(k []byte) {
		t.Helper()
		finishes(t, "a panicking RMW", func() {
			require.PanicsWithValue(t, "boom", func() { _, _ = s.RMW(k, boom) })
		})
	}
	afterPanic := func(k []byte, want []byte, next string) {
		t.Helper()
		finishes(t, "Get after a panicking RMW", func() {
			v, err := s.Get(k)
			if want == nil {
				require.True(t, errors.Is(err, rskv.ErrNotFound), "%v", err)
			} else {
				require.NoError(t, err)
				require.Equal(t, want, v, "the panicking RMW changed the value")
			}
		})
		finishes(t, "Put and RMW after a panicking RMW", func() {
			require.NoError(t, s.Put(k, []byte(next)))
			out, err := s.RMW(k, func(old []byte, found bool) []byte {
				require.True(t, found)
				return append(old, '!')
			})
			require.NoError(t, err)
			require.Equal(t, next+"!", string(out))
		})
	}

	// In the mutable region: fn runs under the record's lock.
	hot := key(1)
	require.NoError(t, s.Put(hot, []byte("hot-0")))
	panicRMW(hot)
	afterPanic(hot, []byte("hot-0"), "hot-1")
	// An in-place update of it still works: the record was not sealed.
	require.NoError(t, s.Put(hot, []byte("hot-2")))
	panicRMW(hot)
	before := s.Stats().InPlaceUpdates
	require.NoError(t, s.Put(hot, []byte("hot-3")))
	require.Greater(t, s.Stats().InPlaceUpdates, before)

	// In the read-only region (Sync folds the mutable region over).
	ro := key(2)
	require.NoError(t, s.Put(ro, []byte("ro-0")))
	require.NoError(t, s.Sync())
	panicRMW(ro)
	afterPanic(ro, []byte("ro-0"), "ro-1")

	// On disk: push it below the head with other writes.
	cold := key(3)
	require.NoError(t, s.Put(cold, []byte("cold-0")))
	for i := 100; i < 6000; i++ {
		require.NoError(t, s.Put(key(i), versioned(key(i), 1, 40)))
	}
	panicRMW(cold)
	afterPanic(cold, []byte("cold-0"), "cold-1")

	// Absent: the panic comes before anything is written.
	absent := key(4)
	n := s.Len()
	panicRMW(absent)
	require.Equal(t, n, s.Len())
	finishes(t, "Get of an absent key after a panicking RMW", func() {
		_, err := s.Get(absent)
		require.True(t, errors.Is(err, rskv.ErrNotFound), "%v", err)
	})

	finishes(t, "Sync after panicking RMWs", func() { require.NoError(t, s.Sync()) })
	_, err = s.Checkpoint()
	require.NoError(t, err)
	finishes(t, "Close after panicking RMWs", func() { require.NoError(t, s.Close()) })

	s = openStore(t, dir, smallOptions())
	for k, want := range map[string]string{"hot": "hot-3", "ro": "ro-1!", "cold": "cold-1!"} {
		kk := map[string][]byte{"hot": hot, "ro": ro, "cold": cold}[k]
		v, err := s.Get(kk)
		require.NoError(t, err, k)
		require.Equal(t, want, string(v), k)
	}
	_, err = s.Get(absent)
	require.True(t, errors.Is(err, rskv.ErrNotFound), "%v", err)
	require.Equal(t, n, s.Len())
}
