package test_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// Tests of the delta log (docs/durability.md): the delta file cut at every
// offset, damage in it, and power cuts at every file operation of a
// truncation (mutable flush) with in-place updates landing during it.

const deltaKeys = 40

func deltaKey(i int) []byte { return fmt.Appendf(nil, "key-%02d", i) }

// deltaValue has the same length for every version, so every overwrite
// after the first write is an in-place update.
func deltaValue(i, ver int) []byte { return fmt.Appendf(nil, "value-of-%02d-version-%06d", i, ver) }

// deltaSyncMode is the mode deltaOptions opens with. Both modes make
// in-place updates durable at Sync only here (the background services are
// off), but SyncPeriodic has the writers capture their records' images
// (writer-side capture) where SyncNone leaves them to the syncer's dirty
// list: withDeltaModes runs a test both ways.
var deltaSyncMode = rskv.SyncNone

// withDeltaModes runs test with deltaOptions in SyncNone (dirty list) and
// in SyncPeriodic (writer-side capture).
func withDeltaModes(t *testing.T, test func(t *testing.T)) {
	for _, m := range []struct {
		name string
		mode rskv.SyncMode
	}{{"dirty-list", rskv.SyncNone}, {"capture", rskv.SyncPeriodic}} {
		t.Run(m.name, func(t *testing.T) {
			defer func(m rskv.SyncMode) { deltaSyncMode = m }(deltaSyncMode)
			deltaSyncMode = m.mode
			test(t)
		})
	}
}

func deltaOptions(fs vfs.FS) *rskv.Options {
	return &rskv.Options{
		MemorySize:         256 << 10,
		PageSize:           4 << 10,
		SegmentSize:        64 << 10,
		SyncMode:           deltaSyncMode,
		CheckpointInterval: -1,
		GCInterval:         -1,
		DisableBackground:  true,
		FS:                 fs,
	}
}

// deltaState is the value of every key (nil: absent).
type deltaState [deltaKeys][]byte

// deltaFiles lists the delta files of the store in dir, oldest first.
func deltaFiles(t *testing.T, fs vfs.FS, dir string) []string {
	names, err := fs.List(dir)
	require.NoError(t, err)
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "delta-") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func memFileSize(t *testing.T, fs vfs.FS, name string) int64 {
	st, err := fs.Stat(name)
	require.NoError(t, err)
	return st.Size()
}

// buildDeltaStore writes every key, then overwrites some in place in
// rounds, with a Sync after each: one delta batch per Sync. It returns the
// state after each Sync and the delta file's size after each (its batch
// ends), with state[0] the empty store.
func buildDeltaStore(t *testing.T, fs vfs.FS, rounds int) (s *rskv.Store, states []deltaState, ends []int64) {
	s, err := rskv.Open("db", deltaOptions(fs))
	require.NoError(t, err)
	var st deltaState
	states = append(states, st)
	for r := 0; r <= rounds; r++ {
		for i := range deltaKeys {
			if r == 0 || (i*7+r)%3 == 0 {
				v := deltaValue(i, r)
				require.NoError(t, s.Put(deltaKey(i), v))
				st[i] = v
			}
		}
		require.NoError(t, s.Sync())
		states = append(states, st)
		files := deltaFiles(t, fs, "db")
		require.Len(t, files, 1, "no truncation ran")
		ends = append(ends, memFileSize(t, fs, path.Join("db", files[0])))
	}
	require.Positive(t, s.Stats().InPlaceUpdates)
	return s, states, ends
}

// putDeltaRound writes round r (every key in round 0, half of them in
// each round after) and syncs it, keeping the values in st.
func putDeltaRound(t *testing.T, s *rskv.Store, st *deltaState, r int) {
	t.Helper()
	for i := range deltaKeys {
		if r == 0 || (i+r)%2 == 0 {
			v := deltaValue(i, r)
			require.NoError(t, s.Put(deltaKey(i), v))
			st[i] = v
		}
	}
	require.NoError(t, s.Sync())
}

func requireState(t *testing.T, s *rskv.Store, want deltaState, msg string) {
	t.Helper()
	for i := range deltaKeys {
		got, err := s.Get(deltaKey(i))
		if want[i] == nil {
			require.ErrorIs(t, err, rskv.ErrNotFound, "%s: key %d", msg, i)
			continue
		}
		require.NoError(t, err, "%s: key %d", msg, i)
		require.Equal(t, string(want[i]), string(got), "%s: key %d", msg, i)
	}
}

// cutFile truncates name in fs to size, durably.
func cutFile(t *testing.T, fs vfs.FS, name string, size int64) {
	f, err := fs.OpenReadWrite(name)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(size))
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// TestDeltaCutAtEveryOffset: a power cut that leaves the delta file cut at
// any offset (a batch boundary, an entry boundary, mid-image) recovers
// exactly the state of the last batch that is whole: the torn batch is cut,
// never reported as corruption, never half applied.
func TestDeltaCutAtEveryOffset(t *testing.T) { withDeltaModes(t, testDeltaCutAtEveryOffset) }

func testDeltaCutAtEveryOffset(t *testing.T) {
	mem := vfs.NewMem()
	s, states, ends := buildDeltaStore(t, mem, 6)
	base := mem.CrashClone() // all synced: the same as a clean power cut
	require.NoError(t, s.Close())
	name := path.Join("db", deltaFiles(t, base, "db")[0])
	size := memFileSize(t, base, name)
	require.Equal(t, size, ends[len(ends)-1])
	step := int64(24) // every third 8-byte boundary (RSKV_LONG=1: all)
	if longRun() {
		step = 8
	}
	var offsets []int64
	for off := int64(0); off <= size; off += step {
		offsets = append(offsets, off, off+3)
	}
	for _, off := range offsets {
		if off > size {
			continue
		}
		fs := base.CrashClone()
		cutFile(t, fs, name, off)
		whole := 0
		for _, e := range ends {
			if e <= off {
				whole++
			}
		}
		c, err := rskv.Open("db", deltaOptions(fs))
		require.NoError(t, err, "delta cut at %d of %d", off, size)
		requireState(t, c, states[whole], fmt.Sprintf("delta cut at %d (%d whole batches)", off, whole))
		require.Empty(t, deltaFiles(t, fs, "db"), "recovery folds the delta log into the segments")
		require.NoError(t, c.Close())
		// And once more: the redo left segments that recover alone.
		c, err = rskv.Open("db", deltaOptions(fs))
		require.NoError(t, err)
		requireState(t, c, states[whole], fmt.Sprintf("reopen after delta cut at %d", off))
		require.NoError(t, c.Close())
	}
}

// TestDeltaDamage: damage in a batch that a later batch follows is
// corruption naming the delta file; damage in the last batch is a torn tail.
func TestDeltaDamage(t *testing.T) {
	mem := vfs.NewMem()
	s, states, ends := buildDeltaStore(t, mem, 4)
	base := mem.CrashClone()
	require.NoError(t, s.Close())
	name := path.Join("db", deltaFiles(t, base, "db")[0])
	flip := func(fs vfs.FS, off int64) {
		f, err := fs.OpenReadWrite(name)
		require.NoError(t, err)
		b := make([]byte, 1)
		_, err = f.ReadAt(b, off)
		require.NoError(t, err)
		b[0] ^= 0x40
		_, err = f.WriteAt(b, off)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
	}
	// Inside the second batch (its payload), with three after it.
	fs := base.CrashClone()
	flip(fs, ends[1]+60)
	_, err := rskv.Open("db", deltaOptions(fs))
	require.ErrorIs(t, err, rskv.ErrCorruption)
	require.Contains(t, err.Error(), "delta-")
	require.Contains(t, err.Error(), fmt.Sprintf("offset %d", ends[1]))
	// In the header of the last batch: cut, the state before it recovered.
	fs = base.CrashClone()
	last := len(ends) - 1
	flip(fs, ends[last-1]+20)
	c, err := rskv.Open("db", deltaOptions(fs))
	require.NoError(t, err)
	requireState(t, c, states[last], "last batch damaged")
	require.NoError(t, c.Close())
	// The file header: corruption.
	fs = base.CrashClone()
	flip(fs, 3)
	_, err = rskv.Open("db", deltaOptions(fs))
	require.ErrorIs(t, err, rskv.ErrCorruption)
}

// TestPowerLossDuringTruncation takes a torn power-cut clone before every
// file operation of an idle store's syncs, the last of which truncates the
// delta log into the segments (the second truncation, so it rewrites images
// the first wrote), while in-place updates land during it. Every clone must open and
// hold, for every key, its value at the last Sync or a later one.
func TestPowerLossDuringTruncation(t *testing.T) { withDeltaModes(t, testPowerLossDuringTruncation) }

func testPowerLossDuringTruncation(t *testing.T) {
	mem := vfs.NewMem()
	var (
		armed  bool
		s      *rskv.Store
		clones []*vfs.MemFS
		later  [deltaKeys][][]byte // values written during the truncation
		ops    int
		putErr error
	)
	inj := errorfs.InjectorFunc(func(c errorfs.Call) bool {
		if !armed {
			return false
		}
		ops++
		clones = append(clones, mem.CrashCloneTorn(rand.New(rand.NewPCG(uint64(ops), 7))))
		if ops%3 == 0 {
			// An in-place update racing the truncation.
			i := ops % deltaKeys
			v := deltaValue(i, 100000+ops)
			if err := s.Put(deltaKey(i), v); err != nil && putErr == nil {
				putErr = err
			}
			later[i] = append(later[i], v)
		}
		return false
	})
	fs := errorfs.Wrap(mem, inj)
	var err error
	s, err = rskv.Open("db", deltaOptions(fs))
	require.NoError(t, err)
	var st deltaState
	round := func(r int) { putDeltaRound(t, s, &st, r) }
	// A checkpoint folds the delta log into the segments only when it is
	// due; syncs that find nothing to write make the log idle, and the
	// one after the tenth truncates.
	idleTruncate := func() {
		for range 11 {
			require.NoError(t, s.Sync())
		}
	}
	round(0)
	round(1)
	idleTruncate() // the first truncation: fresh images
	require.Less(t, s.Stats().DeltaBytes, int64(1024), "the delta log was folded into the segments")
	round(2)
	round(3)
	armed = true
	idleTruncate()
	armed = false
	require.NoError(t, putErr)
	require.NoError(t, s.Close())
	require.Greater(t, ops, 10, "the truncation does file operations")
	for n, clone := range clones {
		c, err := rskv.Open("db", deltaOptions(clone))
		require.NoError(t, err, "power cut before operation %d of the truncation", n+1)
		for i := range deltaKeys {
			got, err := c.Get(deltaKey(i))
			require.NoError(t, err, "cut %d: key %d", n+1, i)
			ok := string(got) == string(st[i])
			for _, v := range later[i] {
				ok = ok || string(got) == string(v)
			}
			require.True(t, ok, "cut %d: key %d = %q, synced %q", n+1, i, got, st[i])
		}
		require.NoError(t, c.Close())
	}
}

// TestDeltaFaultDuringTruncation fails each file operation on the log's
// files during a checkpoint's sync, then during Close's sync and truncation,
// in turn: the failure is a sticky error, and a reopen (as is, and after a
// power cut) finds every value acknowledged by a Sync.
func TestDeltaFaultDuringTruncation(t *testing.T) { withDeltaModes(t, testDeltaFaultDuringTruncation) }

func testDeltaFaultDuringTruncation(t *testing.T) {
	for n := 1; ; n++ {
		mem := vfs.NewMem()
		armed, count, fired := false, 0, false
		var failed errorfs.Call
		inj := errorfs.InjectorFunc(func(c errorfs.Call) bool {
			// The log's files only: a failure there must be sticky.
			if !armed || !(strings.Contains(c.Path, "delta-") || strings.Contains(c.Path, "seg-") || c.Op == errorfs.OpSyncDir) {
				return false
			}
			count++
			if count == n {
				failed = c
				fired = true
				return true
			}
			return false
		})
		s, err := rskv.Open("db", deltaOptions(errorfs.Wrap(mem, inj)))
		require.NoError(t, err)
		var st deltaState
		for r := 0; r < 3; r++ {
			putDeltaRound(t, s, &st, r)
		}
		armed = true
		_, cerr := s.Checkpoint()
		armed = false
		if !fired {
			// A checkpoint folds the delta log into the segments only when
			// the truncation policy says so; Close always does: fail its
			// sync and truncation in turn too.
			require.NoError(t, cerr)
			armed = true
			closeErr := s.Close()
			armed = false
			if !fired {
				require.NoError(t, closeErr)
				require.Greater(t, n, 5)
				return
			}
			require.ErrorIs(t, closeErr, errorfs.ErrInjected, "operation %d (%v) in Close", n, failed)
			require.False(t, errors.Is(closeErr, rskv.ErrCorruption))
			for _, fs := range []*vfs.MemFS{mem, mem.CrashClone()} {
				c, err := rskv.Open("db", deltaOptions(fs))
				require.NoError(t, err, "reopen after failing operation %d (%v) in Close", n, failed)
				requireState(t, c, st, fmt.Sprintf("after failing operation %d in Close", n))
				require.NoError(t, c.Close())
			}
			continue
		}
		require.ErrorIs(t, cerr, errorfs.ErrInjected, "operation %d failed", n)
		if failed.Op != errorfs.OpSyncDir { // (a SyncDir may be the checkpoint's own)
			// Sticky: nothing is reported durable any more.
			require.Error(t, s.Sync(), "operation %d (%v)", n, failed)
			require.Error(t, s.Put(deltaKey(0), deltaValue(0, 99)), "operation %d (%v)", n, failed)
			closeErr := s.Close()
			require.Error(t, closeErr)
			require.False(t, errors.Is(closeErr, rskv.ErrCorruption))
		} else {
			_ = s.Close()
		}
		for _, fs := range []*vfs.MemFS{mem, mem.CrashClone()} {
			c, err := rskv.Open("db", deltaOptions(fs))
			require.NoError(t, err, "reopen after failing operation %d", n)
			requireState(t, c, st, fmt.Sprintf("after failing operation %d", n))
			require.NoError(t, c.Close())
		}
	}
}

// TestSyncModeZeroIsPeriodic: contract version 2 makes SyncPeriodic the
// zero value, so Options{SyncMode: SyncNone} means SyncNone (no syncer
// service) and the zero Options get the syncer.
func TestSyncModeZeroIsPeriodic(t *testing.T) {
	var zero rskv.SyncMode
	require.Equal(t, rskv.SyncPeriodic, zero)
	require.Equal(t, "periodic", zero.String())
	hasSyncer := func(o *rskv.Options) bool {
		o.FS = vfs.NewMem()
		s, err := rskv.Open("db", o)
		require.NoError(t, err)
		defer func() { require.NoError(t, s.Close()) }()
		for _, sv := range s.Services() {
			if sv.Name == "syncer" {
				return true
			}
		}
		return false
	}
	require.True(t, hasSyncer(&rskv.Options{MemorySize: 1 << 20}))
	require.False(t, hasSyncer(&rskv.Options{MemorySize: 1 << 20, SyncMode: rskv.SyncNone}))
	require.False(t, hasSyncer((&rskv.Options{MemorySize: 1 << 20}).SetSyncMode(rskv.SyncNone)))
}

// TestPowerLossCheckpointDuringDeltaSync runs hot in-place writers (few
// keys, so most updates are in place) while the background syncer writes a
// delta batch every millisecond and the checkpointer takes a checkpoint
// (whose sync and truncation interleave with the syncer's batches) every
// few milliseconds, and a maintainer calls Sync, Checkpoint and Compact
// (concurrently with the syncer); it cuts the power (torn)
// at random moments. Every clone must open and hold what the contract
// promises, checked against the journal as TestPowerLoss does.
func TestPowerLossCheckpointDuringDeltaSync(t *testing.T) {
	var inPlace, checkpoints uint64
	defer func() {
		t.Logf("%d in-place updates, %d checkpoints", inPlace, checkpoints)
		require.Positive(t, inPlace)
		require.Positive(t, checkpoints)
	}()
	for seed := uint64(1); seed <= uint64(pick(4, 30)); seed++ {
		fs := vfs.NewMem()
		start, startVals := map[string]uint64{}, map[string][]byte{}
		opts := func(fs vfs.FS, bg bool) *rskv.Options {
			o := smallOptions(rskv.SyncPeriodic, bg, fs)
			o.MemorySize = 256 << 10 // the hot keys stay mutable
			o.SyncInterval = time.Millisecond
			o.CheckpointInterval = 3 * time.Millisecond
			return o
		}
		for cycle := uint64(1); cycle <= 2; cycle++ {
			s, err := rskv.Open("db", opts(fs, true))
			require.NoError(t, err)
			w := workload{writers: 2, keysPerWriter: 6, maintEvery: 2 * time.Millisecond, manual: true,
				round: seed<<8 | cycle, seed: seed*10 + cycle}
			j := &journal{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.run(ctx, s, j, start) }()
			time.Sleep(time.Duration(5+seed%7*3) * time.Millisecond)
			cut := j.len()
			clone := fs.CrashCloneTorn(rand.New(rand.NewPCG(seed, cycle)))
			cancel()
			require.NoError(t, <-done)
			st := s.Stats()
			inPlace += st.InPlaceUpdates
			checkpoints += st.Checkpoints
			require.NoError(t, s.Close())

			fs = clone
			s, err = rskv.Open("db", opts(fs, false))
			require.NoError(t, err, "seed %d cycle %d: open after power loss", seed, cycle)
			m := buildModel(start, startVals, j.snapshot(), cut, false)
			start, startVals, err = verifyStore(s, m)
			require.NoError(t, err, "seed %d cycle %d (cut %d, %d syncs before it; %d in place, %d checkpoints)",
				seed, cycle, cut, m.syncs, st.InPlaceUpdates, st.Checkpoints)
			require.NoError(t, s.Close())
		}
	}
}

// TestDeltaRedoFaultsAndPowerCuts: the redo of a crash's delta log (reads
// of the delta files and of the segment pages it patches, the patched
// pages' writes, syncs, marks, removals) with each file operation of Open
// failed in turn, and with a torn power cut before each: a failed Open
// returns an error wrapping the injected one, and a healthy reopen (as the
// files are, and after the power cut) finds the state of the last Sync.
func TestDeltaRedoFaultsAndPowerCuts(t *testing.T) {
	mem := vfs.NewMem()
	s, states, _ := buildDeltaStore(t, mem, 4)
	want := states[len(states)-1]
	crashed := mem.CrashClone() // the store as a kill -9 after the last Sync leaves it
	require.NoError(t, s.Close())
	require.NotEmpty(t, deltaFiles(t, crashed, "db"))
	for n := 1; ; n++ {
		fs := crashed.CrashClone()
		count, failed, opening := 0, false, true
		var cut *vfs.MemFS
		inj := errorfs.InjectorFunc(func(c errorfs.Call) bool {
			if !opening {
				return false
			}
			count++
			if count == n {
				cut = fs.CrashCloneTorn(rand.New(rand.NewPCG(uint64(n), 3)))
				failed = true
				return true
			}
			return false
		})
		c, err := rskv.Open("db", deltaOptions(errorfs.Wrap(fs, inj)))
		opening = false
		if !failed {
			require.NoError(t, err)
			requireState(t, c, want, "no fault")
			require.NoError(t, c.Close())
			require.Greater(t, n, 10, "the redo does file operations")
			return
		}
		if err != nil {
			require.ErrorIs(t, err, errorfs.ErrInjected, "operation %d", n)
		} else {
			requireState(t, c, want, fmt.Sprintf("operation %d failed, Open survived", n))
			_ = c.Close()
		}
		for _, f := range []*vfs.MemFS{fs, cut} {
			c, err := rskv.Open("db", deltaOptions(f))
			require.NoError(t, err, "reopen after operation %d failed", n)
			requireState(t, c, want, fmt.Sprintf("reopen after operation %d failed", n))
			require.NoError(t, c.Close())
		}
	}
}
