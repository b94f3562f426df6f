package compaction

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/racecheck"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

func key(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

// value encodes the key and a version, so a reader can tell a value the key
// never had.
func value(i, version, size int) []byte {
	v := make([]byte, size)
	binary.BigEndian.PutUint64(v, uint64(i))
	binary.BigEndian.PutUint64(v[8:], uint64(version))
	return v
}

func decode(t *testing.T, i int, v []byte) int {
	t.Helper()
	require.GreaterOrEqual(t, len(v), 16)
	require.Equal(t, uint64(i), binary.BigEndian.Uint64(v), "value of another key")
	return int(binary.BigEndian.Uint64(v[8:]))
}

func smallOptions() *rskv.Options {
	o := &rskv.Options{MemorySize: 1 << 20, PageSize: 16 << 10, SegmentSize: 64 << 10, CheckpointInterval: -1}
	return o
}

// TestOverwriteKeepsDiskBounded overwrites the same 10,000 keys many times
// with the collector running and checks that the log's disk use stays
// within a fixed multiple of the live data.
func TestOverwriteKeepsDiskBounded(t *testing.T) {
	o := smallOptions()
	o.GCInterval = 5 * time.Millisecond
	s, err := rskv.Open(t.TempDir(), o)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()

	// More live data than memory: with the delta log, overwrites of
	// records in memory stay in place and never grow the log, so only the
	// records evicted to disk are rewritten at the tail.
	const keys, size = 20_000, 48
	rounds := racecheck.Scale(60, 4)
	live := int64(keys * (24 + 8 + size)) // record header + key + value
	// Bound: the collector compacts at 50% dead (2x live) plus the two
	// segments of GCMinBytes, one segment being written, and the time the
	// collector needs to notice (a few segments at this write rate).
	bound := 4*live + 8*int64(o.SegmentSize)
	var peak int64
	for r := 0; r < rounds; r++ {
		for i := 0; i < keys; i++ {
			require.NoError(t, s.Put(key(i), value(i, r, size)))
		}
		// Pace the writer a little, as a steady workload would be, so the
		// bound measures the collector, not a burst outrunning a 5ms tick.
		time.Sleep(time.Millisecond)
		peak = max(peak, s.Stats().DiskBytes)
	}
	st := s.Stats()
	t.Logf("live %d bytes, peak disk %d (%.1fx), compactions %d", live, peak, float64(peak)/float64(live), st.Compactions)
	require.Positive(t, st.Compactions)
	require.LessOrEqual(t, peak, bound, "disk use %d exceeds %d (live %d)", peak, bound, live)
	require.Greater(t, st.TailAddress-st.BeginAddress, uint64(0))
	require.Less(t, int64(st.TailAddress-st.BeginAddress), int64(rounds)*live/4, "begin kept moving")
	for i := 0; i < keys; i++ {
		v, err := s.Get(key(i))
		require.NoError(t, err)
		require.Equal(t, rounds-1, decode(t, i, v))
	}
	require.Equal(t, keys, s.Len())
}

// TestCompactionWithConcurrentWritersAndReaders runs manual compactions in a
// loop while writers update keys and readers check them, then compares the
// store with the model of what the writers wrote.
func TestCompactionWithConcurrentWritersAndReaders(t *testing.T) {
	// A 256 KiB log: the 4x1500 keys do not fit, so writes spill to disk
	// and leave dead versions behind for compaction to chew on.
	o := &rskv.Options{MemorySize: 256 << 10, PageSize: 4 << 10, SegmentSize: 16 << 10,
		CheckpointInterval: -1, GCInterval: -1}
	s, err := rskv.Open(t.TempDir(), o)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()

	const writers, keysPer = 4, 1500
	ops := racecheck.Scale(8000, 4)
	final := make([][]int, writers) // final[w][k]: last version written (-1: deleted)
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := 0; w < writers; w++ {
		final[w] = make([]int, keysPer)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for op := 1; op <= ops; op++ {
				k := rng.IntN(keysPer)
				id := w*keysPer + k
				switch {
				case rng.IntN(10) == 0:
					if err := s.Delete(key(id)); err != nil {
						report(err)
						return
					}
					final[w][k] = -1
				case rng.IntN(3) == 0:
					_, err := s.RMW(key(id), func(old []byte, found bool) []byte { return value(id, op, 40) })
					if err != nil {
						report(err)
						return
					}
					final[w][k] = op
				default:
					if err := s.Put(key(id), value(id, op, 40+rng.IntN(40))); err != nil {
						report(err)
						return
					}
					final[w][k] = op
				}
			}
		}(w)
	}
	// Readers: a key's version never goes backwards while only its own
	// writer changes it (deletes reset the floor).
	var readers sync.WaitGroup
	for r := 0; r < 1; r++ {
		readers.Add(1)
		go func(r int) {
			defer readers.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			for {
				select {
				case <-done:
					return
				default:
				}
				id := rng.IntN(writers * keysPer)
				v, err := s.Get(key(id))
				if errors.Is(err, rskv.ErrNotFound) {
					continue
				}
				if err != nil {
					report(err)
					return
				}
				if binary.BigEndian.Uint64(v) != uint64(id) {
					report(errors.Newf("key %d holds a value of key %d", id, binary.BigEndian.Uint64(v)))
					return
				}
			}
		}(r)
	}
	var compactions int
	var moved int64
	go func() {
		wg.Wait()
		close(done)
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			cs, err := s.Compact()
			require.NoError(t, err)
			if cs.BeginAfter > cs.BeginBefore {
				compactions++
				moved += cs.RecordsMoved
				require.GreaterOrEqual(t, cs.RecordsScanned, cs.RecordsMoved)
			}
		}
	}
	readers.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Logf("%d compactions moved %d records", compactions, moved)
	require.Positive(t, compactions, "compaction must have run during the writes")

	check := func(s *rskv.Store) {
		live := 0
		for w := 0; w < writers; w++ {
			for k := 0; k < keysPer; k++ {
				id := w*keysPer + k
				v, err := s.Get(key(id))
				switch final[w][k] {
				case 0: // never written
					require.True(t, errors.Is(err, rskv.ErrNotFound), "key %d", id)
				case -1:
					require.True(t, errors.Is(err, rskv.ErrNotFound), "deleted key %d: %v", id, err)
				default:
					require.NoError(t, err, "key %d", id)
					require.Equal(t, final[w][k], decode(t, id, v), "key %d", id)
					live++
				}
			}
		}
		require.Equal(t, live, s.Len())
	}
	check(s)
	// One more compaction with everything quiet, then reopen.
	_, err = s.Compact()
	require.NoError(t, err)
	check(s)
}

// TestDeletesStayDeletedAfterCompactionAndReopen deletes half the keys,
// compacts until the tombstones and the versions they deleted are gone from
// disk, reopens, and checks nothing came back.
func TestDeletesStayDeletedAfterCompactionAndReopen(t *testing.T) {
	dir := t.TempDir()
	o := smallOptions()
	o.GCInterval = -1
	// Deleting every other key leaves the segments holding them half dead:
	// just under the default threshold, since the tombstones are dead in
	// their own (later) segments. Take segments a quarter dead.
	o.GCDeadFraction = 0.25
	s, err := rskv.Open(dir, o)
	require.NoError(t, err)
	const keys = 6000
	for r := 0; r < 3; r++ {
		for i := 0; i < keys; i++ {
			require.NoError(t, s.Put(key(i), value(i, r, 64)))
		}
	}
	for i := 0; i < keys; i += 2 {
		require.NoError(t, s.Delete(key(i)))
	}
	// Push everything behind the read-only region with fresh writes of
	// other keys, then compact: the deletes' tombstones are dropped.
	for i := keys; i < keys+12000; i++ {
		require.NoError(t, s.Put(key(i), value(i, 0, 64)))
	}
	// A checkpoint's sync puts the mutable region in the delta log (the
	// compaction's sync then folds it into the segment files): compare
	// what the log's files hold in all.
	_, err = s.Checkpoint()
	require.NoError(t, err)
	before := s.Stats()
	cs, err := s.Compact()
	require.NoError(t, err)
	require.Greater(t, cs.BeginAfter, cs.BeginBefore)
	require.Positive(t, cs.BytesReclaimed)
	after := s.Stats()
	require.Less(t, after.DiskBytes+after.DeltaBytes, before.DiskBytes+before.DeltaBytes)
	verify := func(s *rskv.Store) {
		for i := 0; i < keys; i++ {
			v, err := s.Get(key(i))
			if i%2 == 0 {
				require.True(t, errors.Is(err, rskv.ErrNotFound), "deleted key %d came back: %v", i, err)
				continue
			}
			require.NoError(t, err)
			require.Equal(t, 2, decode(t, i, v))
		}
		require.Equal(t, keys/2+12000, s.Len())
		n := 0
		require.NoError(t, s.Scan(nil, func(k, v []byte) bool {
			i := int(binary.BigEndian.Uint64(k))
			require.False(t, i < keys && i%2 == 0, "scan found deleted key %d", i)
			n++
			return true
		}))
		require.Equal(t, keys/2+12000, n)
	}
	verify(s)
	require.NoError(t, s.Close())

	s, err = rskv.Open(dir, o)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	verify(s)
	// Without the checkpoint Close wrote, recovery replays from begin: the
	// same answer.
	require.Greater(t, s.Stats().BeginAddress, uint64(64))
}

// TestCompactIdleStoreIsNoop checks that Compact with nothing behind the
// read-only region changes nothing and says so.
func TestCompactIdleStoreIsNoop(t *testing.T) {
	s, err := rskv.Open(t.TempDir(), smallOptions())
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, s.Put(key(1), value(1, 1, 16)))
	cs, err := s.Compact()
	require.NoError(t, err)
	require.Equal(t, cs.BeginBefore, cs.BeginAfter)
	require.Zero(t, cs.BytesReclaimed)
	// (That the collector then finds no compaction due is checked in
	// package rskv: the check is not part of the API.)
	v, err := s.Get(key(1))
	require.NoError(t, err)
	require.Equal(t, value(1, 1, 16), v)
}
