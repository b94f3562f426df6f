package rskv_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// lifeOptions: a small store whose log spans many segments, so that a
// compaction has work to do.
func lifeOptions(fs vfs.FS) *rskv.Options {
	return &rskv.Options{
		FS: fs, MemorySize: 64 << 10, PageSize: 4 << 10, SegmentSize: 16 << 10, IndexBuckets: 1 << 10,
		GCMinBytes: 1, DisableBackground: true,
	}
}

func lifeKey(i int) []byte { return []byte(fmt.Sprintf("key%05d", i)) }

func lifeValue(i, round int) []byte {
	return []byte(fmt.Sprintf("value-%05d-%03d-%s", i, round, strings.Repeat("x", 60+8*round)))
}

// fill writes keys 0..n-1 for rounds rounds; the last round's values win.
// Each round's values are larger than the last's, so the next round appends
// rather than updating in place: the log spans many segments and most of it
// is dead, work for a compaction.
func fill(t *testing.T, s *rskv.Store, n, rounds int) {
	t.Helper()
	for r := 0; r < rounds; r++ {
		for i := 0; i < n; i++ {
			require.NoError(t, s.Put(lifeKey(i), lifeValue(i, r)))
		}
		require.NoError(t, s.Sync())
	}
}

// afterClose is an errorfs injector that fails nothing but records every
// operation made once armed: the file system a closed store must not touch.
type afterClose struct {
	armed atomic.Bool
	mu    sync.Mutex
	ops   []string
}

func (a *afterClose) MaybeFail(c errorfs.Call) bool {
	if c.Op == errorfs.OpWrite || c.Op == errorfs.OpSync || c.Op == errorfs.OpRead {
		// Slow the disk a little, so that Close lands mid-operation.
		time.Sleep(10 * time.Microsecond)
	}
	if a.armed.Load() {
		a.mu.Lock()
		a.ops = append(a.ops, fmt.Sprintf("%s %s", c.Op, c.Path))
		a.mu.Unlock()
	}
	return false
}

// TestCloseWaitsForManualOperations races Close with a manual Compact,
// Checkpoint, Scan and Sync, many times: when Close returns, none of them
// touches the directory again, each returns nil or ErrClosed, and the store
// reopens with every key's last value.
func TestCloseWaitsForManualOperations(t *testing.T) {
	iterations := 20
	if raceEnabled {
		iterations = 8
	}
	const n, rounds = 300, 4
	for it := 0; it < iterations; it++ {
		mem := vfs.NewMem()
		rec := &afterClose{}
		o := lifeOptions(errorfs.Wrap(mem, rec))
		if it%2 == 0 {
			// No checkpoint at Close: Close then never takes the lock the
			// manual operations hold, and only the gate makes it wait.
			o.CheckpointInterval = -1
		}
		s, err := rskv.Open("db", o)
		require.NoError(t, err)
		fill(t, s, n, rounds)

		var wg sync.WaitGroup
		errs := make(chan error, 8)
		run := func(name string, fn func() error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil && !errors.Is(err, rskv.ErrClosed) {
					errs <- errors.Wrap(err, name)
				}
			}()
		}
		run("compact", func() error { _, err := s.Compact(); return err })
		run("checkpoint", func() error { _, err := s.Checkpoint(); return err })
		run("sync", s.Sync)
		run("scan", func() error {
			return s.Scan(nil, func(k, v []byte) bool { runtime.Gosched(); return true })
		})
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		require.NoError(t, s.Close())
		rec.armed.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "iteration %d", it)
		}
		rec.mu.Lock()
		require.Empty(t, rec.ops, "iteration %d: file operations after Close returned", it)
		rec.mu.Unlock()
		// Later calls get ErrClosed.
		_, err = s.Compact()
		require.ErrorIs(t, err, rskv.ErrClosed)
		_, err = s.Checkpoint()
		require.ErrorIs(t, err, rskv.ErrClosed)
		require.ErrorIs(t, s.Sync(), rskv.ErrClosed)
		require.ErrorIs(t, s.Scan(nil, func(k, v []byte) bool { return true }), rskv.ErrClosed)

		s, err = rskv.Open("db", lifeOptions(mem))
		require.NoError(t, err, "iteration %d: reopen", it)
		for i := 0; i < n; i++ {
			v, err := s.Get(lifeKey(i))
			require.NoError(t, err, "iteration %d key %d", it, i)
			require.Equal(t, string(lifeValue(i, rounds-1)), string(v))
		}
		require.NoError(t, s.Close())
	}
}

// TestCloseWithBackgroundAndManualCompactLoop: a manual Compact loop while
// the collector runs (the -race detector once found the collector reading
// the manifest that Compact replaces), then Close.
func TestCloseWithBackgroundAndManualCompactLoop(t *testing.T) {
	mem := vfs.NewMem()
	o := lifeOptions(mem)
	o.DisableBackground = false
	o.GCInterval = time.Millisecond
	o.GCDeadFraction = 0.01
	o.CheckpointInterval = 2 * time.Millisecond
	s, err := rskv.Open("db", o)
	require.NoError(t, err)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Compact(); err != nil {
				require.ErrorIs(t, err, rskv.ErrClosed)
				return
			}
		}
	}()
	fill(t, s, 200, 10)
	close(stop)
	wg.Wait()
	require.NoError(t, s.Close())
	s, err = rskv.Open("db", lifeOptions(mem))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	for i := 0; i < 200; i++ {
		v, err := s.Get(lifeKey(i))
		require.NoError(t, err)
		require.Equal(t, string(lifeValue(i, 9)), string(v))
	}
}
