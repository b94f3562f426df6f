package test_test

import (
	"bytes"
	stderrors "errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/pkg/rskv"
)

// The corruption tests build a small store on the OS file system, damage
// one of its files the way a disk, a careless operator or a bug would, and
// reopen it. Each case demands one of two outcomes, chosen per case by
// what the engine can know:
//
//   - a correct recovery: Open succeeds and every key has exactly the value
//     it had at Close (a damaged checkpoint is skipped, with the reason in
//     Stats().Recovery.SkippedCheckpoints; a torn durable mark is ignored);
//   - ErrCorruption, matched with the standard errors.Is as API.md
//     promises, with a message naming the damaged file.
//
// Never wrong data: a case that opens is checked key by key, and a value
// the engine cannot vouch for must come back as ErrCorruption, not as
// bytes that were never written.

const (
	corruptKeys   = 600
	segHeaderSize = 4096 // log.SegmentHeaderSize
	recHeaderSize = 24   // log.RecordHeaderSize
)

func corruptOptions() *rskv.Options {
	o := &rskv.Options{
		MemorySize:         64 << 10,
		PageSize:           4 << 10,
		SegmentSize:        16 << 10,
		IndexBuckets:       1 << 10,
		MutableFraction:    0.5,
		CheckpointInterval: -1, // no checkpoint unless the case takes one (Close too)
		GCInterval:         -1,
		DisableBackground:  true,
	}
	o.SetSyncMode(rskv.SyncNone)
	return o
}

func ckey(i int) string { return fmt.Sprintf("key-%05d", i) }

// cvalue is the value of key i; it does not contain "key-", so a key's
// bytes occur once in the log: in its record's key field.
func cvalue(i int) string {
	return fmt.Sprintf("val:%05d:%s", i, strings.Repeat(string(rune('a'+i%26)), 40+i%50))
}

// corruptStore is a closed store and what it holds.
type corruptStore struct {
	dir        string
	want       map[string]string
	checkpoint []uint64 // checkpoint IDs taken, oldest first
}

// buildCorruptStore writes corruptKeys keys, each once, taking a checkpoint
// after each of the given fractions of them, and closes the store.
func buildCorruptStore(t *testing.T, checkpointsAt ...float64) *corruptStore {
	t.Helper()
	cs := &corruptStore{dir: t.TempDir(), want: map[string]string{}}
	s, err := rskv.Open(cs.dir, corruptOptions())
	require.NoError(t, err)
	next := 0
	for _, f := range append(checkpointsAt, 1) {
		for ; next < int(f*corruptKeys); next++ {
			require.NoError(t, s.Put([]byte(ckey(next)), []byte(cvalue(next))))
			cs.want[ckey(next)] = cvalue(next)
		}
		if f < 1 {
			ci, err := s.Checkpoint()
			require.NoError(t, err)
			cs.checkpoint = append(cs.checkpoint, ci.ID)
		}
	}
	require.NoError(t, s.Close())
	require.Greater(t, len(cs.segments(t)), 3, "the cases need a log of several segments")
	return cs
}

func (cs *corruptStore) segments(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(cs.dir, "seg-*.log"))
	require.NoError(t, err)
	sort.Strings(m)
	return m
}

func (cs *corruptStore) checkpointFile(id uint64) string {
	return filepath.Join(cs.dir, fmt.Sprintf("checkpoint-%016x.ckpt", id))
}

// findRecord returns the segment file holding key's record and the
// record's offset in it.
func (cs *corruptStore) findRecord(t *testing.T, key string) (string, int64) {
	t.Helper()
	for _, p := range cs.segments(t) {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		if i := bytes.Index(b, []byte(key)); i >= 0 {
			return p, int64(i - recHeaderSize)
		}
	}
	t.Fatalf("no record of %s", key)
	return "", 0
}

// valueOffset is the offset of the value in a record with a 9-byte key.
const valueOffset = recHeaderSize + 16

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x20
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

func zeroBytes(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(make([]byte, n), off)
	require.NoError(t, err)
}

func truncateFile(t *testing.T, path string, size int64) {
	t.Helper()
	require.NoError(t, os.Truncate(path, size))
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

// expectCorruption opens the store and demands ErrCorruption (through the
// standard errors.Is) with a message containing every one of mention.
func expectCorruption(t *testing.T, dir string, mention ...string) {
	t.Helper()
	s, err := rskv.Open(dir, corruptOptions())
	if err == nil {
		problem := ""
		if cerr := checkAll(s, nil); cerr != nil {
			problem = cerr.Error()
		}
		_ = s.Close()
		t.Fatalf("Open succeeded on a damaged store, want ErrCorruption; contents: %s", orOK(problem))
	}
	require.True(t, stderrors.Is(err, rskv.ErrCorruption), "want ErrCorruption (standard errors.Is), got: %v", err)
	for _, m := range mention {
		require.Contains(t, err.Error(), m)
	}
	t.Logf("as expected: %v", err)
}

func orOK(s string) string {
	if s == "" {
		return "all keys correct (so the damage went unnoticed)"
	}
	return s
}

// checkAll compares every key with want (nil: the keys it can read must
// have their own values; used to describe a store that should not open).
func checkAll(s *rskv.Store, want map[string]string) error {
	var problems []string
	for i := 0; i < corruptKeys; i++ {
		k := ckey(i)
		v, err := s.Get([]byte(k))
		switch {
		case err == nil && string(v) != cvalue(i):
			problems = append(problems, fmt.Sprintf("%s = %q: WRONG DATA", k, v))
		case err != nil && stderrors.Is(err, rskv.ErrCorruption):
			// Reported damage is fine.
		case stderrors.Is(err, rskv.ErrNotFound):
			if want != nil {
				if _, ok := want[k]; ok {
					problems = append(problems, k+" lost")
				}
			} else {
				problems = append(problems, k+" lost")
			}
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", k, err))
		}
	}
	n := s.Len()
	if want != nil && n != len(want) {
		problems = append(problems, fmt.Sprintf("Len() = %d, want %d", n, len(want)))
	}
	if len(problems) == 0 {
		return nil
	}
	if len(problems) > 8 {
		problems = append(problems[:8], fmt.Sprintf("... %d problems in all", len(problems)))
	}
	return fmt.Errorf("%s", strings.Join(problems, "; "))
}

// expectRecovery opens the store and demands that it holds exactly want.
func expectRecovery(t *testing.T, cs *corruptStore) rskv.RecoveryInfo {
	t.Helper()
	s, err := rskv.Open(cs.dir, corruptOptions())
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	rec := s.Stats().Recovery
	require.NoError(t, checkAll(s, cs.want), "recovery %+v", rec)
	return rec
}

func TestCorruptCheckpoint(t *testing.T) {
	cases := []struct {
		name string
		// damage damages checkpoints and returns the ID recovery should
		// start from and how many checkpoints it should skip.
		damage func(t *testing.T, cs *corruptStore) (useID uint64, skipped int, mention string)
	}{
		{"flipped byte in the index", func(t *testing.T, cs *corruptStore) (uint64, int, string) {
			p := cs.checkpointFile(cs.checkpoint[1])
			flipByte(t, p, 128+64*3+5)
			return cs.checkpoint[0], 1, "checksum"
		}},
		{"truncated", func(t *testing.T, cs *corruptStore) (uint64, int, string) {
			p := cs.checkpointFile(cs.checkpoint[1])
			truncateFile(t, p, fileSize(t, p)/2)
			return cs.checkpoint[0], 1, "bytes, want"
		}},
		{"flipped byte in the trailer", func(t *testing.T, cs *corruptStore) (uint64, int, string) {
			p := cs.checkpointFile(cs.checkpoint[1])
			flipByte(t, p, fileSize(t, p)-3)
			return cs.checkpoint[0], 1, "end magic"
		}},
		{"flipped byte in the header", func(t *testing.T, cs *corruptStore) (uint64, int, string) {
			p := cs.checkpointFile(cs.checkpoint[1])
			flipByte(t, p, 42) // inside Start
			return cs.checkpoint[0], 1, "header"
		}},
		{"empty file", func(t *testing.T, cs *corruptStore) (uint64, int, string) {
			truncateFile(t, cs.checkpointFile(cs.checkpoint[1]), 0)
			return cs.checkpoint[0], 1, ""
		}},
		{"both damaged: full log scan", func(t *testing.T, cs *corruptStore) (uint64, int, string) {
			flipByte(t, cs.checkpointFile(cs.checkpoint[0]), 128+7)
			p := cs.checkpointFile(cs.checkpoint[1])
			truncateFile(t, p, fileSize(t, p)-1)
			return 0, 2, ""
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := buildCorruptStore(t, 0.3, 0.7)
			useID, skipped, mention := c.damage(t, cs)
			rec := expectRecovery(t, cs)
			require.Equal(t, useID, rec.CheckpointID, "recovery %+v", rec)
			require.Len(t, rec.SkippedCheckpoints, skipped, "recovery %+v", rec)
			require.Contains(t, rec.SkippedCheckpoints[0], filepath.Base(cs.checkpointFile(cs.checkpoint[1])))
			require.Contains(t, rec.SkippedCheckpoints[0], mention)
			// The fallback replayed the log the damaged checkpoint covered.
			require.Positive(t, rec.Records)
			// And a second open (after Close wrote nothing new) agrees.
			expectRecovery(t, cs)
		})
	}
}

func TestCorruptLog(t *testing.T) {
	segName := func(p string) string { return filepath.Base(p) }
	cases := []struct {
		name        string
		checkpoints []float64
		// damage returns what the error must mention, or nil if the store
		// must recover correctly.
		damage func(t *testing.T, cs *corruptStore) []string
	}{
		{"middle segment truncated", nil, func(t *testing.T, cs *corruptStore) []string {
			p := cs.segments(t)[1]
			truncateFile(t, p, fileSize(t, p)/2)
			return []string{segName(p)}
		}},
		{"middle segment missing", nil, func(t *testing.T, cs *corruptStore) []string {
			p := cs.segments(t)[1]
			require.NoError(t, os.Remove(p))
			return []string{segName(p), "missing"}
		}},
		{"middle segment header damaged", nil, func(t *testing.T, cs *corruptStore) []string {
			p := cs.segments(t)[1]
			flipByte(t, p, 2)
			return []string{segName(p)}
		}},
		{"flipped byte in a record of a middle segment", nil, func(t *testing.T, cs *corruptStore) []string {
			p, off := cs.findRecord(t, ckey(corruptKeys/3))
			flipByte(t, p, off+valueOffset+3)
			return []string{segName(p), "checksum"}
		}},
		{"flipped byte in a record's lengths", nil, func(t *testing.T, cs *corruptStore) []string {
			p, off := cs.findRecord(t, ckey(corruptKeys/3))
			flipByte(t, p, off+18)
			return []string{segName(p)}
		}},
		{"flipped byte in a record of the last segment, below the durable mark", nil, func(t *testing.T, cs *corruptStore) []string {
			p, off := cs.findRecord(t, ckey(corruptKeys-5))
			require.Equal(t, cs.segments(t)[len(cs.segments(t))-1], p)
			flipByte(t, p, off+valueOffset+1)
			return []string{segName(p)}
		}},
		{"zeroed record header in a middle segment", nil, func(t *testing.T, cs *corruptStore) []string {
			// A lost sector reads back as zeros: a zero info word looks like
			// the unused end of a page.
			p, off := cs.findRecord(t, ckey(corruptKeys/3))
			zeroBytes(t, p, off, recHeaderSize)
			return []string{segName(p)}
		}},
		{"zeroed page in a middle segment", nil, func(t *testing.T, cs *corruptStore) []string {
			p := cs.segments(t)[1]
			zeroBytes(t, p, segHeaderSize+4096, 4096) // the segment's second page
			return []string{segName(p), "page"}
		}},
		{"zeroed record header in the last segment, below the durable mark", nil, func(t *testing.T, cs *corruptStore) []string {
			p, off := cs.findRecord(t, ckey(corruptKeys-20))
			zeroBytes(t, p, off, recHeaderSize)
			return []string{segName(p)}
		}},
		{"last segment truncated in its data", nil, func(t *testing.T, cs *corruptStore) []string {
			segs := cs.segments(t)
			p := segs[len(segs)-1]
			truncateFile(t, p, segHeaderSize+(fileSize(t, p)-segHeaderSize)/2)
			return []string{"durable"}
		}},
		{"last segment truncated to its header", nil, func(t *testing.T, cs *corruptStore) []string {
			segs := cs.segments(t)
			truncateFile(t, segs[len(segs)-1], segHeaderSize)
			return []string{"durable"}
		}},
		{"last segment truncated to zero bytes", nil, func(t *testing.T, cs *corruptStore) []string {
			segs := cs.segments(t)
			p := segs[len(segs)-1]
			truncateFile(t, p, 0)
			return []string{segName(p)}
		}},
		{"last segment missing", nil, func(t *testing.T, cs *corruptStore) []string {
			segs := cs.segments(t)
			p := segs[len(segs)-1]
			require.NoError(t, os.Remove(p))
			return []string{segName(p)}
		}},
		{"STORE file damaged", nil, func(t *testing.T, cs *corruptStore) []string {
			flipByte(t, filepath.Join(cs.dir, "STORE"), 20)
			return []string{"STORE"}
		}},
		{"durable mark damaged: ignored, data intact", nil, func(t *testing.T, cs *corruptStore) []string {
			segs := cs.segments(t)
			flipByte(t, segs[len(segs)-1], 64+2)
			return nil
		}},
		{"flipped byte in a record of the checkpoint's replay range", []float64{0.5}, func(t *testing.T, cs *corruptStore) []string {
			p, off := cs.findRecord(t, ckey(corruptKeys*3/4))
			flipByte(t, p, off+valueOffset+2)
			return []string{segName(p), "checksum"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := buildCorruptStore(t, c.checkpoints...)
			mention := c.damage(t, cs)
			if mention == nil {
				expectRecovery(t, cs)
				return
			}
			expectCorruption(t, cs.dir, mention...)
		})
	}
}

// TestCorruptBelowCheckpoint flips a byte in records that a checkpoint
// covers: recovery does not replay them, so Open may succeed, but reading
// such a record must report ErrCorruption, never return the altered bytes.
// One record is on disk only; the other is in the last pages, which Open
// loads back into memory.
func TestCorruptBelowCheckpoint(t *testing.T) {
	for _, c := range []struct {
		name string
		key  int
	}{
		{"record read from disk", 10},
		{"record loaded into memory at open", corruptKeys - 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			cs := buildCorruptStore(t, 0.999) // the checkpoint covers every key
			p, off := cs.findRecord(t, ckey(c.key))
			flipByte(t, p, off+valueOffset+4)
			s, err := rskv.Open(cs.dir, corruptOptions())
			if err != nil {
				require.True(t, stderrors.Is(err, rskv.ErrCorruption), "got %v", err)
				require.Contains(t, err.Error(), filepath.Base(p))
				return
			}
			defer s.Close()
			v, err := s.Get([]byte(ckey(c.key)))
			require.Error(t, err, "Get returned %q for a damaged record (want %q)", v, cvalue(c.key))
			require.True(t, stderrors.Is(err, rskv.ErrCorruption), "got %v", err)
			require.Contains(t, err.Error(), filepath.Base(p))
		})
	}
}
