package hlog

import (
	"bytes"
	stderrors "errors"
	"io"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/stretchr/testify/require"
)

// recordingFS wraps the OS file system and records the writes and syncs of
// segment files, in order, as "write seg-…" and "sync seg-…". It can also
// fail every write or sync after it is armed.
type recordingFS struct {
	vfs.FS
	mu        sync.Mutex
	ops       []string
	failWrite bool
	failSync  bool
}

var errInjected = stderrors.New("injected I/O error")

func (fs *recordingFS) note(op string) {
	fs.mu.Lock()
	fs.ops = append(fs.ops, op)
	fs.mu.Unlock()
}

func (fs *recordingFS) log() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.ops...)
}

func (fs *recordingFS) set(write, sync bool) {
	fs.mu.Lock()
	fs.failWrite, fs.failSync = write, sync
	fs.mu.Unlock()
}

func (fs *recordingFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &recordingFile{File: f, fs: fs, name: filepath.Base(name)}, nil
}

func (fs *recordingFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	return fs.wrap(name, f, err)
}

func (fs *recordingFS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name)
	return fs.wrap(name, f, err)
}

type recordingFile struct {
	vfs.File
	fs   *recordingFS
	name string
}

func (f *recordingFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	fail := f.fs.failWrite
	f.fs.mu.Unlock()
	if fail {
		return 0, errInjected
	}
	if off >= SegmentHeaderSize {
		f.fs.note("write " + f.name)
	}
	return f.File.WriteAt(p, off)
}

func (f *recordingFile) Sync() error {
	f.fs.mu.Lock()
	fail := f.fs.failSync
	f.fs.mu.Unlock()
	if fail {
		return errInjected
	}
	f.fs.note("sync " + f.name)
	return f.File.Sync()
}

var _ io.Closer = (*recordingFile)(nil)

func openWithFS(t testing.TB, dir string, g geometry, fs vfs.FS) (*testLog, error) {
	t.Helper()
	em := epoch.New()
	l, err := Open(Config{
		FS: fs, Dir: dir, StoreID: 42,
		PageBits: g.pageBits, SegmentBits: g.segmentBits,
		MemoryPages: g.frames, MutablePages: g.mutable, Epoch: em,
	})
	if err != nil {
		return nil, err
	}
	tl := &testLog{t: t, dir: dir, g: g, em: em, l: l}
	if tl.rep, err = l.Recover(FirstAddress, FirstAddress, 0, func(r DiskRecord) error {
		r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
		tl.recs = append(tl.recs, r)
		return nil
	}); err != nil {
		_ = l.Close()
		return nil, err
	}
	if err := l.Start(FirstAddress, tl.rep.End); err != nil {
		_ = l.Close()
		return nil, err
	}
	return tl, nil
}

// requireInvariants checks begin <= head <= flushed <= safeRO <= RO <= tail
// and durable <= tail (durable may pass flushed: the delta log holds the
// mutable region's images).
func (tl *testLog) requireInvariants() {
	tl.t.Helper()
	l := tl.l
	b, h, f, s, r, tail, d := l.Begin(), l.Head(), l.Flushed(), l.SafeReadOnly(), l.ReadOnly(), l.Tail(), l.Durable()
	// Head may sit below begin on the first page (Start sets it to the page
	// start); it is never below begin's page.
	require.True(tl.t, b>>tl.g.pageBits <= h>>tl.g.pageBits && h <= f && f <= s && s <= r && r <= tail && d <= tail,
		"begin %#x head %#x flushed %#x safeRO %#x RO %#x tail %#x durable %#x", b, h, f, s, r, tail, d)
	require.Zero(tl.t, h&(l.PageSize()-1), "head is page aligned")
	require.LessOrEqual(tl.t, (tail>>tl.g.pageBits)-(h>>tl.g.pageBits), uint64(tl.g.frames-1), "in-memory pages fit the frames")
}

func TestOpenRejectsBadConfig(t *testing.T) {
	base := Config{FS: vfs.Default, Dir: t.TempDir(), StoreID: 1, PageBits: 12, SegmentBits: 14, MemoryPages: 8, MutablePages: 4, Epoch: epoch.New()}
	for name, mod := range map[string]func(*Config){
		"page bits 11":        func(c *Config) { c.PageBits = 11 },
		"page bits 31":        func(c *Config) { c.PageBits, c.SegmentBits = 31, 31 },
		"segment < page":      func(c *Config) { c.SegmentBits = 11 },
		"segment bits 41":     func(c *Config) { c.SegmentBits = 41 },
		"3 frames":            func(c *Config) { c.MemoryPages = 3 },
		"no mutable page":     func(c *Config) { c.MutablePages = 0 },
		"all frames mutable":  func(c *Config) { c.MutablePages = 8 },
		"more mutable frames": func(c *Config) { c.MutablePages = 9 },
	} {
		c := base
		mod(&c)
		_, err := Open(c)
		require.Error(t, err, name)
	}
	l, err := Open(base)
	require.NoError(t, err)
	require.Equal(t, uint64(4096), l.PageSize())
	require.Equal(t, uint64(4096), l.MaxRecordSize())
	require.NoError(t, l.Close())
}

// TestAllocateTurnAndMakeRoom writes far more than memory holds with the
// page-turn and inline-flush protocol and checks the address invariants and
// every record along the way.
func TestAllocateTurnAndMakeRoom(t *testing.T) {
	tl := mustOpenTestLog(t, t.TempDir(), smallGeometry)
	defer tl.close()
	var addrs []uint64
	prevEnd := uint64(FirstAddress)
	for i := range 500 {
		a := tl.append(testKey(i), testValue(i), 0)
		require.Zero(t, a%8, "records are 8-byte aligned")
		require.GreaterOrEqual(t, a, prevEnd, "addresses increase")
		size := RecordSize(len(testKey(i)), len(testValue(i)))
		require.Equal(t, a>>smallGeometry.pageBits, (a+size-1)>>smallGeometry.pageBits, "a record never spans a page")
		prevEnd = a + size
		addrs = append(addrs, a)
		tl.requireInvariants()
	}
	require.Greater(t, tl.l.Head(), addrs[100], "old pages were evicted")
	tl.requireReadable(addrs, 0)
	require.Greater(t, tl.l.DiskBytes(), int64(tl.l.Head()-FirstAddress))
}

func TestAllocateRejectsRecordLargerThanRoom(t *testing.T) {
	tl := mustOpenTestLog(t, t.TempDir(), smallGeometry)
	defer tl.close()
	h := tl.em.Protect()
	defer h.Release()
	_, ok := tl.l.Allocate(4096 - FirstAddress + 8)
	require.False(t, ok, "more than the rest of the first page")
	a, ok := tl.l.Allocate(4096 - FirstAddress)
	require.True(t, ok)
	require.Equal(t, uint64(FirstAddress), a)
	_, ok = tl.l.Allocate(8)
	require.False(t, ok, "the page is full")
	require.NoError(t, tl.l.TurnPage(8))
	a, ok = tl.l.Allocate(4096)
	require.True(t, ok, "a whole page fits on a new page")
	require.Equal(t, uint64(4096), a)
	tl.l.NewRecord(a, MakeInfo(0, 0), []byte("k"), make([]byte, 4096-32), 0)
}

// TestSyncToAndWaitDurable: SyncTo makes the log durable to at least the
// address, WaitDurable from many goroutines shares the work.
func TestSyncToAndWaitDurable(t *testing.T) {
	tl := mustOpenTestLog(t, t.TempDir(), smallGeometry)
	defer tl.close()
	a := tl.append([]byte("k"), []byte("v"), 0)
	end := a + RecordSize(1, 1)
	require.Less(t, tl.l.Durable(), end)
	require.NoError(t, tl.l.SyncTo(end))
	require.GreaterOrEqual(t, tl.l.Durable(), end)
	require.Less(t, tl.l.ReadOnly(), end, "a synced record stays mutable: its image went to the delta log")
	require.Less(t, tl.l.Flushed(), end)
	tl.requireInvariants()

	var wg sync.WaitGroup
	errs := make([]error, 8)
	ends := make([]uint64, 8)
	for w := range 8 {
		ends[w] = tl.append(testKey(w), testValue(w), 0) + RecordSize(len(testKey(w)), len(testValue(w)))
	}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = tl.l.WaitDurable(ends[w])
		}()
	}
	wg.Wait()
	for w := range 8 {
		require.NoError(t, errs[w])
		require.GreaterOrEqual(t, tl.l.Durable(), ends[w])
	}
	tl.requireInvariants()
}

// TestScannerAcrossDiskAndMemory scans the whole log while part of it is on
// disk only: every record comes back once, in order.
func TestScannerAcrossDiskAndMemory(t *testing.T) {
	tl := mustOpenTestLog(t, t.TempDir(), smallGeometry)
	defer tl.close()
	addrs := tl.writeRecords(0, 400)
	tl.append([]byte("del"), nil, FlagTombstone)
	require.Greater(t, tl.l.Head(), addrs[50])

	// The range must end at a point every record below is complete: the
	// tail, with no writer running.
	end := tl.l.Tail()
	sc := tl.l.NewScanner(FirstAddress, end)
	i := 0
	for {
		h := tl.em.Protect()
		it, ok, err := sc.Next()
		h.Release()
		require.NoError(t, err)
		if !ok {
			break
		}
		if i < len(addrs) {
			require.Equal(t, addrs[i], it.Address, "record %d", i)
			require.Equal(t, testKey(i), it.Key)
			require.Equal(t, testValue(i), it.Value)
			require.False(t, it.Tombstone())
		} else {
			require.Equal(t, []byte("del"), it.Key)
			require.True(t, it.Tombstone())
		}
		require.Equal(t, sc.Position(), it.Address+it.Size)
		i++
	}
	require.Equal(t, len(addrs)+1, i)
}

// TestRecoveredLastSegmentIsSyncedBeforeNext: after a crash the newest
// segment may hold data that was flushed but never synced. Recovery reads
// it (from the page cache, say) and the log goes on in the next segment;
// before anything is written there, the recovered segment must be synced,
// or a power loss could leave it torn under later, synced segments.
func TestRecoveredLastSegmentIsSyncedBeforeNext(t *testing.T) {
	g := smallGeometry // 4 pages a segment, 8 frames, 4 mutable
	dir := t.TempDir()
	tl := mustOpenTestLog(t, dir, g)
	segEnd := uint64(1) << g.segmentBits
	// Fill segment 0 exactly, leaving the tail at the start of segment 1.
	filler := make([]byte, 4096-RecordHeaderSize-8)
	h := tl.em.Protect()
	for a, ok := tl.l.Allocate(4096 - FirstAddress); ; a, ok = tl.l.Allocate(4096) {
		require.True(t, ok)
		tl.l.NewRecord(a, MakeInfo(0, 0), []byte("x"), filler[:4096-RecordHeaderSize-8-(FirstAddress*btoi(a == FirstAddress))], 0)
		if a+4096 >= segEnd {
			break
		}
		require.NoError(t, tl.l.TurnPage(4096))
	}
	require.NoError(t, tl.l.TurnPage(4096))
	require.Equal(t, segEnd, tl.l.Tail())
	// Put a small record on each page of segment 1, so that maintenance
	// (4 mutable pages) makes exactly segment 0 read-only and flushes it.
	for p := range 4 {
		if p > 0 {
			require.NoError(t, tl.l.TurnPage(4096))
		}
		a, ok := tl.l.Allocate(RecordSize(1, 1))
		require.True(t, ok)
		tl.l.NewRecord(a, MakeInfo(0, 0), []byte("y"), []byte("1"), 0)
	}
	h.Release()
	require.NoError(t, tl.l.Maintain())
	require.Equal(t, segEnd, tl.l.Flushed())
	require.Equal(t, []uint64{0}, segments(t, dir))
	// Crash: segment 0 was flushed but never synced, segment 1 is lost.
	tl.crash()

	fs := &recordingFS{FS: vfs.Default}
	tl, err := openWithFS(t, dir, g, fs)
	require.NoError(t, err)
	require.Len(t, tl.recs, 4)
	require.Equal(t, segEnd, tl.rep.End)
	tl.append([]byte("next"), []byte("segment"), 0)
	require.NoError(t, tl.l.SyncAll())
	require.NoError(t, tl.l.Close())

	ops := fs.log()
	firstWrite := -1
	for i, op := range ops {
		if op == "write "+SegmentName(1) {
			firstWrite = i
			break
		}
	}
	require.GreaterOrEqual(t, firstWrite, 0, "ops: %v", ops)
	require.Contains(t, ops[:firstWrite], "sync "+SegmentName(0),
		"segment 0 (recovered, maybe unsynced) must be synced before segment 1 gets data; ops: %v", ops)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestIOErrorIsSticky: after a failed write or sync every later flush and
// sync reports the first error, even once the file system works again.
func TestIOErrorIsSticky(t *testing.T) {
	for _, failSync := range []bool{false, true} {
		name := "write"
		if failSync {
			name = "sync"
		}
		t.Run(name, func(t *testing.T) {
			fs := &recordingFS{FS: vfs.Default}
			tl, err := openWithFS(t, t.TempDir(), smallGeometry, fs)
			require.NoError(t, err)
			defer func() { require.NoError(t, tl.l.Close()) }()
			addrs := tl.writeRecords(0, 20)
			fs.set(!failSync, failSync)
			err = tl.l.SyncTo(tl.l.Tail())
			require.ErrorIs(t, err, errInjected)
			require.ErrorIs(t, tl.l.Err(), errInjected)
			durable := tl.l.Durable()

			fs.set(false, false)
			require.ErrorIs(t, tl.l.SyncTo(tl.l.Tail()), errInjected, "no retry after a failed sync")
			require.ErrorIs(t, tl.l.SyncAll(), errInjected)
			require.ErrorIs(t, tl.l.WaitDurable(tl.l.Tail()), errInjected)
			require.ErrorIs(t, tl.l.Maintain(), errInjected)
			require.ErrorIs(t, tl.l.MakeRoom(), errInjected)
			require.Equal(t, durable, tl.l.Durable(), "durability never advances after an I/O error")
			tl.requireReadable(addrs, 0)
		})
	}
}
