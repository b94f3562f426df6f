package rskv_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// within fails the test if fn does not return in a (generous) while: the
// guard against a hang, not a speed assertion.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not return: deadlock", what)
	}
}

// TestScanCallbackMayCallTheStore: fn calls a nested Scan, Put, Checkpoint
// and Compact while another goroutine's Compact is running or waiting. No
// call deadlocks, the outer Scan still visits every key exactly once with
// its value (a compaction during it copies keys to the tail, above its
// snapshot), and the segments the compactions free are given back when the
// Scan ends.
func TestScanCallbackMayCallTheStore(t *testing.T) {
	const n, rounds = 300, 4
	s, err := rskv.Open("db", lifeOptions(vfs.NewMem()))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	fill(t, s, n, rounds)
	beginBefore := s.Stats().BeginAddress

	seen := map[string]int{}
	var other sync.WaitGroup
	within(t, "Scan with re-entrant fn", func() {
		calls := 0
		require.NoError(t, s.Scan([]byte("key"), func(k, v []byte) bool {
			seen[string(k)]++
			require.True(t, strings.HasPrefix(string(v), "value-"+string(k[3:])+"-"), "%s=%s", k, v)
			calls++
			switch calls {
			case 1:
				other.Add(1)
				go func() { // another goroutine's Compact, concurrent with fn's calls
					defer other.Done()
					_, err := s.Compact()
					require.NoError(t, err)
				}()
				nested := 0
				require.NoError(t, s.Scan(lifeKey(7), func(k, v []byte) bool { nested++; return true }))
				require.Equal(t, 1, nested)
			case 2:
				require.NoError(t, s.Put([]byte("other"), []byte("x")))
				_, err := s.Checkpoint()
				require.NoError(t, err)
			case 3:
				_, err := s.Compact()
				require.NoError(t, err)
				// Whichever compaction did the work, its truncation waits
				// for this Scan: the log's begin has not moved yet.
				_, pending := s.ScanRegistryState()
				require.Positive(t, pending)
				require.Equal(t, beginBefore, s.Stats().BeginAddress)
			}
			return true
		}))
		other.Wait()
	})
	require.Len(t, seen, n)
	for k, c := range seen {
		require.Equal(t, 1, c, k)
	}
	active, pending := s.ScanRegistryState()
	require.Zero(t, active)
	require.Zero(t, pending, "the deferred truncation ran when the Scan ended")
	require.Greater(t, s.Stats().BeginAddress, beginBefore, "compaction gave space back")
	for i := 0; i < n; i++ {
		v, err := s.Get(lifeKey(i))
		require.NoError(t, err)
		require.Equal(t, string(lifeValue(i, rounds-1)), string(v))
	}
}

// TestScanPanicLeavesStoreWorking: a panic in fn reaches Scan's caller, and
// the store serves, syncs, checkpoints, compacts, closes and reopens.
func TestScanPanicLeavesStoreWorking(t *testing.T) {
	mem := vfs.NewMem()
	s, err := rskv.Open("db", lifeOptions(mem))
	require.NoError(t, err)
	fill(t, s, 300, 3)
	func() {
		defer func() { require.Equal(t, "boom", recover()) }()
		_ = s.Scan(nil, func(k, v []byte) bool { panic("boom") })
		t.Fatal("Scan returned instead of panicking")
	}()
	within(t, "the store after a panicking Scan fn", func() {
		v, err := s.Get(lifeKey(1))
		require.NoError(t, err)
		require.Equal(t, string(lifeValue(1, 2)), string(v))
		require.NoError(t, s.Put(lifeKey(1), lifeValue(1, 3)))
		require.NoError(t, s.Sync())
		_, err = s.Checkpoint()
		require.NoError(t, err)
		_, err = s.Compact()
		require.NoError(t, err)
		active, pending := s.ScanRegistryState()
		require.Zero(t, active)
		require.Zero(t, pending)
		require.NoError(t, s.Close())
	})
	s, err = rskv.Open("db", lifeOptions(mem))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	v, err := s.Get(lifeKey(1))
	require.NoError(t, err)
	require.Equal(t, string(lifeValue(1, 3)), string(v))
}

// slowReads counts reads of log segments and, once armed, slows each a
// little so that a Scan of the log takes many reads' time.
type slowReads struct {
	armed atomic.Bool
	reads atomic.Int64
}

func (r *slowReads) MaybeFail(c errorfs.Call) bool {
	if c.Op == errorfs.OpRead && strings.HasSuffix(c.Path, ".log") {
		r.reads.Add(1)
		if r.armed.Load() {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return false
}

// TestSyncDuringSelectiveScanMakesProgress: a Scan whose prefix matches
// only the first and the last key of a large on-disk log must not hold
// Sync back until it ends. A Sync issued when the Scan reports its first
// match returns while the Scan still has log to read: fewer reads had been
// made when Sync returned than when the Scan ended.
func TestSyncDuringSelectiveScanMakesProgress(t *testing.T) {
	rd := &slowReads{}
	o := &rskv.Options{FS: errorfs.Wrap(vfs.NewMem(), rd), MemorySize: 256 << 10, PageSize: 16 << 10,
		SegmentSize: 1 << 20, IndexBuckets: 1 << 14, DisableBackground: true, DisableReadPromotion: true}
	o.SetSyncMode(rskv.SyncNone)
	s, err := rskv.Open("db", o)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, s.Put([]byte("z-first"), []byte("1")))
	n := 60000
	if raceEnabled {
		n = 30000
	}
	val := []byte(strings.Repeat("v", 100))
	for i := 0; i < n; i++ {
		require.NoError(t, s.Put([]byte(fmt.Sprintf("a%07d", i)), val))
	}
	require.NoError(t, s.Put([]byte("z-last"), []byte("2")))
	require.NoError(t, s.Sync())

	var syncDone sync.WaitGroup
	var readsAtSync atomic.Int64
	rd.armed.Store(true)
	matches := 0
	require.NoError(t, s.Scan([]byte("z-"), func(k, v []byte) bool {
		matches++
		if string(k) == "z-first" {
			syncDone.Add(1)
			go func() {
				defer syncDone.Done()
				// Something to make durable, so Sync has to move the log.
				require.NoError(t, s.Put([]byte("b"), []byte("x")))
				require.NoError(t, s.Sync())
				readsAtSync.Store(rd.reads.Load())
			}()
		}
		return true
	}))
	readsAtEnd := rd.reads.Load()
	syncDone.Wait()
	require.Equal(t, 2, matches)
	require.Positive(t, readsAtSync.Load())
	require.Less(t, readsAtSync.Load(), readsAtEnd,
		"Sync returned only after the Scan had read the whole log (%d reads)", readsAtEnd)
}

// TestCloseFromScanCallbackWithDeferredTruncation: fn compacts (the
// truncation waits for the Scan) and then closes the store. Scan returns
// ErrClosed, the truncation is not applied after Close, and the next Open
// finishes it from the STORE file: every key is there and the segments
// below the committed begin are removed.
func TestCloseFromScanCallbackWithDeferredTruncation(t *testing.T) {
	const n, rounds = 300, 4
	mem := vfs.NewMem()
	rec := &afterClose{}
	s, err := rskv.Open("db", lifeOptions(errorfs.Wrap(mem, rec)))
	require.NoError(t, err)
	fill(t, s, n, rounds)
	var closeErr error
	within(t, "Close from Scan's fn", func() {
		err = s.Scan(nil, func(k, v []byte) bool {
			if closeErr != nil || rec.armed.Load() {
				return true // closed already: Scan stops at its next stretch
			}
			st, cerr := s.Compact()
			require.NoError(t, cerr)
			_, pending := s.ScanRegistryState()
			require.Positive(t, pending, "%+v %+v", st, s.Stats())
			closeErr = s.Close()
			rec.armed.Store(true)
			return true
		})
	})
	require.NoError(t, closeErr)
	require.ErrorIs(t, err, rskv.ErrClosed)
	rec.mu.Lock()
	require.Empty(t, rec.ops, "file operations after Close returned")
	rec.mu.Unlock()

	s, err = rskv.Open("db", lifeOptions(mem))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NotEmpty(t, s.Stats().Recovery.Removed, "segments below the committed begin")
	for i := 0; i < n; i++ {
		v, err := s.Get(lifeKey(i))
		require.NoError(t, err)
		require.Equal(t, string(lifeValue(i, rounds-1)), string(v))
	}
}
