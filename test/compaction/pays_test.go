package compaction

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// segmentFiles returns the log segment files in dir with their sizes.
func segmentFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]int64{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "seg-") && strings.HasSuffix(e.Name(), ".log") { // segments, not delta-*.log
			info, err := e.Info()
			require.NoError(t, err)
			out[e.Name()] = info.Size()
		}
	}
	return out
}

// requireNoneDeleted checks that every segment file in before is still
// there in after. (Compact syncs the log first, and the sync may write the
// in-memory tail into a segment file of its own, so new files may appear.)
func requireNoneDeleted(t *testing.T, before, after map[string]int64) {
	t.Helper()
	for name := range before {
		_, ok := after[name]
		require.True(t, ok, "segment %s was deleted by a compaction that had nothing to do", name)
	}
}

func dirBytes(files map[string]int64) int64 {
	var n int64
	for _, s := range files {
		n += s
	}
	return n
}

// requireNothingDone checks a compaction that had nothing to do.
func requireNothingDone(t *testing.T, cs rskv.CompactStats) {
	t.Helper()
	require.Zero(t, cs.RecordsMoved, "a fully live store has nothing to move")
	require.Zero(t, cs.BytesCopied)
	require.Zero(t, cs.BytesFreed)
	require.Zero(t, cs.BytesReclaimed)
	require.Equal(t, cs.BeginBefore, cs.BeginAfter)
}

// TestCompactFullyLiveStoreMovesNothing: a store whose every record is its
// key's newest version, spilled far beyond memory, gives compaction nothing
// to free; Compact must copy nothing and report nothing freed, in the
// session that wrote it and after a reopen (where the dead-byte estimates are
// replayed, not counted, and compaction reads a segment to check it).
func TestCompactFullyLiveStoreMovesNothing(t *testing.T) {
	dir := t.TempDir()
	o := smallOptions()
	o.GCInterval = -1
	// An index sized for the keys: a growth racing a Put makes the Put's
	// first append lose its swap, and that invalid record is dead bytes,
	// which this test means to have none of.
	o.IndexBuckets = 1 << 14
	s, err := rskv.Open(dir, o)
	require.NoError(t, err)
	const keys = 30_000 // ~2.4 MB of records in 1 MiB of memory
	for i := 0; i < keys; i++ {
		require.NoError(t, s.Put(key(i), value(i, 0, 48)))
	}
	require.NoError(t, s.Sync())
	st := s.Stats()
	require.Zero(t, st.DeadBytes)
	require.Greater(t, st.HeadAddress-st.BeginAddress, uint64(4*o.SegmentSize), "whole segments below the head")
	require.Zero(t, s.Stats().ReclaimableBytes)
	files := segmentFiles(t, dir)
	cs, err := s.Compact()
	require.NoError(t, err)
	requireNothingDone(t, cs)
	require.Zero(t, cs.RecordsScanned, "the counted estimate says there is nothing to gain: not even a read")
	requireNoneDeleted(t, files, segmentFiles(t, dir))
	_, err = s.Checkpoint()
	require.NoError(t, err)
	require.NoError(t, s.Close())

	for _, checkpoint := range []bool{true, false} {
		if !checkpoint {
			// Without checkpoints, recovery replays the whole log.
			require.NotEmpty(t, checkpointFiles(t, dir))
			for _, f := range checkpointFiles(t, dir) {
				require.NoError(t, os.Remove(filepath.Join(dir, f)))
			}
		}
		s, err = rskv.Open(dir, o)
		require.NoError(t, err)
		files := segmentFiles(t, dir)
		require.Zero(t, s.Stats().ReclaimableBytes)
		cs, err = s.Compact()
		require.NoError(t, err)
		requireNothingDone(t, cs)
		require.Positive(t, cs.RecordsScanned, "a replayed estimate is checked by reading")
		requireNoneDeleted(t, files, segmentFiles(t, dir))
		require.Equal(t, keys, s.Len())
		require.NoError(t, s.Close())
	}
}

func checkpointFiles(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "CHECKPOINT") || strings.HasSuffix(e.Name(), ".ckpt") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestCompactFreesDeadSegmentsOnly: with dead versions in the oldest
// segments, Compact deletes segment files and reports as freed exactly the
// bytes of the files it deleted, copies only live records, and leaves the
// data intact.
func TestCompactFreesDeadSegmentsOnly(t *testing.T) {
	dir := t.TempDir()
	o := smallOptions()
	o.GCInterval = -1
	s, err := rskv.Open(dir, o)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	const keys = 10_000
	for r := 0; r < 4; r++ {
		for i := 0; i < keys; i++ {
			// Each round's values are larger than the last's, so they
			// cannot be updated in place: every round appends.
			require.NoError(t, s.Put(key(i), value(i, r, 48+8*r)))
		}
		require.NoError(t, s.Sync())
	}
	st := s.Stats()
	require.Positive(t, st.DeadBytes)
	require.Positive(t, s.Stats().ReclaimableBytes)
	before := segmentFiles(t, dir)
	cs, err := s.Compact()
	require.NoError(t, err)
	after := segmentFiles(t, dir)

	var deleted int64
	for name, size := range before {
		if _, ok := after[name]; !ok {
			deleted += size
		}
	}
	require.Positive(t, deleted)
	require.Equal(t, deleted, cs.BytesFreed, "BytesFreed is the size of the files deleted")
	require.Equal(t, cs.BytesFreed, cs.BytesReclaimed)
	require.Greater(t, cs.BeginAfter, cs.BeginBefore)
	// Only live records were copied: fewer bytes than the range held, and
	// far fewer than were freed.
	require.Less(t, cs.BytesCopied, int64(cs.BeginAfter-cs.BeginBefore)/2)
	require.Equal(t, cs.RecordsMoved > 0, cs.BytesCopied > 0)
	require.Less(t, dirBytes(after), dirBytes(before))
	for i := 0; i < keys; i++ {
		v, err := s.Get(key(i))
		require.NoError(t, err)
		require.Equal(t, 3, decode(t, i, v))
	}
	// A second Compact right away finds nothing that pays.
	cs, err = s.Compact()
	require.NoError(t, err)
	require.Zero(t, cs.BytesCopied)
	require.Zero(t, s.Stats().ReclaimableBytes)
}

// TestCompactStopsAtLivePrefix: compaction takes a prefix of segments and
// stops at the first that does not pay, so live data at the front of the
// log is never rewritten, even with dead segments behind it.
func TestCompactStopsAtLivePrefix(t *testing.T) {
	dir := t.TempDir()
	o := smallOptions()
	o.GCInterval = -1
	s, err := rskv.Open(dir, o)
	require.NoError(t, err)
	const cold, hot = 20_000, 2000
	for i := 0; i < cold; i++ {
		require.NoError(t, s.Put(key(i), value(i, 0, 48)))
	}
	for r := 1; r <= 10; r++ {
		for i := cold; i < cold+hot; i++ {
			// Growing values: each round appends, leaving dead versions.
			require.NoError(t, s.Put(key(i), value(i, r, 48+8*r)))
		}
		require.NoError(t, s.Sync())
	}
	require.Positive(t, s.Stats().DeadBytes)
	cs, err := s.Compact()
	require.NoError(t, err)
	requireNothingDone(t, cs)
	require.Zero(t, s.Stats().ReclaimableBytes)
	_, err = s.Checkpoint()
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// After a reopen the checkpoint's dead bytes are spread over the log, so
	// the estimate of the live front looks worth a try: compaction checks
	// it, finds it live, and still moves nothing.
	s, err = rskv.Open(dir, o)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	cs, err = s.Compact()
	require.NoError(t, err)
	requireNothingDone(t, cs)
	require.Positive(t, cs.RecordsScanned, "a replayed estimate is checked by reading")
	require.Zero(t, s.Stats().ReclaimableBytes)
	for i := 0; i < cold+hot; i += 97 {
		v, err := s.Get(key(i))
		require.NoError(t, err)
		want := 0
		if i >= cold {
			want = 10
		}
		require.Equal(t, want, decode(t, i, v))
	}
}
