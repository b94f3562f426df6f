package test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

func scanOptions() *rskv.Options {
	o := smallOptions()
	o.MemorySize = 32 << 10 // 8 pages
	return o
}

// scanFixture writes keys under two prefixes, overwrites and deletes some,
// and pushes most of them to disk, so that a key's newest record may be on
// disk while older ones are too, or in memory over an older one on disk.
func scanFixture(t *testing.T, s *rskv.Store) map[string][]byte {
	want := map[string][]byte{}
	put := func(k string, v []byte) {
		require.NoError(t, s.Put([]byte(k), v))
		want[k] = v
	}
	for i := range 600 {
		put(fmt.Sprintf("a/%04d", i), versioned([]byte(fmt.Sprintf("a/%04d", i)), 0, 50))
		put(fmt.Sprintf("b/%04d", i), versioned([]byte(fmt.Sprintf("b/%04d", i)), 0, 50))
	}
	for i := 0; i < 600; i += 7 {
		k := fmt.Sprintf("a/%04d", i)
		put(k, versioned([]byte(k), 1, 10))
	}
	for i := 0; i < 600; i += 5 {
		k := fmt.Sprintf("b/%04d", i)
		require.NoError(t, s.Delete([]byte(k)))
		delete(want, k)
	}
	// Recent updates of old keys: the newest record is in memory, older ones
	// on disk.
	for i := 0; i < 600; i += 11 {
		k := fmt.Sprintf("a/%04d", i)
		put(k, versioned([]byte(k), 2, 0))
	}
	put("c", nil)
	st := s.Stats()
	require.Greater(t, st.HeadAddress, st.TailAddress/2, "most of the fixture is on disk only")
	return want
}

func TestScanVisitsEachLiveKeyOnce(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, scanOptions())
	want := scanFixture(t, s)
	requireContents(t, s, want) // Scan(nil) included

	for _, prefix := range []string{"a/", "b/", "a/00", "c", "zzz"} {
		got := snapshot(t, s, []byte(prefix))
		n := 0
		for k, v := range want {
			if strings.HasPrefix(k, prefix) {
				n++
				requireBytes(t, v, got[k], "prefix %q key %q", prefix, k)
			}
		}
		require.Len(t, got, n, "prefix %q", prefix)
	}
	got := snapshot(t, s, []byte{})
	require.Len(t, got, len(want), "an empty prefix is every key")

	// After a reopen, when the log is replayed from disk.
	require.NoError(t, s.Close())
	s = openStore(t, dir, scanOptions())
	requireContents(t, s, want)
}

func TestScanStopsWhenFnReturnsFalse(t *testing.T) {
	s := openStore(t, t.TempDir(), scanOptions())
	scanFixture(t, s)
	calls := 0
	require.NoError(t, s.Scan(nil, func(k, v []byte) bool {
		calls++
		return calls < 300 // more than one internal batch
	}))
	require.Equal(t, 300, calls)
	require.NoError(t, s.Scan([]byte("nothing"), func(k, v []byte) bool {
		t.Fatal("no key has this prefix")
		return true
	}))
}

func TestScanGivesCallersCopies(t *testing.T) {
	s := openStore(t, t.TempDir(), scanOptions())
	require.NoError(t, s.Put([]byte("k1"), []byte("v1")))
	require.NoError(t, s.Put([]byte("k2"), []byte("v2")))
	var keys, values [][]byte
	require.NoError(t, s.Scan(nil, func(k, v []byte) bool {
		keys, values = append(keys, k), append(values, v)
		return true
	}))
	require.Len(t, keys, 2)
	for i := range keys {
		want := "v" + string(keys[i][1:])
		require.Equal(t, want, string(values[i]), "slices kept after the callback stay valid")
		keys[i][0], values[i][0] = 'X', 'X'
	}
	got, err := s.Get([]byte("k1"))
	require.NoError(t, err)
	require.Equal(t, []byte("v1"), got)
}

// TestScanCallbackWrites: fn may call the store, writes included, without
// deadlock. Every key live at the start and not deleted by fn is visited
// exactly once; keys fn creates are not visited.
func TestScanCallbackWrites(t *testing.T) {
	s := openStore(t, t.TempDir(), scanOptions())
	want := scanFixture(t, s)
	visited := map[string]int{}
	big := make([]byte, 600)
	require.NoError(t, s.Scan(nil, func(k, v []byte) bool {
		visited[string(k)]++
		ks := string(k)
		requireBytes(t, want[ks], v, "the value at the start of the scan, for %q", ks)
		// Update the visited key (in place or appended), create new keys,
		// and write enough to make the log flush and evict inline.
		require.NoError(t, s.Put(k, []byte("updated")))
		require.NoError(t, s.Put([]byte("new/"+ks), big))
		got, err := s.Get(k)
		require.NoError(t, err)
		require.Equal(t, []byte("updated"), got)
		_, err = s.RMW([]byte("counter"), incr)
		require.NoError(t, err)
		return true
	}))
	for k := range want {
		require.Equal(t, 1, visited[k], "key %q", k)
	}
	require.Len(t, visited, len(want), "only keys live at the start")
	require.Equal(t, 2*len(want)+1, s.Len())
	// A nested scan and a sync from the callback work too.
	require.NoError(t, s.Scan([]byte("a/0001"), func(k, v []byte) bool {
		require.NoError(t, s.Sync())
		n := 0
		require.NoError(t, s.Scan([]byte("new/a/0001"), func(k, v []byte) bool { n++; return true }))
		require.Equal(t, 1, n)
		return true
	}))
}

// TestScanCallbackDeletesAhead: a key deleted by fn before the scan reaches
// it, then written again, is visited at most once.
func TestScanCallbackDeletesAhead(t *testing.T) {
	s := openStore(t, t.TempDir(), scanOptions())
	for i := range 500 {
		require.NoError(t, s.Put(key(i), []byte("v")))
	}
	visited := map[string]int{}
	require.NoError(t, s.Scan(nil, func(k, v []byte) bool {
		visited[string(k)]++
		var i int
		_, err := fmt.Sscanf(string(k), "key-%d", &i)
		require.NoError(t, err)
		other := key(499 - i)
		require.NoError(t, s.Delete(other))
		require.NoError(t, s.Put(other, []byte("again")))
		return true
	}))
	for k, n := range visited {
		require.Equal(t, 1, n, "key %q", k)
	}
	require.NotEmpty(t, visited)
	require.Equal(t, 500, s.Len())
	n := 0
	require.NoError(t, s.Scan(nil, func(k, v []byte) bool {
		n++
		require.True(t, bytes.Equal(v, []byte("again")) || bytes.Equal(v, []byte("v")))
		return true
	}))
	require.Equal(t, 500, n)
}

// TestScanConcurrentWithWriters scans while other goroutines overwrite,
// delete and re-create keys and push the log through memory. Keys nobody
// touches during the scan are visited exactly once with their value; every
// other key at most once, with a value that was really written.
func TestScanConcurrentWithWriters(t *testing.T) {
	s := openStore(t, t.TempDir(), scanOptions())
	stable := map[string][]byte{}
	for i := range 400 {
		k := fmt.Appendf(nil, "stable/%04d", i)
		v := versioned(k, 0, 30)
		require.NoError(t, s.Put(k, v))
		stable[string(k)] = v
	}
	for i := range 200 {
		k := fmt.Appendf(nil, "churn/%04d", i)
		require.NoError(t, s.Put(k, versioned(k, 0, 30)))
	}
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	var done atomic.Int32
	ops := scaled(3000)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done.Add(1)
			for i := range ops {
				k := fmt.Appendf(nil, "churn/%04d", (i*7+w*13)%200)
				var err error
				if i%5 == 0 {
					err = s.Delete(k)
				} else {
					err = s.Put(k, versioned(k, uint64(i), (i%3)*200))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Scan until the writers are done, at least twice.
	for round := 0; round < 2 || done.Load() < 3; round++ {
		seen := map[string]int{}
		err := s.Scan(nil, func(k, v []byte) bool {
			seen[string(k)]++
			if want, ok := stable[string(k)]; ok {
				require.Equal(t, want, v, "round %d: stable key %q", round, k)
				return true
			}
			_, err := decodeVersioned(k, v)
			require.NoError(t, err, "round %d: key %q", round, k)
			return true
		})
		require.NoError(t, err)
		for k, n := range seen {
			require.Equal(t, 1, n, "round %d: %q visited %d times", round, k, n)
		}
		for k := range stable {
			require.Equal(t, 1, seen[k], "round %d: stable key %q", round, k)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Greater(t, s.Stats().HeadAddress, uint64(64<<10), "the writers pushed the log through memory")
}
