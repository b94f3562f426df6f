package hlog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// geometry of a test log: small pages and segments so that a few hundred
// records cross many page and segment boundaries.
type geometry struct {
	pageBits, segmentBits uint
	frames, mutable       int
	// capture turns on writer-side image capture; captureBytes, if not
	// zero, sets each stripe's buffer size (small: the fallback to the
	// dirty list runs too).
	capture      bool
	captureBytes int
}

var smallGeometry = geometry{pageBits: 12, segmentBits: 14, frames: 8, mutable: 4}

// testLog drives a Log the way the store does: protected allocation with page
// turns and inline MakeRoom.
type testLog struct {
	t   testing.TB
	dir string
	g   geometry
	em  *epoch.Manager
	l   *Log
	rep RecoveryReport
	// recs are the records recovery replayed, in log order.
	recs []DiskRecord
}

// openTestLog opens (or reopens) the log in dir, recovers and starts it.
// It returns the recovery error instead of failing the test on it.
func openTestLog(t testing.TB, dir string, g geometry) (*testLog, error) {
	t.Helper()
	return openTestLogFS(t, vfs.Default, dir, g)
}

// openTestLogFS is openTestLog on fs.
func openTestLogFS(t testing.TB, fs vfs.FS, dir string, g geometry) (*testLog, error) {
	t.Helper()
	em := epoch.New()
	l, err := Open(Config{
		FS: fs, Dir: dir, StoreID: 42,
		PageBits: g.pageBits, SegmentBits: g.segmentBits,
		MemoryPages: g.frames, MutablePages: g.mutable, Epoch: em,
		CaptureImages: g.capture,
	})
	if err != nil {
		return nil, err
	}
	if g.capture && g.captureBytes > 0 {
		l.dirty.capCap = g.captureBytes
	}
	tl := &testLog{t: t, dir: dir, g: g, em: em, l: l}
	tl.rep, err = l.Recover(FirstAddress, FirstAddress, 0, func(r DiskRecord) error {
		r.Key = bytes.Clone(r.Key)
		r.Value = bytes.Clone(r.Value)
		tl.recs = append(tl.recs, r)
		return nil
	})
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	if err := l.Start(FirstAddress, tl.rep.End); err != nil {
		_ = l.Close()
		return nil, err
	}
	return tl, nil
}

func mustOpenTestLog(t testing.TB, dir string, g geometry) *testLog {
	t.Helper()
	tl, err := openTestLog(t, dir, g)
	require.NoError(t, err)
	return tl
}

// append writes one record and returns its address.
func (tl *testLog) append(key, value []byte, flags uint64) uint64 {
	tl.t.Helper()
	size := RecordSize(len(key), len(value))
	h := tl.em.Protect()
	for {
		addr, ok := tl.l.Allocate(size)
		if ok {
			tl.l.NewRecord(addr, MakeInfo(0, flags), key, value, 0)
			h.Release()
			return addr
		}
		err := tl.l.TurnPage(size)
		if err == nil {
			continue
		}
		h.Release()
		require.True(tl.t, NeedsRoom(err), "TurnPage: %v", err)
		require.NoError(tl.t, tl.l.MakeRoom())
		h = tl.em.Protect()
	}
}

// crash closes the files without making anything durable beyond what the
// log already synced or flushed.
func (tl *testLog) crash() { require.NoError(tl.t, tl.l.Close()) }

func (tl *testLog) close() {
	require.NoError(tl.t, tl.l.SyncAll())
	require.NoError(tl.t, tl.l.Close())
}

// recoveredValue returns the value of key's last record replayed by the
// recovery that opened tl (nil if none).
func (tl *testLog) recoveredValue(key []byte) []byte {
	var got []byte
	for _, r := range tl.recs {
		if bytes.Equal(r.Key, key) {
			got = r.Value
		}
	}
	return got
}

func testKey(i int) []byte { return fmt.Appendf(nil, "key-%05d", i) }

// testValue is a deterministic value whose length varies with i.
func testValue(i int) []byte {
	v := make([]byte, 10+(i*37)%300)
	for j := range v {
		v[j] = byte(i*7 + j)
	}
	return v
}

func segPath(dir string, i uint64) string { return filepath.Join(dir, SegmentName(i)) }

// fileOffset is where address addr lives in its segment file.
func (g geometry) fileOffset(addr uint64) int64 {
	return SegmentHeaderSize + int64(addr&(1<<g.segmentBits-1))
}

func (g geometry) segmentOf(addr uint64) uint64 { return addr >> g.segmentBits }

// xorFileByte flips the bits of mask in the byte at address addr.
func (g geometry) xorFileByte(t testing.TB, dir string, addr uint64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(segPath(dir, g.segmentOf(addr)), os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	var b [1]byte
	_, err = f.ReadAt(b[:], g.fileOffset(addr))
	require.NoError(t, err)
	b[0] ^= mask
	_, err = f.WriteAt(b[:], g.fileOffset(addr))
	require.NoError(t, err)
}

func (g geometry) writeFileAt(t testing.TB, dir string, addr uint64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(segPath(dir, g.segmentOf(addr)), os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(data, g.fileOffset(addr))
	require.NoError(t, err)
}

// segments lists the segment indexes in dir.
func segments(t testing.TB, dir string) []uint64 {
	t.Helper()
	names, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []uint64
	for _, n := range names {
		if i, ok := parseSegmentName(n.Name()); ok {
			out = append(out, i)
		}
	}
	return out
}

// writeRecords appends n records (keys from start) and returns their
// addresses.
func (tl *testLog) writeRecords(start, n int) []uint64 {
	addrs := make([]uint64, n)
	for i := range n {
		addrs[i] = tl.append(testKey(start+i), testValue(start+i), 0)
	}
	return addrs
}

// requireReplayed checks that recovery replayed exactly the records with keys
// [0, n) at the given addresses.
func (tl *testLog) requireReplayed(addrs []uint64) {
	tl.t.Helper()
	require.Len(tl.t, tl.recs, len(addrs))
	for i, r := range tl.recs {
		require.Equal(tl.t, addrs[i], r.Address, "record %d", i)
		require.Equal(tl.t, testKey(i), r.Key, "record %d", i)
		require.Equal(tl.t, testValue(i), r.Value, "record %d", i)
	}
}

// updateInPlace changes the value of the in-memory records at addrs to
// value in place, each under its record lock and an epoch handle.
func (tl *testLog) updateInPlace(addrs []uint64, value []byte) {
	tl.t.Helper()
	for _, a := range addrs {
		h := tl.em.Protect()
		r := tl.l.Mem(a)
		require.True(tl.t, r.Lock())
		require.True(tl.t, r.UpdateLocked(value))
		r.Unlock()
		h.Release()
	}
}
