package hlog

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/stretchr/testify/require"
)

// adviceFS records the page-cache drops (AdviseDontNeed) asked of the
// files it opens, and passes every advice on.
type adviceFS struct {
	vfs.FS
	mu    sync.Mutex
	drops []advised
}

type advised struct {
	name     string
	off, len int64
}

type adviceFile struct {
	vfs.File
	fs   *adviceFS
	name string
}

func (a *adviceFS) wrap(name string, open func(string) (vfs.File, error)) (vfs.File, error) {
	f, err := open(name)
	if err != nil {
		return nil, err
	}
	return adviceFile{File: f, fs: a, name: name}, nil
}

func (a *adviceFS) Create(name string) (vfs.File, error) { return a.wrap(name, a.FS.Create) }
func (a *adviceFS) Open(name string) (vfs.File, error)   { return a.wrap(name, a.FS.Open) }
func (a *adviceFS) OpenReadWrite(name string) (vfs.File, error) {
	return a.wrap(name, a.FS.OpenReadWrite)
}

func (f adviceFile) Advise(off, length int64, advice vfs.Advice) error {
	if advice == vfs.AdviseDontNeed {
		f.fs.mu.Lock()
		f.fs.drops = append(f.fs.drops, advised{f.name, off, length})
		f.fs.mu.Unlock()
	}
	if a, ok := f.File.(vfs.Advisor); ok {
		return a.Advise(off, length, advice)
	}
	return nil
}

// TestTruncationDropsInMemoryImages: a truncation writes images of the
// records still in memory (above flushed) into the segments; once they
// are synced it drops exactly that range from the page cache, never the
// flushed part below, which reads below the head need.
func TestTruncationDropsInMemoryImages(t *testing.T) {
	fs := &adviceFS{FS: vfs.Default}
	dir := t.TempDir()
	g := geometry{pageBits: 12, segmentBits: 20, frames: 32, mutable: 28}
	tl, err := openTestLogFS(t, fs, dir, g)
	require.NoError(t, err)
	addrs := tl.writeRecords(0, 1500)
	require.NoError(t, tl.l.SyncTo(0)) // the mutable records go into the delta log
	flushed, tail := tl.l.Flushed(), tl.l.Tail()
	require.Greater(t, tail-flushed, uint64(8<<10), "the test needs records above flushed")
	require.Greater(t, flushed, uint64(4<<10), "and flushed records below")
	fs.mu.Lock()
	fs.drops = nil
	fs.mu.Unlock()

	require.NoError(t, tl.l.SyncAll()) // folds the delta log: a truncation
	fs.mu.Lock()
	drops := fs.drops
	fs.mu.Unlock()
	seg := segPath(dir, g.segmentOf(flushed))
	var covered int64
	for _, d := range drops {
		if d.name != seg {
			continue
		}
		require.GreaterOrEqual(t, d.off, g.fileOffset(flushed), "a drop below flushed: %+v", d)
		require.LessOrEqual(t, d.off+d.len, g.fileOffset(tail), "a drop past the images: %+v", d)
		covered += d.len
	}
	require.Equal(t, int64(tail-flushed), covered, "the images [%#x, %#x) are dropped: %+v", flushed, tail, drops)

	// Nothing changed for readers: every record reads back, from memory
	// and after a reopen from the files.
	tl.requireReadable(addrs, 0)
	tl.close()
	tl = mustOpenTestLog(t, dir, g)
	defer tl.close()
	tl.requireReadable(addrs, 0)
}

// TestDeltaSyncsDropTheirPages: the delta log's synced pages leave the
// page cache (only recovery reads them), a MiB at a time and never the
// last partial block, which the next batch writes into; recovery still
// redoes the delta log.
func TestDeltaSyncsDropTheirPages(t *testing.T) {
	fs := &adviceFS{FS: vfs.Default}
	dir := t.TempDir()
	g := geometry{pageBits: 16, segmentBits: 22, frames: 32, mutable: 28}
	tl, err := openTestLogFS(t, fs, dir, g)
	require.NoError(t, err)
	var addrs []uint64
	for i := 0; i < 12_000; i += 500 {
		addrs = append(addrs, tl.writeRecords(i, 500)...)
		require.NoError(t, tl.l.SyncTo(0))
	}
	name := filepath.Join(dir, DeltaName(tl.l.delta.gen))
	size := tl.l.delta.size
	require.Greater(t, size, int64(2*deltaDropBytes), "the test needs a delta log of a few MiB")
	fs.mu.Lock()
	var end int64
	for _, d := range fs.drops {
		if d.name != name {
			continue
		}
		require.Equal(t, end, d.off, "each drop starts where the last ended: %+v", d)
		require.Zero(t, (d.off+d.len)%fileBlock, "a drop ends at a block: %+v", d)
		require.GreaterOrEqual(t, d.len, int64(deltaDropBytes)-fileBlock, "drops are batched: %+v", d)
		end = d.off + d.len
	}
	fs.mu.Unlock()
	require.LessOrEqual(t, end, size)
	require.Greater(t, end, size-deltaDropBytes-fileBlock, "all but the last MiB is dropped (%d of %d)", end, size)

	tl.crash() // the records above flushed survive only in the delta log
	tl = mustOpenTestLog(t, dir, g)
	defer tl.close()
	require.NotZero(t, tl.rep.Delta.Images, "recovery redid the delta log: %+v", tl.rep)
	tl.requireReadable(addrs, 0)
}
