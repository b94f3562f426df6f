package supervision

import (
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

func TestOpenStartsTheTree(t *testing.T) {
	s := open(t, &rskv.Options{CheckpointInterval: time.Hour, GCInterval: time.Hour})
	bs := s.BackgroundStats()
	require.True(t, bs.Running)
	require.True(t, bs.CheckpointEnabled)
	require.True(t, bs.GCEnabled)
	require.Equal(t, time.Hour, bs.CheckpointInterval)
	require.Equal(t, time.Hour, bs.GCInterval)
	// checkpointer, collector, log-shifter, syncer (SyncPeriodic is the default), expirer
	require.Equal(t, 5, bs.ActiveServices)
	var names []string
	for _, st := range s.Services() {
		names = append(names, st.Name)
		require.True(t, st.Running, st.Name)
		require.Zero(t, st.Restarts, st.Name)
	}
	require.Equal(t, []string{"checkpointer", "collector", "log-shifter", "syncer", "expirer"}, names)
	require.Contains(t, s.ServicesReport(), "log-shifter")
}

func TestStatsBeforeAndAfterStart(t *testing.T) {
	s := open(t, &rskv.Options{MemorySize: 4 << 20, DisableBackground: true, CheckpointInterval: -1, GCInterval: 3 * time.Second})
	bs := s.BackgroundStats()
	require.False(t, bs.Running)
	require.Zero(t, bs.ActiveServices)
	require.False(t, bs.CheckpointEnabled, "a negative interval disables the checkpointer")
	require.True(t, bs.GCEnabled)
	require.Equal(t, 3*time.Second, bs.GCInterval)
	for _, st := range s.Services() {
		require.NotEqual(t, "checkpointer", st.Name)
		require.False(t, st.Running)
	}

	require.NoError(t, s.StartBackground())
	bs = s.BackgroundStats()
	require.True(t, bs.Running)
	require.Equal(t, 4, bs.ActiveServices) // collector, log-shifter, syncer, expirer
}

func TestStartStopDoubleStart(t *testing.T) {
	s := open(t, &rskv.Options{MemorySize: 4 << 20, DisableBackground: true})
	require.NoError(t, s.StartBackground())
	err := s.StartBackground()
	require.True(t, errors.Is(err, rskv.ErrAlreadyRunning), "double start: %v", err)

	require.NoError(t, s.StopBackground())
	require.False(t, s.BackgroundStats().Running)
	require.Zero(t, s.BackgroundStats().ActiveServices)
	require.NoError(t, s.StopBackground(), "stop is idempotent")

	// The store works in full without its services.
	require.NoError(t, s.Put(key(1), value(1, 1, 16)))
	v, err := s.Get(key(1))
	require.NoError(t, err)
	require.Equal(t, value(1, 1, 16), v)

	require.NoError(t, s.StartBackground(), "start after stop")
	require.True(t, s.BackgroundStats().Running)
	require.Equal(t, 5, s.BackgroundStats().ActiveServices)
}

func TestClosedStore(t *testing.T) {
	s, err := rskv.Open(t.TempDir(), nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.True(t, errors.Is(s.StartBackground(), rskv.ErrClosed))
	require.True(t, errors.Is(s.StopBackground(), rskv.ErrClosed))
	require.False(t, s.BackgroundStats().Running)
	require.NoError(t, s.Close())
	// goleak (TestMain) checks that Close left no goroutine behind.
}

// Many goroutines start, stop and inspect the tree while others write, and
// one closes the store in the middle: no race, no deadlock, no leak, and a
// consistent end state.
func TestConcurrentLifecycle(t *testing.T) {
	s, err := rskv.Open(t.TempDir(), smallOptions())
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch i % 4 {
				case 0:
					err = s.StartBackground()
					if errors.Is(err, rskv.ErrAlreadyRunning) {
						err = nil
					}
				case 1:
					err = s.StopBackground()
				case 2:
					_ = s.BackgroundStats()
					_ = s.Services()
				case 3:
					err = s.Put(key(g*1000+i%1000), value(g, i, 32))
				}
				if err != nil && !errors.Is(err, rskv.ErrClosed) {
					t.Errorf("goroutine %d step %d: %v", g, i, err)
					return
				}
			}
		}(g)
	}
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, s.Close())
	close(stop)
	wg.Wait()
	require.False(t, s.BackgroundStats().Running)
	require.True(t, errors.Is(s.StartBackground(), rskv.ErrClosed))
}
