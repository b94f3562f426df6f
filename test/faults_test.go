package test_test

import (
	"bytes"
	stderrors "errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// faultRun is one run of the fault workload: what it tried, what was
// acknowledged and what the store said.
type faultRun struct {
	tried    map[string][]faultWrite // per key, in order
	errs     []error                 // every error a call returned
	opened   bool
	closeErr error
}

// faultWrite is one write to a key: its value (nil: a delete) and whether
// the call returned nil.
type faultWrite struct {
	value []byte
	acked bool
}

func (r *faultRun) record(err error) {
	if err != nil {
		r.errs = append(r.errs, err)
	}
}

func (r *faultRun) try(key string, value []byte, err error) {
	r.tried[key] = append(r.tried[key], faultWrite{value: value, acked: err == nil})
	r.record(err)
}

// faultWorkload opens a SyncAlways store on fs without background services
// (so the sequence of file operations is the same on every run) and does
// Puts, Deletes and RMWs, a Sync, a Checkpoint, more writes, a Compact and
// Close, going on after errors. It returns what it saw.
func faultWorkload(fs vfs.FS, puts int) *faultRun {
	r := &faultRun{tried: map[string][]faultWrite{}}
	o := smallOptions(rskv.SyncAlways, false, fs)
	o.CheckpointInterval = -1 // Close takes no checkpoint; the workload takes one
	s, err := rskv.Open("db", o)
	r.record(err)
	if err != nil {
		return r
	}
	r.opened = true
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(i int) {
		key := fmt.Sprintf("k%02d", rng.IntN(12))
		v := encodeValue(key, uint64(i+1), 0)
		switch rng.IntN(10) {
		case 0:
			r.try(key, nil, s.Delete([]byte(key)))
		case 1, 2:
			_, err := s.RMW([]byte(key), func([]byte, bool) []byte { return v })
			r.try(key, v, err)
		default:
			r.try(key, v, s.Put([]byte(key), v))
		}
	}
	for i := 0; i < puts; i++ {
		write(i)
	}
	r.record(s.Sync())
	_, err = s.Checkpoint()
	r.record(err)
	for i := puts; i < 2*puts; i++ {
		write(i)
	}
	_, err = s.Compact()
	r.record(err)
	r.closeErr = s.Close()
	r.record(r.closeErr)
	return r
}

// verifyFaultRun opens the store in fs with healthy I/O and checks that
// every acknowledged write is there and every value is one that was tried.
func verifyFaultRun(fs vfs.FS, r *faultRun) error {
	o := smallOptions(rskv.SyncAlways, false, fs)
	o.CheckpointInterval = -1
	s, err := rskv.Open("db", o)
	if err != nil {
		return fmt.Errorf("reopen with a healthy file system: %w", err)
	}
	defer s.Close()
	var problems []string
	for key, tried := range r.tried {
		got, err := s.Get([]byte(key))
		if err != nil && !stderrors.Is(err, rskv.ErrNotFound) {
			problems = append(problems, fmt.Sprintf("%s: %v", key, err))
			continue
		}
		if err != nil {
			got = nil
		}
		// Allowed: the state after the last acknowledged write or after
		// any write tried later (a failed call may or may not have reached
		// the disk); with no acknowledged write, also the initial absence.
		lo := -1
		for j, w := range tried {
			if w.acked {
				lo = j
			}
		}
		ok := lo < 0 && got == nil
		for j := max(lo, 0); j < len(tried) && !ok; j++ {
			ok = bytes.Equal(tried[j].value, got) && (tried[j].value == nil) == (got == nil)
		}
		if !ok {
			var want []byte
			if lo >= 0 {
				want = tried[lo].value
			}
			problems = append(problems, fmt.Sprintf("%s = %q, last acknowledged %q", key, clip(got), clip(want)))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("acknowledged data lost or wrong: %s", strings.Join(problems, "; "))
	}
	return nil
}

// TestFaultEveryOperation is pebble's TestErrors pattern: fail file
// operation 0 of the workload, then 1, 2, … until a run completes without
// reaching the index. For every run:
//   - the failure surfaces: some call returns an error wrapping the
//     injected one, and nothing panics;
//   - nothing is left running (goleak);
//   - reopening with a healthy file system, both as it is and after a
//     simulated power cut (CrashClone), finds every acknowledged write.
//
// With short writes, a failed write first writes a random prefix of its
// buffer, as a device failing mid-write would.
func TestFaultEveryOperation(t *testing.T) {
	defer goleak.VerifyNone(t)
	puts := pick(12, 60)
	for _, short := range []bool{false, true} {
		t.Run(fmt.Sprintf("short-writes=%v", short), func(t *testing.T) {
			var runs, withOpen int
			for i := int64(0); ; i++ {
				mem := vfs.NewMem()
				idx := errorfs.OnIndex(i)
				rec := errorfs.Record(idx, 4)
				var opts []errorfs.Option
				if short {
					opts = append(opts, errorfs.WithShortWrites(errorfs.RandomPrefix(uint64(i))))
				}
				r := faultWorkload(errorfs.Wrap(mem, rec, opts...), puts)
				if !idx.Fired() {
					require.Empty(t, r.errs, "a run without a fault failed")
					require.Positive(t, runs)
					t.Logf("%d runs (%d with Open failing); the workload does %d file operations", runs, withOpen, idx.Count())
					return
				}
				runs++
				if !r.opened {
					withOpen++
				}
				trace := rec.Trace()
				failed := trace[len(trace)-1]
				for _, e := range trace {
					if e.Injected {
						failed = e
					}
				}
				require.NotEmpty(t, r.errs, "run %d: the failure of %s was not reported to any caller", i, failed.Call)
				injected := false
				for _, err := range r.errs {
					injected = injected || stderrors.Is(err, errorfs.ErrInjected)
				}
				require.True(t, injected, "run %d: no error wraps the injected one; errors: %v", i, r.errs)
				goleak.VerifyNone(t)
				require.NoError(t, verifyFaultRun(mem.CrashClone(), r), "run %d: after a power cut, %s failed", i, failed.Call)
				require.NoError(t, verifyFaultRun(mem, r), "run %d: %s failed", i, failed.Call)
			}
		})
	}
}

// TestFaultOpenLeavesNothing fails each file operation of Open in turn on a
// store with several segments, checkpoints and a compacted log, with the
// background services enabled: an Open that fails returns no store, leaves
// no goroutine running and no lock held (a healthy Open right after
// succeeds and finds all the data).
func TestFaultOpenLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	mem := vfs.NewMem()
	s, err := rskv.Open("db", smallOptions(rskv.SyncNone, false, mem))
	require.NoError(t, err)
	want := map[string][]byte{}
	for i := 0; i < 600; i++ {
		k := fmt.Sprintf("k%03d", i%150)
		v := encodeValue(k, uint64(i+1), 0)
		require.NoError(t, s.Put([]byte(k), v))
		want[k] = v
		if i%200 == 199 {
			_, err := s.Checkpoint()
			require.NoError(t, err)
		}
	}
	cs, err := s.Compact()
	require.NoError(t, err)
	require.Positive(t, cs.BytesReclaimed)
	require.NoError(t, s.Sync())
	// Leave a tail to replay and a torn tail to cut: more writes, then a
	// power cut that keeps part of them.
	for i := 0; i < 50; i++ {
		require.NoError(t, s.Put([]byte(fmt.Sprintf("t%03d", i)), bytes.Repeat([]byte{'t'}, 100)))
	}
	base := mem.CrashCloneTorn(rand.New(rand.NewPCG(3, 4)))
	require.NoError(t, s.Close())

	var failures int
	for i := int64(0); ; i++ {
		fs := base.CrashClone() // a fresh copy of the damaged store
		idx := errorfs.OnIndex(i)
		var on errorfs.Toggle
		on.On()
		rec := errorfs.Record(errorfs.All(&on, idx), 64)
		s, err := rskv.Open("db", smallOptions(rskv.SyncNone, true, errorfs.Wrap(fs, rec)))
		on.Off() // only Open's own operations are counted and failed
		if err == nil {
			if !idx.Fired() {
				require.NoError(t, s.Close())
				t.Logf("Open does %d file operations; %d of their failures made it fail", idx.Count(), failures)
				require.Positive(t, failures)
				return
			}
			// A fault that Open survived must be harmless (the close of a
			// file it had read) or reported: a checkpoint it could not read
			// and skipped. And it must not have cost data.
			var failed errorfs.Call
			for _, e := range rec.Trace() {
				if e.Injected {
					failed = e.Call
				}
			}
			if failed.Op != errorfs.OpClose {
				skipped := s.Stats().Recovery.SkippedCheckpoints
				require.True(t, slices.ContainsFunc(skipped, func(m string) bool {
					return strings.Contains(m, failed.Path) && strings.Contains(m, "injected")
				}), "op %d: Open survived a failed %s without saying so; recovery: %+v", i, failed, s.Stats().Recovery)
			}
			for k, v := range want {
				got, err := s.Get([]byte(k))
				require.NoError(t, err, "op %d: key %s", i, k)
				require.Equal(t, v, got, "op %d: key %s", i, k)
			}
			require.NoError(t, s.Close())
		} else {
			failures++
			require.Nil(t, s)
			require.True(t, stderrors.Is(err, errorfs.ErrInjected), "op %d: error does not wrap the injected one: %v", i, err)
			goleak.VerifyNone(t)
		}
		s, err = rskv.Open("db", smallOptions(rskv.SyncNone, false, fs))
		require.NoError(t, err, "op %d: a healthy Open after the failed one", i)
		for k, v := range want {
			got, err := s.Get([]byte(k))
			require.NoError(t, err, "op %d: key %s", i, k)
			require.Equal(t, v, got, "op %d: key %s", i, k)
		}
		require.NoError(t, s.Close())
	}
}

// TestFsyncFailureIsSticky fails one fsync and checks that the store never
// again reports data as durable: the write whose sync failed returns the
// error, and so does every later write, Sync, Checkpoint, Compact and
// Close, even once the device works again; Stats().IOError says why and the
// durable address stops moving. Reads keep working. What was acknowledged
// before the failure survives a power cut.
func TestFsyncFailureIsSticky(t *testing.T) {
	for _, mode := range []rskv.SyncMode{rskv.SyncAlways, rskv.SyncNone} {
		t.Run(modeName(mode), func(t *testing.T) {
			defer goleak.VerifyNone(t)
			mem := vfs.NewMem()
			var broken errorfs.Toggle
			fs := errorfs.Wrap(mem, errorfs.All(&broken, errorfs.Ops(errorfs.OpSync)))
			s, err := rskv.Open("db", smallOptions(mode, false, fs))
			require.NoError(t, err)
			for i := 0; i < 20; i++ {
				require.NoError(t, s.Put([]byte(fmt.Sprintf("k%02d", i)), []byte(fmt.Sprintf("v%02d", i))))
			}
			require.NoError(t, s.Sync())
			durable := s.Stats().DurableAddress

			broken.On()
			err = s.Put([]byte("k99"), []byte("v99"))
			if mode != rskv.SyncAlways {
				require.NoError(t, err, "SyncNone does not sync on Put")
				err = s.Sync()
			}
			require.Error(t, err)
			require.True(t, stderrors.Is(err, errorfs.ErrInjected), "got %v", err)
			broken.Off() // the device "recovers"; the store must not

			st := s.Stats()
			require.NotEmpty(t, st.IOError)
			require.Equal(t, durable, st.DurableAddress, "the durable address moved past a failed fsync")
			require.Error(t, s.Sync(), "Sync succeeded after a failed fsync")
			require.Error(t, s.Put([]byte("k00"), []byte("new")))
			require.Error(t, s.Delete([]byte("k01")))
			_, err = s.RMW([]byte("k02"), func([]byte, bool) []byte { return []byte("new") })
			require.Error(t, err)
			_, err = s.Checkpoint()
			require.Error(t, err)
			_, err = s.Compact()
			require.Error(t, err)
			require.Equal(t, durable, s.Stats().DurableAddress)
			got, err := s.Get([]byte("k05"))
			require.NoError(t, err, "reads keep working after an I/O error")
			require.Equal(t, "v05", string(got))
			require.Error(t, s.Close(), "Close must report that it could not make the data durable")

			// A power cut now keeps what was synced before the failure.
			s, err = rskv.Open("db", smallOptions(mode, false, mem.CrashClone()))
			require.NoError(t, err)
			for i := 0; i < 20; i++ {
				got, err := s.Get([]byte(fmt.Sprintf("k%02d", i)))
				require.NoError(t, err)
				require.Equal(t, fmt.Sprintf("v%02d", i), string(got))
			}
			require.NoError(t, s.Close())
		})
	}
}

// TestBackgroundIOErrorSurfaces breaks the device under the background
// services (the log shifter flushing, the syncer syncing) while a writer
// keeps writing: the failure must reach the writer as an error within a
// bounded number of writes (memory fills and a writer flushes inline), and
// Stats().IOError must be set.
func TestBackgroundIOErrorSurfaces(t *testing.T) {
	for _, c := range []struct {
		name string
		mode rskv.SyncMode
		ops  []errorfs.Op
	}{
		{"periodic syncer fsync", rskv.SyncPeriodic, []errorfs.Op{errorfs.OpSync}},
		{"log shifter write", rskv.SyncNone, []errorfs.Op{errorfs.OpWrite}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			var broken errorfs.Toggle
			fs := errorfs.Wrap(vfs.NewMem(), errorfs.All(&broken, errorfs.Ops(c.ops...), errorfs.PathContains("seg-")))
			s, err := rskv.Open("db", smallOptions(c.mode, true, fs))
			require.NoError(t, err)
			broken.On()
			var werr error
			for i := 0; i < 100000 && werr == nil; i++ {
				werr = s.Put([]byte(fmt.Sprintf("k%04d", i%2000)), bytes.Repeat([]byte{'x'}, 200))
			}
			require.Error(t, werr, "100000 writes succeeded on a broken device")
			require.True(t, stderrors.Is(werr, errorfs.ErrInjected), "got %v", werr)
			require.NotEmpty(t, s.Stats().IOError)
			broken.Off()
			require.Error(t, s.Sync())
			require.Error(t, s.Close())
		})
	}
}

// TestSyncAlwaysDeleteWaitsForDurability: under SyncAlways, a Delete that
// finds the key already deleted by another writer whose tombstone is not
// durable yet must not return before that tombstone is: its nil says the
// key is gone, and a power cut right after must not bring it back.
func TestSyncAlwaysDeleteWaitsForDurability(t *testing.T) {
	defer goleak.VerifyNone(t)
	mem := vfs.NewMem()
	var mu sync.Mutex
	var gate chan struct{} // when set, fsyncs wait on it
	entered := make(chan struct{}, 16)
	inj := errorfs.InjectorFunc(func(c errorfs.Call) bool {
		if c.Op != errorfs.OpSync {
			return false
		}
		mu.Lock()
		g := gate
		mu.Unlock()
		if g != nil {
			entered <- struct{}{}
			<-g
		}
		return false
	})
	s, err := rskv.Open("db", smallOptions(rskv.SyncAlways, false, errorfs.Wrap(mem, inj)))
	require.NoError(t, err)
	require.NoError(t, s.Put([]byte("k"), []byte("v")))

	g := make(chan struct{})
	mu.Lock()
	gate = g
	mu.Unlock()
	aDone := make(chan error, 1)
	go func() { aDone <- s.Delete([]byte("k")) }()
	<-entered // A's tombstone is written; its fsync is held

	bDone := make(chan error, 1)
	go func() { bDone <- s.Delete([]byte("k")) }()
	var clone *vfs.MemFS
	select {
	case err := <-bDone:
		// B returned while A's fsync is still held: its acknowledgement
		// must already be durable.
		require.NoError(t, err)
		clone = mem.CrashClone()
		mu.Lock()
		gate = nil
		mu.Unlock()
		close(g)
	case <-time.After(200 * time.Millisecond):
		// B is waiting, as it should; let the syncs go.
		mu.Lock()
		gate = nil
		mu.Unlock()
		close(g)
		require.NoError(t, <-bDone)
		clone = mem.CrashClone()
	}
	require.NoError(t, <-aDone)
	require.NoError(t, s.Close())

	s, err = rskv.Open("db", smallOptions(rskv.SyncAlways, false, clone))
	require.NoError(t, err)
	defer s.Close()
	v, err := s.Get([]byte("k"))
	require.ErrorIs(t, err, rskv.ErrNotFound, "an acknowledged Delete was undone by a power cut: k = %q", v)
}

// TestBackgroundCheckpointFailureIsReported: a checkpoint the background
// checkpointer cannot make durable (its file's fsync fails) does not poison
// the store — the log, not the checkpoint, holds the data, and it is still
// synced — but it is reported: in the service's row of Services(), and by
// Close, whose own checkpoint fails the same way. The data survives.
func TestBackgroundCheckpointFailureIsReported(t *testing.T) {
	defer goleak.VerifyNone(t)
	mem := vfs.NewMem()
	var broken errorfs.Toggle
	fs := errorfs.Wrap(mem, errorfs.All(&broken, errorfs.Ops(errorfs.OpSync), errorfs.PathContains(".ckpt")))
	o := smallOptions(rskv.SyncAlways, true, fs)
	o.CheckpointInterval = time.Hour // only when triggered
	faults := &rskv.ServiceFaults{}
	o.ServiceFaults = faults
	s, err := rskv.Open("db", o)
	require.NoError(t, err)
	// More log than the index is worth, so that Close takes a checkpoint.
	for i := 0; i < 1500; i++ {
		require.NoError(t, s.Put([]byte(fmt.Sprintf("k%04d", i)), encodeValue("k", uint64(i+1), 0)))
	}
	broken.On()
	require.NoError(t, faults.Trigger("checkpointer"))
	lastError := func() string {
		for _, st := range s.Services() {
			if st.Name == "checkpointer" {
				return st.LastError
			}
		}
		return ""
	}
	deadline := time.Now().Add(20 * time.Second)
	for lastError() == "" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	require.Contains(t, lastError(), "injected", "the checkpointer's failure is not reported")
	require.Empty(t, s.Stats().IOError, "a checkpoint file's failure must not poison the log")
	require.NoError(t, s.Put([]byte("after"), []byte("v")), "the store keeps taking durable writes")
	cps, err := s.Checkpoints()
	require.NoError(t, err)
	require.Empty(t, cps, "a checkpoint whose file failed to sync must not be listed")
	err = s.Close()
	require.Error(t, err, "Close's checkpoint failed the same way and must say so")
	require.True(t, stderrors.Is(err, errorfs.ErrInjected), "got %v", err)

	s, err = rskv.Open("db", smallOptions(rskv.SyncAlways, false, mem.CrashClone()))
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, 1501, s.Len())
	got, err := s.Get([]byte("after"))
	require.NoError(t, err)
	require.Equal(t, "v", string(got))
}
