package test_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// TestPowerLossBesideEmptySegment: a power cut right after the log moved
// into a new segment leaves that segment with its header only (created and
// synced before any data). The store recovered from that must keep writing
// in a way a second power cut cannot turn into corruption: the data it
// writes after recovery, torn or not, must be taken for a torn tail.
func TestPowerLossBesideEmptySegment(t *testing.T) {
	seeds := pick(12, 60)
	var torn int
	for seed := 1; seed <= seeds; seed++ {
		mem := vfs.NewMem()
		o := smallOptions(rskv.SyncNone, false, mem)
		o.CheckpointInterval = -1
		// With 12 of the 16 pages mutable, the first flush after recovery
		// (when memory is full) ends exactly at the end of the first
		// segment.
		o.MutableFraction = 0.75
		s, err := rskv.Open("db", o)
		require.NoError(t, err)
		written := map[string][][]byte{}
		put := func(s *rskv.Store, i int) {
			k := fmt.Sprintf("k%03d", i%200)
			v := encodeValue(k, uint64(i+1), 0)
			require.NoError(t, s.Put([]byte(k), v))
			written[k] = append(written[k], v)
		}
		segs := func(fs *vfs.MemFS) int {
			names, err := fs.List("db")
			require.NoError(t, err)
			n := 0
			for _, name := range names {
				if len(name) > 4 && name[:4] == "seg-" {
					n++
				}
			}
			return n
		}
		// Vary the layout with the seed.
		i := 0
		for j := 0; j < seed; j++ {
			put(s, 1000+j)
		}
		for segs(mem) < 2 {
			put(s, i)
			i++
		}
		// First power cut: the new segment keeps its synced header only.
		fs := mem.CrashClone()
		require.NoError(t, s.Close())
		o.FS = fs
		s, err = rskv.Open("db", o)
		require.NoError(t, err)
		// Small records first, to go into the end of the last page of the
		// first segment if there is room.
		for j := 0; j < 8; j++ {
			k := fmt.Sprintf("t%d", j)
			require.NoError(t, s.Put([]byte(k), []byte{'t'}))
			written[k] = append(written[k], []byte{'t'})
		}
		// Write until the log is flushed once more, not synced. (Before
		// the fix that flush went into the first segment, up to its end.)
		for f0 := s.Stats().FlushedAddress; s.Stats().FlushedAddress == f0; {
			put(s, i)
			i++
		}
		// Second power cut, keeping a random part of the unsynced writes.
		clone := fs.CrashCloneTorn(rand.New(rand.NewPCG(uint64(seed), 5)))
		require.NoError(t, s.Close())
		o.FS = clone
		s, err = rskv.Open("db", o)
		require.NoError(t, err, "seed %d: a second power cut made the store unreadable", seed)
		if s.Stats().Recovery.TornAt != 0 {
			torn++
			require.Positive(t, s.Stats().Recovery.TornBytes)
		}
		n := 0
		require.NoError(t, s.Scan(nil, func(k, v []byte) bool {
			n++
			require.True(t, slices.ContainsFunc(written[string(k)], func(w []byte) bool { return string(w) == string(v) }),
				"seed %d: %s = %q was never written", seed, k, clip(v))
			return true
		}))
		require.Equal(t, n, s.Len())
		require.NoError(t, s.Close())
	}
	t.Logf("%d seeds, %d with a torn tail", seeds, torn)
	require.Positive(t, torn, "no seed tore the writes after the first recovery")
}

// TestRecoveryReportsReplay checks what Stats().Recovery says about a full
// replay of a log of several segments of more than one recovery read
// (1 MiB) each: every record counted, and BytesReplayed the size of the
// log replayed (up to the padding of the last page), not only the bytes of
// the last read.
func TestRecoveryReportsReplay(t *testing.T) {
	fs := vfs.NewMem()
	o := &rskv.Options{
		MemorySize:         4 << 20,
		PageSize:           64 << 10,
		SegmentSize:        4 << 20,
		CheckpointInterval: -1,
		GCInterval:         -1,
		DisableBackground:  true,
		FS:                 fs,
	}
	o.SetSyncMode(rskv.SyncNone)
	s, err := rskv.Open("db", o)
	require.NoError(t, err)
	const n = 40000
	val := bytes.Repeat([]byte{'v'}, 200)
	for i := 0; i < n; i++ {
		require.NoError(t, s.Put([]byte(fmt.Sprintf("key-%06d", i)), val))
	}
	tail := s.Stats().TailAddress
	require.NoError(t, s.Close())
	require.Greater(t, tail, uint64(2*o.SegmentSize), "the log must span segments")

	s, err = rskv.Open("db", o)
	require.NoError(t, err)
	defer s.Close()
	rec := s.Stats().Recovery
	require.Equal(t, int64(n), rec.Records)
	require.Equal(t, tail, rec.To)
	span := int64(rec.To - rec.From)
	require.InDelta(t, span, rec.BytesReplayed, float64(o.PageSize), "recovery %+v", rec)
	require.Equal(t, n, s.Len())
}
