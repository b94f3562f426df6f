package supervision

import (
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

func TestCheckpointerTakesCheckpoints(t *testing.T) {
	o := smallOptions()
	o.CheckpointInterval = 20 * time.Millisecond
	s := open(t, o)
	for i := 0; i < 1000; i++ {
		require.NoError(t, s.Put(key(i), value(i, 0, 32)))
	}
	eventually(t, "a background checkpoint", func() bool {
		cps, err := s.Checkpoints()
		require.NoError(t, err)
		return len(cps) > 0 && cps[len(cps)-1].Keys == 1000 && s.Stats().Checkpoints > 0
	})
}

func TestLogShifterShiftsAndFlushes(t *testing.T) {
	o := smallOptions()
	o.CheckpointInterval, o.GCInterval = -1, -1
	o.SetSyncMode(rskv.SyncNone) // so only the shifter moves the read-only address
	s := open(t, o)
	before := s.Stats()
	// 4 MiB of writes through a 1 MiB log: pages must be shifted read-only,
	// flushed and evicted.
	for i := 0; i < 40000; i++ {
		require.NoError(t, s.Put(key(i), value(i, 0, 80)))
	}
	eventually(t, "the shifter to move read-only and head", func() bool {
		st := s.Stats()
		return st.ReadOnlyAddress > before.ReadOnlyAddress && st.HeadAddress > before.HeadAddress &&
			st.FlushedAddress >= st.HeadAddress
	})
	st := s.Stats()
	require.LessOrEqual(t, st.TailAddress-st.HeadAddress, uint64(o.MemorySize), "memory budget")
	require.Positive(t, st.DiskBytes)
}

func TestCollectorCompactsDeadSpace(t *testing.T) {
	o := smallOptions()
	o.GCInterval = 10 * time.Millisecond
	o.CheckpointInterval = -1
	s := open(t, o)
	// 5000 keys of 232-byte records do not fit the 1 MiB log's mutable
	// region, so overwrites append and leave dead versions behind.
	round := 0
	eventually(t, "a background compaction", func() bool {
		for i := 0; i < 5000; i++ {
			require.NoError(t, s.Put(key(i), value(i, round, 200)))
		}
		round++
		return s.Stats().Compactions > 0
	})
	st := s.Stats()
	require.Greater(t, st.BeginAddress, uint64(64), "begin moved")
	for i := 0; i < 5000; i++ {
		v, err := s.Get(key(i))
		require.NoError(t, err)
		require.Equal(t, value(i, round-1, 200), v)
	}
}

func TestInjectedPanicIsRestarted(t *testing.T) {
	o := smallOptions()
	o.CheckpointInterval = time.Hour // run only when triggered
	faults := &rskv.ServiceFaults{}
	o.ServiceFaults = faults
	s := open(t, o)
	require.NoError(t, faults.PanicNext("checkpointer", "injected panic"))
	require.NoError(t, faults.Trigger("checkpointer"))
	eventually(t, "the checkpointer's restart", func() bool {
		st := service(t, s, "checkpointer")
		return st.Restarts >= 1 && st.Running
	})
	st := service(t, s, "checkpointer")
	require.Contains(t, st.LastError, "injected panic")
	require.Equal(t, 1, st.Failures)
	// The other services were not disturbed, and the store serves.
	for _, other := range s.Services() {
		if other.Name != "checkpointer" {
			require.Zero(t, other.Restarts, other.Name)
			require.True(t, other.Running, other.Name)
		}
	}
	require.NoError(t, s.Put(key(1), value(1, 1, 16)))
	// After the restart it works again: a triggered run takes a checkpoint.
	require.NoError(t, faults.Trigger("checkpointer"))
	eventually(t, "a checkpoint after the restart", func() bool { return s.Stats().Checkpoints > 0 })
}

func TestInjectedErrorIsRestarted(t *testing.T) {
	o := smallOptions()
	faults := &rskv.ServiceFaults{}
	o.ServiceFaults = faults
	s := open(t, o)
	require.NoError(t, faults.FailNext("log-shifter", nil))
	require.NoError(t, faults.Trigger("log-shifter"))
	eventually(t, "the log shifter's restart", func() bool {
		st := service(t, s, "log-shifter")
		return st.Restarts >= 1 && st.Running
	})
	require.Contains(t, service(t, s, "log-shifter").LastError, "injected fault")
	// Writes that need the shifter keep working (it is back, and writers
	// can make room themselves anyway).
	for i := 0; i < 20000; i++ {
		require.NoError(t, s.Put(key(i), value(i, 0, 64)))
	}
}

func TestPersistentFailureIsGivenUp(t *testing.T) {
	o := smallOptions()
	o.GCInterval = time.Hour
	o.RestartPolicies = map[string]rskv.RestartPolicy{
		// Back off for a moment only, give up after 3 failures.
		"collector": {FailureThreshold: 1, FailureBackoff: time.Millisecond, MaxRestarts: 3, RestartWindow: time.Hour},
	}
	faults := &rskv.ServiceFaults{}
	o.ServiceFaults = faults
	s := open(t, o)
	require.NoError(t, faults.FailAlways("collector", errors.New("injected persistent fault")))
	eventually(t, "the collector to be given up", func() bool {
		_ = faults.Trigger("collector")
		return service(t, s, "collector").GivenUp
	})
	st := service(t, s, "collector")
	require.False(t, st.Running)
	require.GreaterOrEqual(t, st.Failures, 4)
	require.Contains(t, st.LastError, "injected persistent fault")
	require.Equal(t, 4, s.BackgroundStats().ActiveServices, "the others keep running")
	require.True(t, strings.Contains(s.ServicesReport(), "given up"), s.ServicesReport())
	// The store keeps working without it, including a manual compaction.
	for i := 0; i < 5000; i++ {
		require.NoError(t, s.Put(key(i%500), value(i, i, 64)))
	}
	_, err := s.Compact()
	require.NoError(t, err)

	// Starting the tree again gives it a fresh chance.
	require.NoError(t, faults.Clear("collector"))
	require.NoError(t, s.StopBackground())
	require.NoError(t, s.StartBackground())
	require.True(t, service(t, s, "collector").Running)
}
