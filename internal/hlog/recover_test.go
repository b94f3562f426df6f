package hlog

import (
	stderrors "errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// read returns the record at addr, from memory or disk, as the store would.
func (tl *testLog) read(addr uint64) (key, value []byte, err error) {
	h := tl.em.Protect()
	defer h.Release()
	if addr >= tl.l.Head() {
		m := tl.l.Mem(addr)
		return append([]byte(nil), m.Key()...), m.AppendValue(nil, addr < tl.l.SafeReadOnly()), nil
	}
	rec, _, err := tl.l.ReadRecord(addr, nil)
	if err != nil {
		return nil, nil, err
	}
	return rec.Key, rec.Value, nil
}

func (tl *testLog) requireReadable(addrs []uint64, start int) {
	tl.t.Helper()
	for i, a := range addrs {
		k, v, err := tl.read(a)
		require.NoError(tl.t, err, "record %d at %#x", start+i, a)
		require.Equal(tl.t, testKey(start+i), k)
		require.Equal(tl.t, testValue(start+i), v)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

func truncateFile(t testing.TB, path string, size int64) {
	t.Helper()
	require.NoError(t, os.Truncate(path, size))
}

func TestRecoverCleanLog(t *testing.T) {
	dir := t.TempDir()
	tl := mustOpenTestLog(t, dir, smallGeometry)
	require.Equal(t, RecoveryReport{From: FirstAddress, End: FirstAddress}, tl.rep, "a new log")
	addrs := tl.writeRecords(0, 300)
	tail := tl.l.Tail()
	tl.close()
	require.Greater(t, len(segments(t, dir)), 3, "the test needs several segments")

	tl = mustOpenTestLog(t, dir, smallGeometry)
	defer tl.close()
	tl.requireReplayed(addrs)
	require.Zero(t, tl.rep.TornAt)
	require.Zero(t, tl.rep.TornBytes)
	require.Empty(t, tl.rep.Removed)
	require.Equal(t, int64(300), tl.rep.Records)
	require.Equal(t, tail, tl.rep.End)
	require.Equal(t, tail, tl.l.Tail())
	require.Greater(t, tl.rep.BytesScanned, int64(0))
	// Start brought the last pages back into memory; older ones are on disk.
	require.Less(t, tl.l.Head(), tail)
	require.Greater(t, tl.l.Head(), addrs[0])
	tl.requireReadable(addrs, 0)

	// The reopened log goes on where it stopped.
	more := tl.writeRecords(300, 50)
	require.GreaterOrEqual(t, more[0], tail)
	tl.requireReadable(more, 300)
}

// lastFlushedRecord returns the index of the last record wholly below the
// flushed address.
func lastFlushedRecord(t testing.TB, tl *testLog, addrs []uint64) int {
	flushed := tl.l.Flushed()
	for i := len(addrs) - 1; i >= 0; i-- {
		if addrs[i]+RecordSize(len(testKey(i)), len(testValue(i))) <= flushed {
			return i
		}
	}
	t.Fatal("nothing flushed")
	return -1
}

// crashWithUnsyncedTail writes 60 records and makes them durable with
// SyncAll, then writes 300 more that reach disk only through inline flushes
// (no sync, no durable mark), and crashes. It returns every record's address
// and the index of the last one on disk, which is in the newest segment and
// above its durable mark.
func crashWithUnsyncedTail(t *testing.T, dir string) ([]uint64, int) {
	tl := mustOpenTestLog(t, dir, smallGeometry)
	addrs := tl.writeRecords(0, 60)
	require.NoError(t, tl.l.SyncAll())
	addrs = append(addrs, tl.writeRecords(60, 300)...)
	last := lastFlushedRecord(t, tl, addrs)
	seg := smallGeometry.segmentOf(addrs[last])
	segs := segments(t, dir)
	require.Equal(t, seg, segs[len(segs)-1], "the last flushed record is in the newest segment")
	mark, err := tl.l.dev.readMark(seg)
	require.NoError(t, err)
	require.Less(t, mark, addrs[last], "and above its durable mark")
	tl.crash()
	return addrs, last
}

// TestRecoverTornTail cuts the last record on disk in various ways: each is
// a torn write, cut off and reported, and the log goes on after it.
func TestRecoverTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string, addr, size uint64)
	}{
		{"cut in value", func(t *testing.T, dir string, addr, size uint64) {
			truncateFile(t, segPath(dir, smallGeometry.segmentOf(addr)), smallGeometry.fileOffset(addr)+int64(size)/2+1)
		}},
		{"cut in header", func(t *testing.T, dir string, addr, _ uint64) {
			truncateFile(t, segPath(dir, smallGeometry.segmentOf(addr)), smallGeometry.fileOffset(addr)+13)
		}},
		{"garbage value", func(t *testing.T, dir string, addr, size uint64) {
			smallGeometry.writeFileAt(t, dir, addr+size-8, []byte("GARBAGE!"))
		}},
		{"flipped bit", func(t *testing.T, dir string, addr, _ uint64) {
			smallGeometry.xorFileByte(t, dir, addr+RecordHeaderSize, 0x04)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			addrs, last := crashWithUnsyncedTail(t, dir)
			size := RecordSize(len(testKey(last)), len(testValue(last)))
			tc.damage(t, dir, addrs[last], size)

			tl, err := openTestLog(t, dir, smallGeometry)
			require.NoError(t, err)
			require.Equal(t, addrs[last], tl.rep.TornAt)
			require.Greater(t, tl.rep.TornBytes, int64(0))
			tl.requireReplayed(addrs[:last])
			require.Equal(t, addrs[last], tl.rep.End, "records are contiguous here")
			path := segPath(dir, smallGeometry.segmentOf(addrs[last]))
			require.Equal(t, smallGeometry.fileOffset(addrs[last]), fileSize(t, path), "the torn bytes are cut off the file")
			tl.requireReadable(addrs[:last], 0)

			// Writing on after the cut and reopening gives a clean log.
			more := tl.writeRecords(last, 40)
			tl.close()
			tl = mustOpenTestLog(t, dir, smallGeometry)
			defer tl.close()
			require.Zero(t, tl.rep.TornAt)
			tl.requireReplayed(append(addrs[:last:last], more...))
		})
	}
}

// TestRecoverCorruption damages the log where a torn write cannot explain
// it: each case must fail with ErrCorruption (as seen by the standard
// errors.Is) and change nothing on disk.
func TestRecoverCorruption(t *testing.T) {
	g := smallGeometry
	type setup struct {
		dir   string
		addrs []uint64
		last  int // last record on disk
	}
	closed := func(t *testing.T) setup {
		dir := t.TempDir()
		tl := mustOpenTestLog(t, dir, g)
		addrs := tl.writeRecords(0, 300)
		tl.close()
		return setup{dir, addrs, len(addrs) - 1}
	}
	crashed := func(t *testing.T) setup {
		dir := t.TempDir()
		addrs, last := crashWithUnsyncedTail(t, dir)
		return setup{dir, addrs, last}
	}
	recordIn := func(s setup, seg uint64) int {
		for i, a := range s.addrs[:s.last] {
			if g.segmentOf(a) == seg && i > 0 && g.segmentOf(s.addrs[i-1]) == seg {
				return i
			}
		}
		panic("no record in segment")
	}
	for _, tc := range []struct {
		name   string
		setup  func(*testing.T) setup
		damage func(t *testing.T, s setup)
	}{
		{"flipped byte in a middle segment", closed, func(t *testing.T, s setup) {
			i := recordIn(s, 1)
			g.xorFileByte(t, s.dir, s.addrs[i]+RecordHeaderSize+2, 0x40)
		}},
		{"flipped byte in the first record", closed, func(t *testing.T, s setup) {
			g.xorFileByte(t, s.dir, s.addrs[0]+3, 0x01)
		}},
		{"flipped byte below the durable mark of the newest segment", closed, func(t *testing.T, s setup) {
			i := s.last - 3
			g.xorFileByte(t, s.dir, s.addrs[i]+RecordHeaderSize, 0x01)
		}},
		{"flipped byte in the last record below the durable mark", closed, func(t *testing.T, s setup) {
			g.xorFileByte(t, s.dir, s.addrs[s.last]+RecordHeaderSize, 0x01)
		}},
		{"last record cut below the durable mark", closed, func(t *testing.T, s setup) {
			a := s.addrs[s.last]
			truncateFile(t, segPath(s.dir, g.segmentOf(a)), g.fileOffset(a)+20)
		}},
		{"missing middle segment", closed, func(t *testing.T, s setup) {
			require.NoError(t, os.Remove(segPath(s.dir, 2)))
		}},
		{"missing first segment", closed, func(t *testing.T, s setup) {
			require.NoError(t, os.Remove(segPath(s.dir, 0)))
		}},
		{"middle segment cut short", closed, func(t *testing.T, s setup) {
			truncateFile(t, segPath(s.dir, 1), SegmentHeaderSize+1000)
		}},
		{"damaged record followed by a valid one, above the mark", crashed, func(t *testing.T, s setup) {
			segs := segments(t, s.dir)
			i := recordIn(s, segs[len(segs)-1])
			require.Less(t, i, s.last)
			g.xorFileByte(t, s.dir, s.addrs[i]+RecordHeaderSize, 0x01)
		}},
		{"damaged record in an older segment, above its mark", crashed, func(t *testing.T, s setup) {
			segs := segments(t, s.dir)
			i := recordIn(s, segs[len(segs)-2])
			g.xorFileByte(t, s.dir, s.addrs[i]+RecordHeaderSize, 0x01)
		}},
		{"zeroed record header in the middle of a page", closed, func(t *testing.T, s setup) {
			// A lost write that left zeros, say: the zero info word looks like
			// the end of the page, but the page goes on.
			i := recordIn(s, 1)
			for s.addrs[i+1]>>g.pageBits != s.addrs[i]>>g.pageBits {
				i++
			}
			g.writeFileAt(t, s.dir, s.addrs[i], make([]byte, 8))
		}},
		{"zeroed record header in the middle of a page, above the mark", crashed, func(t *testing.T, s setup) {
			segs := segments(t, s.dir)
			i := recordIn(s, segs[len(segs)-1])
			for s.addrs[i+1]>>g.pageBits != s.addrs[i]>>g.pageBits {
				i++
			}
			require.Less(t, i+1, s.last)
			g.writeFileAt(t, s.dir, s.addrs[i], make([]byte, 8))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.setup(t)
			tc.damage(t, s)
			before := map[uint64]int64{}
			for _, seg := range segments(t, s.dir) {
				before[seg] = fileSize(t, segPath(s.dir, seg))
			}
			tl, err := openTestLog(t, s.dir, g)
			if err == nil {
				tl.crash()
			}
			require.Error(t, err)
			require.True(t, stderrors.Is(err, ErrCorruption), "want ErrCorruption, got %v", err)
			after := map[uint64]int64{}
			for _, seg := range segments(t, s.dir) {
				after[seg] = fileSize(t, segPath(s.dir, seg))
			}
			require.Equal(t, before, after, "a failed recovery must not cut or remove anything")
		})
	}
}

// TestRecoverLogEndingInPagePadding: the tail moved to a new page and the log
// was made durable before anything was written there, so the durable point
// is the start of the new page and the old page ends in padding. Reopening
// must work (twice: the second time without an intervening Close, as after a
// crash), and writing on must not land below the durable point.
func TestRecoverLogEndingInPagePadding(t *testing.T) {
	dir := t.TempDir()
	tl := mustOpenTestLog(t, dir, smallGeometry)
	addrs := tl.writeRecords(0, 5)
	h := tl.em.Protect()
	require.NoError(t, tl.l.TurnPage(tl.l.PageSize()))
	h.Release()
	pageEnd := uint64(1) << smallGeometry.pageBits
	require.Equal(t, pageEnd, tl.l.Tail())
	tl.close()

	tl, err := openTestLog(t, dir, smallGeometry)
	require.NoError(t, err)
	tl.requireReplayed(addrs)
	require.GreaterOrEqual(t, tl.l.Tail(), pageEnd, "the tail is not below the durable point")
	tl.crash()

	tl, err = openTestLog(t, dir, smallGeometry)
	require.NoError(t, err)
	tl.requireReplayed(addrs)
	more := tl.writeRecords(5, 3)
	require.GreaterOrEqual(t, more[0], pageEnd)
	tl.close()
	tl = mustOpenTestLog(t, dir, smallGeometry)
	defer tl.close()
	tl.requireReplayed(append(addrs, more...))
}

// TestRecoverRemovesBlankNewestSegment: a newest segment without a valid
// header and without data is debris of a crash while creating it.
func TestRecoverRemovesBlankNewestSegment(t *testing.T) {
	dir := t.TempDir()
	tl := mustOpenTestLog(t, dir, smallGeometry)
	addrs := tl.writeRecords(0, 100)
	tl.close()
	segs := segments(t, dir)
	blank := segs[len(segs)-1] + 1
	require.NoError(t, os.WriteFile(segPath(dir, blank), []byte("half a header"), 0o644))

	tl = mustOpenTestLog(t, dir, smallGeometry)
	tl.requireReplayed(addrs)
	require.Equal(t, []string{SegmentName(blank)}, tl.rep.Removed)
	_, err := os.Stat(segPath(dir, blank))
	require.True(t, os.IsNotExist(err))
	tl.close()

	// A blank segment that is not the newest is corruption.
	require.NoError(t, os.WriteFile(segPath(dir, blank+1), []byte("half a header"), 0o644))
	require.NoError(t, os.WriteFile(segPath(dir, blank+2), []byte("half a header"), 0o644))
	_, err = openTestLog(t, dir, smallGeometry)
	require.ErrorIs(t, err, ErrCorruption)
}

// TestReadRecordDetectsFlippedBits flips each bit of a flushed record in its
// file and reads the record back through ReadRecord: a flip in a checksummed
// field is reported as ErrCorruption, any other leaves the record intact.
func TestReadRecordDetectsFlippedBits(t *testing.T) {
	dir := t.TempDir()
	g := smallGeometry
	tl := mustOpenTestLog(t, dir, g)
	defer tl.close()
	addrs := tl.writeRecords(0, 200)
	require.NoError(t, tl.l.SyncAll())
	const i = 3
	a := addrs[i]
	require.Less(t, a, tl.l.Head(), "the record must be on disk only")
	key, value := testKey(i), testValue(i)
	size := RecordSize(len(key), len(value))
	step := 1
	if testing.Short() {
		step = 5
	}
	for off := 0; off < int(size); off += step {
		for bit := range 8 {
			g.xorFileByte(t, dir, a+uint64(off), 1<<bit)
			k, v, err := tl.read(a)
			if checksummed(off, len(key), len(value)) {
				require.True(t, stderrors.Is(err, ErrCorruption), "offset %d bit %d: got %v", off, bit, err)
			} else {
				require.NoError(t, err, "offset %d bit %d", off, bit)
				require.Equal(t, key, k)
				require.Equal(t, value, v)
			}
			g.xorFileByte(t, dir, a+uint64(off), 1<<bit)
		}
	}
	k, v, err := tl.read(a)
	require.NoError(t, err)
	require.Equal(t, key, k)
	require.Equal(t, value, v)
}

// TestRecoverRecordLargerThanReadChunk: pages may be far larger than the
// recovery scan's read size (1 MiB), and so may records. Such a log must
// reopen with every record.
func TestRecoverRecordLargerThanReadChunk(t *testing.T) {
	g := geometry{pageBits: 21, segmentBits: 22, frames: 4, mutable: 2} // 2 MiB pages
	dir := t.TempDir()
	tl := mustOpenTestLog(t, dir, g)
	big := make([]byte, 1500<<10)
	for i := range big {
		big[i] = byte(i / 7)
	}
	a1 := tl.append([]byte("small"), []byte("x"), 0)
	a2 := tl.append([]byte("big"), big, 0)
	a3 := tl.append([]byte("after"), []byte("y"), 0)
	tl.close()

	tl = mustOpenTestLog(t, dir, g)
	defer tl.close()
	require.Len(t, tl.recs, 3)
	require.Equal(t, []uint64{a1, a2, a3}, []uint64{tl.recs[0].Address, tl.recs[1].Address, tl.recs[2].Address})
	require.Equal(t, big, tl.recs[1].Value)
	require.Zero(t, tl.rep.TornAt)
}
