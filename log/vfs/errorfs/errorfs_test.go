package errorfs_test

import (
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
)

// closeInto closes c and keeps its error in *err unless *err is set already.
func closeInto(err *error, c io.Closer) {
	if cerr := c.Close(); *err == nil {
		*err = cerr
	}
}

// workload uses every operation of the FS and File interfaces, stopping at
// the first error. Files and locks are closed on every path.
func workload(fsys vfs.FS) (err error) {
	if err := fsys.MkdirAll("db", 0o755); err != nil {
		return err
	}
	lock, err := fsys.Lock("db/LOCK")
	if err != nil {
		return err
	}
	defer closeInto(&err, lock)

	write := func(name string, data ...string) (err error) {
		f, err := fsys.Create(name)
		if err != nil {
			return err
		}
		defer closeInto(&err, f)
		var off int64
		for _, d := range data {
			if _, err := f.WriteAt([]byte(d), off); err != nil {
				return err
			}
			off += int64(len(d))
		}
		return f.Sync()
	}
	if err := write("db/000001.log", "rec1", "rec2"); err != nil {
		return err
	}
	if err := fsys.SyncDir("db"); err != nil {
		return err
	}
	if err := write("db/tmp", "000001"); err != nil {
		return err
	}
	if err := fsys.Rename("db/tmp", "db/CURRENT"); err != nil {
		return err
	}
	if err := fsys.SyncDir("db"); err != nil {
		return err
	}
	if _, err := fsys.List("db"); err != nil {
		return err
	}
	if _, err := fsys.Stat("db/CURRENT"); err != nil {
		return err
	}
	err = func() (err error) {
		f, err := fsys.Open("db/CURRENT")
		if err != nil {
			return err
		}
		defer closeInto(&err, f)
		if _, err := f.Size(); err != nil {
			return err
		}
		_, err = f.ReadAt(make([]byte, 6), 0)
		return err
	}()
	if err != nil {
		return err
	}
	err = func() (err error) {
		f, err := fsys.OpenReadWrite("db/000001.log")
		if err != nil {
			return err
		}
		defer closeInto(&err, f)
		return f.Truncate(4)
	}()
	if err != nil {
		return err
	}
	return fsys.Remove("db/000001.log")
}

func TestOpString(t *testing.T) {
	seen := map[string]bool{}
	for _, op := range errorfs.AllOps() {
		s := op.String()
		require.NotEmpty(t, s)
		require.Equal(t, strings.ToLower(s), s)
		require.False(t, seen[s], "duplicate name %q", s)
		seen[s] = true
	}
	require.Len(t, seen, 15)
	require.Equal(t, "syncdir", errorfs.OpSyncDir.String())
	require.Equal(t, "Op(200)", errorfs.Op(200).String())
}

func TestPassThrough(t *testing.T) {
	mem := vfs.NewMem()
	rec := errorfs.Record(nil, 0)
	require.NoError(t, workload(errorfs.Wrap(mem, rec)))
	require.NoError(t, workload(errorfs.Wrap(vfs.NewMem(), nil)))
	require.Zero(t, rec.Injected(errorfs.OpWrite))
	for _, op := range errorfs.AllOps() {
		require.Positive(t, rec.Count(op), "the workload uses %s", op)
	}
	// The workload's effects are all there.
	names, err := mem.List("db")
	require.NoError(t, err)
	require.Equal(t, []string{"CURRENT", "LOCK"}, names)

	// Errors of the wrapped FS come through unchanged.
	wfs := errorfs.Wrap(mem, nil)
	_, err = wfs.Open("db/missing")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NotErrorIs(t, err, errorfs.ErrInjected)
	f, err := wfs.Open("db/CURRENT")
	require.NoError(t, err)
	n, err := f.ReadAt(make([]byte, 10), 0)
	require.Equal(t, io.EOF, err, "io.EOF is passed through bare")
	require.Equal(t, 6, n)
	require.NoError(t, f.Close())
}

// TestEveryOpInTurn fails operation 0, 1, 2, ... of the workload until a run
// succeeds, checking each failure names the operation a clean run traced.
func TestEveryOpInTurn(t *testing.T) {
	clean := errorfs.Record(nil, 100)
	require.NoError(t, workload(errorfs.Wrap(vfs.NewMem(), clean)))
	trace := clean.Trace()
	require.EqualValues(t, clean.Total(), len(trace))

	var i int64
	for ; ; i++ {
		mem := vfs.NewMem()
		idx := errorfs.OnIndex(i)
		err := workload(errorfs.Wrap(mem, idx))
		if !idx.Fired() {
			require.NoError(t, err)
			require.EqualValues(t, len(trace), idx.Count())
			break
		}
		require.ErrorIs(t, err, errorfs.ErrInjected, "op %d", i)
		require.EqualValues(t, 1, idx.Failures())
		want := trace[i].Call
		require.Contains(t, err.Error(), want.String(), "op %d", i)
		require.Contains(t, err.Error(), want.Op.String())
		require.Contains(t, err.Error(), want.Path)

		// Whatever failed, the lock was released.
		if _, err := mem.Stat("db"); err == nil {
			l, err := mem.Lock("db/LOCK")
			require.NoError(t, err, "op %d (%s) leaked the lock", i, want)
			require.NoError(t, l.Close())
		}
	}
	require.EqualValues(t, len(trace), i, "one failing run per operation")
}

func TestFailedOperationsDoNotRun(t *testing.T) {
	mem := vfs.NewMem()
	require.NoError(t, mem.MkdirAll("db", 0o755))
	require.NoError(t, mem.SyncDir("/"))
	createWith := func(name, data string) {
		f, err := mem.Create(name)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte(data), 0)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	createWith("db/a", "a")
	createWith("db/b", "b")

	var toggle errorfs.Toggle
	toggle.On()
	wfs := errorfs.Wrap(mem, &toggle)

	_, err := wfs.Create("db/c")
	require.ErrorIs(t, err, errorfs.ErrInjected)
	_, err = mem.Stat("db/c")
	require.ErrorIs(t, err, fs.ErrNotExist)

	require.ErrorIs(t, wfs.Rename("db/a", "db/b"), errorfs.ErrInjected)
	require.ErrorIs(t, wfs.Remove("db/a"), errorfs.ErrInjected)
	require.ErrorIs(t, wfs.MkdirAll("db/sub", 0o755), errorfs.ErrInjected)
	names, err := mem.List("db")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, names)

	// A failed SyncDir leaves the entries non-durable.
	require.ErrorIs(t, wfs.SyncDir("db"), errorfs.ErrInjected)
	names, err = mem.CrashClone().List("db")
	require.NoError(t, err)
	require.Empty(t, names)

	// A failed Sync leaves the contents non-durable; a failed truncate does
	// nothing.
	toggle.Off()
	require.NoError(t, wfs.SyncDir("db"))
	f, err := wfs.OpenReadWrite("db/a")
	require.NoError(t, err)
	toggle.On()
	require.ErrorIs(t, f.Sync(), errorfs.ErrInjected)
	require.ErrorIs(t, f.Truncate(0), errorfs.ErrInjected)
	n, err := f.WriteAt([]byte("x"), 5)
	require.ErrorIs(t, err, errorfs.ErrInjected)
	require.Zero(t, n, "without WithShortWrites a failed write writes nothing")
	_, err = f.ReadAt(make([]byte, 1), 0)
	require.ErrorIs(t, err, errorfs.ErrInjected)
	_, err = f.Size()
	require.ErrorIs(t, err, errorfs.ErrInjected)
	require.ErrorIs(t, f.Close(), errorfs.ErrInjected)
	toggle.Off()
	// Close closed the underlying file even though it reported failure.
	_, err = f.Size()
	require.ErrorIs(t, err, fs.ErrClosed)
	fi, err := mem.Stat("db/a")
	require.NoError(t, err)
	require.EqualValues(t, 1, fi.Size())
	clone := mem.CrashClone()
	fi, err = clone.Stat("db/a")
	require.NoError(t, err)
	require.Zero(t, fi.Size(), "contents were never synced")

	toggle.On()
	_, err = wfs.Lock("db/LOCK")
	require.ErrorIs(t, err, errorfs.ErrInjected)
	_, err = mem.Stat("db/LOCK")
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = wfs.Stat("db/a")
	require.ErrorIs(t, err, errorfs.ErrInjected)
	_, err = wfs.List("db")
	require.ErrorIs(t, err, errorfs.ErrInjected)
	_, err = wfs.Open("db/a")
	require.ErrorIs(t, err, errorfs.ErrInjected)
	_, err = wfs.OpenReadWrite("db/a")
	require.ErrorIs(t, err, errorfs.ErrInjected)
}

func TestInjectedLockCloseReleases(t *testing.T) {
	mem := vfs.NewMem()
	wfs := errorfs.Wrap(mem, errorfs.All(errorfs.Ops(errorfs.OpClose), errorfs.PathContains("LOCK")))
	l, err := wfs.Lock("LOCK")
	require.NoError(t, err)
	_, err = mem.Lock("LOCK")
	require.ErrorIs(t, err, vfs.ErrLocked)
	err = l.Close()
	require.ErrorIs(t, err, errorfs.ErrInjected)
	require.Contains(t, err.Error(), "close LOCK")
	l2, err := mem.Lock("LOCK")
	require.NoError(t, err, "the lock is released despite the injected error")
	require.NoError(t, l2.Close())
}

func TestErrorMessage(t *testing.T) {
	wfs := errorfs.Wrap(vfs.NewMem(), errorfs.Ops(errorfs.OpRename, errorfs.OpWrite))
	err := wfs.Rename("db/tmp", "db/CURRENT")
	require.ErrorIs(t, err, errorfs.ErrInjected)
	require.Equal(t, "rename db/tmp -> db/CURRENT: errorfs: injected error", err.Error())

	f, err := wfs.Create("log")
	require.NoError(t, err)
	_, err = f.WriteAt(make([]byte, 100), 4096)
	require.Equal(t, "write log [4096, +100): errorfs: injected error", err.Error())
	require.NoError(t, f.Close())
}

func TestPredicates(t *testing.T) {
	type result struct {
		create, write, sync error
	}
	run := func(inj errorfs.Injector, name string) result {
		var r result
		wfs := errorfs.Wrap(vfs.NewMem(), inj)
		var f vfs.File
		f, r.create = wfs.Create(name)
		if r.create != nil {
			return r
		}
		_, r.write = f.WriteAt([]byte("x"), 0)
		r.sync = f.Sync()
		require.NoError(t, f.Close())
		return r
	}

	r := run(errorfs.Ops(errorfs.OpWrite, errorfs.OpSync), "a.log")
	require.NoError(t, r.create)
	require.ErrorIs(t, r.write, errorfs.ErrInjected)
	require.ErrorIs(t, r.sync, errorfs.ErrInjected)

	r = run(errorfs.PathContains(".log"), "a.log")
	require.ErrorIs(t, r.create, errorfs.ErrInjected)
	r = run(errorfs.PathContains(".log"), "a.sst")
	require.Equal(t, result{}, r)

	onlyLogWrites := errorfs.All(errorfs.Ops(errorfs.OpWrite), errorfs.PathContains(".log"))
	r = run(onlyLogWrites, "a.log")
	require.NoError(t, r.create)
	require.ErrorIs(t, r.write, errorfs.ErrInjected)
	require.NoError(t, r.sync)
	require.Equal(t, result{}, run(onlyLogWrites, "a.sst"))

	r = run(errorfs.Any(errorfs.Ops(errorfs.OpSync), errorfs.PathContains("zzz")), "a.log")
	require.NoError(t, r.create)
	require.NoError(t, r.write)
	require.ErrorIs(t, r.sync, errorfs.ErrInjected)

	r = run(errorfs.Not(errorfs.Ops(errorfs.OpCreate, errorfs.OpClose)), "a")
	require.NoError(t, r.create)
	require.ErrorIs(t, r.write, errorfs.ErrInjected)
	require.ErrorIs(t, r.sync, errorfs.ErrInjected)

	require.Equal(t, result{}, run(errorfs.Any(), "a"), "Any() fails nothing")
	r = run(errorfs.All(), "a")
	require.ErrorIs(t, r.create, errorfs.ErrInjected, "All() fails everything")

	rename := errorfs.PathContains("CURRENT")
	require.True(t, rename.MaybeFail(errorfs.Call{Op: errorfs.OpRename, Path: "tmp", NewPath: "CURRENT"}))
	require.False(t, rename.MaybeFail(errorfs.Call{Op: errorfs.OpRename, Path: "tmp", NewPath: "OTHER"}))

	custom := errorfs.InjectorFunc(func(c errorfs.Call) bool { return c.Op == errorfs.OpWrite && c.Off >= 10 })
	wfs := errorfs.Wrap(vfs.NewMem(), custom)
	f, err := wfs.Create("f")
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("x"), 9)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("x"), 10)
	require.ErrorIs(t, err, errorfs.ErrInjected)
	require.NoError(t, f.Close())
}

func TestIndexCountsOnlyFilteredOps(t *testing.T) {
	idx := errorfs.OnIndex(1)
	rec := errorfs.Record(errorfs.All(errorfs.Ops(errorfs.OpSync), idx), 0)
	err := workload(errorfs.Wrap(vfs.NewMem(), rec))
	require.ErrorIs(t, err, errorfs.ErrInjected)
	require.Contains(t, err.Error(), "sync db/tmp", "the second sync is that of db/tmp")
	require.EqualValues(t, 2, idx.Count())
	require.EqualValues(t, 1, rec.Injected(errorfs.OpSync))
	require.Zero(t, rec.Injected(errorfs.OpWrite))

	// Reset re-arms it; a negative index never fires but still counts.
	idx.Reset(-1)
	require.False(t, idx.Fired())
	require.NoError(t, workload(errorfs.Wrap(vfs.NewMem(), rec)))
	require.EqualValues(t, 2, idx.Count())
	require.False(t, idx.Fired())
}

func TestFromIndex(t *testing.T) {
	idx := errorfs.FromIndex(2)
	var fails []bool
	for range 5 {
		fails = append(fails, idx.MaybeFail(errorfs.Call{Op: errorfs.OpWrite}))
	}
	require.Equal(t, []bool{false, false, true, true, true}, fails)
	require.EqualValues(t, 3, idx.Failures())
	require.EqualValues(t, 5, idx.Count())

	once := errorfs.OnIndex(2)
	fails = fails[:0]
	for range 5 {
		fails = append(fails, once.MaybeFail(errorfs.Call{}))
	}
	require.Equal(t, []bool{false, false, true, false, false}, fails)
}

func TestIndexConcurrent(t *testing.T) {
	idx := errorfs.OnIndex(500)
	var wg sync.WaitGroup
	var failed sync.Map
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				if idx.MaybeFail(errorfs.Call{}) {
					failed.Store([2]int{g, i}, true)
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	failed.Range(func(any, any) bool { n++; return true })
	require.Equal(t, 1, n, "exactly one call fails")
	require.EqualValues(t, 1000, idx.Count())
}

func TestToggleConcurrent(t *testing.T) {
	var toggle errorfs.Toggle
	require.False(t, toggle.IsOn(), "zero value is off")
	wfs := errorfs.Wrap(vfs.NewMem(), errorfs.All(&toggle, errorfs.Ops(errorfs.OpWrite)))
	f, err := wfs.Create("f")
	require.NoError(t, err)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for on := true; ; on = !on {
			select {
			case <-stop:
				return
			default:
				toggle.Set(on)
			}
		}
	}()
	var ok, injected int
	for i := range 2000 {
		_, err := f.WriteAt([]byte{1}, int64(i))
		if err == nil {
			ok++
		} else {
			require.ErrorIs(t, err, errorfs.ErrInjected)
			injected++
		}
	}
	close(stop)
	wg.Wait()
	require.Equal(t, 2000, ok+injected)

	toggle.Off()
	_, err = f.WriteAt([]byte{1}, 0)
	require.NoError(t, err)
	toggle.On()
	_, err = f.WriteAt([]byte{1}, 0)
	require.ErrorIs(t, err, errorfs.ErrInjected)
	require.NoError(t, f.Sync(), "the filter limits the toggle to writes")
	toggle.Off()
	require.NoError(t, f.Close())
}

func TestWithProbability(t *testing.T) {
	draw := func(inj errorfs.Injector) []bool {
		out := make([]bool, 1000)
		for i := range out {
			out[i] = inj.MaybeFail(errorfs.Call{Op: errorfs.OpRead})
		}
		return out
	}
	count := func(bs []bool) int {
		n := 0
		for _, b := range bs {
			if b {
				n++
			}
		}
		return n
	}
	require.Zero(t, count(draw(errorfs.WithProbability(0, 1))))
	require.Equal(t, 1000, count(draw(errorfs.WithProbability(1, 1))))
	a := draw(errorfs.WithProbability(0.3, 42))
	require.Equal(t, a, draw(errorfs.WithProbability(0.3, 42)), "same seed, same failures")
	require.NotEqual(t, a, draw(errorfs.WithProbability(0.3, 43)))
	require.InDelta(t, 300, count(a), 60)
}

func TestShortWrites(t *testing.T) {
	mem := vfs.NewMem()
	wfs := errorfs.Wrap(mem, errorfs.All(errorfs.Ops(errorfs.OpWrite), errorfs.OnIndex(1)),
		errorfs.WithShortWrites(func(n int) int { return n / 2 }))
	f, err := wfs.Create("f")
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("head|"), 0)
	require.NoError(t, err)
	n, err := f.WriteAt([]byte("0123456789"), 5)
	require.ErrorIs(t, err, errorfs.ErrInjected)
	require.Equal(t, 5, n)
	size, err := f.Size()
	require.NoError(t, err)
	require.EqualValues(t, 10, size)
	buf := make([]byte, size)
	_, err = f.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, "head|01234", string(buf), "exactly the prefix was written")
	require.NoError(t, f.Close())

	// The prefix length is clamped to [0, len(p)].
	for _, tc := range []struct {
		prefix int
		want   string
	}{{-3, ""}, {0, ""}, {2, "ab"}, {4, "abcd"}, {99, "abcd"}} {
		wfs := errorfs.Wrap(vfs.NewMem(), errorfs.Ops(errorfs.OpWrite),
			errorfs.WithShortWrites(func(int) int { return tc.prefix }))
		f, err := wfs.Create("f")
		require.NoError(t, err)
		n, err := f.WriteAt([]byte("abcd"), 0)
		require.ErrorIs(t, err, errorfs.ErrInjected)
		require.Equal(t, len(tc.want), n)
		size, err := f.Size()
		require.NoError(t, err)
		require.EqualValues(t, len(tc.want), size, "prefix %d", tc.prefix)
		require.NoError(t, f.Close())
	}
}

func TestRandomPrefixShortWrites(t *testing.T) {
	prefix := errorfs.RandomPrefix(7)
	require.Zero(t, prefix(0))
	lengths := map[int]bool{}
	for range 200 {
		mem := vfs.NewMem()
		wfs := errorfs.Wrap(mem, errorfs.Ops(errorfs.OpWrite), errorfs.WithShortWrites(prefix))
		f, err := wfs.Create("f")
		require.NoError(t, err)
		data := []byte("0123456789abcdef")
		n, err := f.WriteAt(data, 0)
		require.ErrorIs(t, err, errorfs.ErrInjected)
		require.Less(t, n, len(data), "a random prefix is always short")
		lengths[n] = true
		buf := make([]byte, 32)
		got, err := f.ReadAt(buf, 0)
		if n < len(buf) {
			require.Equal(t, io.EOF, err)
		}
		require.Equal(t, string(data[:n]), string(buf[:got]))
		require.NoError(t, f.Close())
	}
	require.Greater(t, len(lengths), 8, "lengths vary: %v", lengths)
}

func TestRecorder(t *testing.T) {
	rec := errorfs.Record(errorfs.Ops(errorfs.OpSync), 3)
	require.Equal(t, "no operations", rec.String())
	wfs := errorfs.Wrap(vfs.NewMem(), rec)
	f, err := wfs.Create("f")
	require.NoError(t, err)
	for i := range 4 {
		_, err := f.WriteAt([]byte("x"), int64(i))
		require.NoError(t, err)
	}
	require.Error(t, f.Sync())
	require.NoError(t, f.Close())

	require.EqualValues(t, 1, rec.Count(errorfs.OpCreate))
	require.EqualValues(t, 4, rec.Count(errorfs.OpWrite))
	require.EqualValues(t, 1, rec.Count(errorfs.OpSync))
	require.EqualValues(t, 1, rec.Injected(errorfs.OpSync))
	require.Zero(t, rec.Count(errorfs.OpRename))
	require.Zero(t, rec.Count(errorfs.Op(99)))
	require.EqualValues(t, 7, rec.Total())
	require.Equal(t, "create=1 write=4 sync=1 (1 injected) close=1", rec.String())

	// The trace keeps the last three, oldest first.
	require.Equal(t, []errorfs.Event{
		{Call: errorfs.Call{Op: errorfs.OpWrite, Path: "f", Off: 3, Len: 1}},
		{Call: errorfs.Call{Op: errorfs.OpSync, Path: "f"}, Injected: true},
		{Call: errorfs.Call{Op: errorfs.OpClose, Path: "f"}},
	}, rec.Trace())

	rec.Reset()
	require.Zero(t, rec.Total())
	require.Empty(t, rec.Trace())
	require.Equal(t, "no operations", rec.String())

	noTrace := errorfs.Record(nil, 0)
	require.False(t, noTrace.MaybeFail(errorfs.Call{Op: errorfs.OpStat}))
	require.Empty(t, noTrace.Trace())
	require.EqualValues(t, 1, noTrace.Count(errorfs.OpStat))
}

func TestWrapOS(t *testing.T) {
	dir := t.TempDir()
	rec := errorfs.Record(errorfs.All(errorfs.Ops(errorfs.OpSync), errorfs.OnIndex(0)), 0)
	wfs := errorfs.Wrap(vfs.Default, rec)
	f, err := wfs.Create(dir + "/f")
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("abc"), 0)
	require.NoError(t, err)
	err = f.Sync()
	require.ErrorIs(t, err, errorfs.ErrInjected)
	require.Contains(t, err.Error(), "sync "+dir+"/f")
	require.NoError(t, f.Sync(), "OnIndex fails once")
	require.NoError(t, f.Close())
	fi, err := vfs.Default.Stat(dir + "/f")
	require.NoError(t, err)
	require.EqualValues(t, 3, fi.Size())
}

func TestInjectedErrorWithCockroachErrors(t *testing.T) {
	err := errorfs.Wrap(vfs.NewMem(), errorfs.All()).Remove("x")
	require.True(t, errors.Is(err, errorfs.ErrInjected))
	require.True(t, errors.Is(errors.Wrap(err, "outer"), errorfs.ErrInjected))
	require.False(t, errors.Is(err, fs.ErrNotExist), "the operation did not run")
}
