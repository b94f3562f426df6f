package vfs_test

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/log/vfs"
)

// exists reports whether name exists in fsys.
func exists(t *testing.T, fsys vfs.FS, name string) bool {
	t.Helper()
	_, err := fsys.Stat(name)
	if err != nil {
		require.ErrorIs(t, err, fs.ErrNotExist)
		return false
	}
	return true
}

func writeAt(t *testing.T, f vfs.File, off int64, s string) {
	t.Helper()
	n, err := f.WriteAt([]byte(s), off)
	require.NoError(t, err)
	require.Equal(t, len(s), n)
}

// newDurableDir returns a MemFS holding a durable, empty directory "db".
func newDurableDir(t *testing.T) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("db", 0o755))
	require.NoError(t, m.SyncDir("/"))
	return m
}

func TestCrashCloneFileContents(t *testing.T) {
	m := newDurableDir(t)
	f, err := m.Create("db/f")
	require.NoError(t, err)
	require.NoError(t, m.SyncDir("db"))
	writeAt(t, f, 0, "synced")
	require.NoError(t, f.Sync())
	writeAt(t, f, 6, "-unsynced")
	writeAt(t, f, 0, "S")

	c := m.CrashClone()
	require.Equal(t, "synced", readAll(t, c, "db/f"), "unsynced writes are lost, synced kept")
	require.Equal(t, "Synced-unsynced", readAll(t, m, "db/f"), "the original is unchanged")

	// Truncation is a change to the contents like any write.
	require.NoError(t, f.Sync())
	require.NoError(t, f.Truncate(3))
	require.Equal(t, "Synced-unsynced", readAll(t, m.CrashClone(), "db/f"))
	require.NoError(t, f.Sync())
	require.Equal(t, "Syn", readAll(t, m.CrashClone(), "db/f"))

	// Create of an existing file truncates it; that too needs a Sync.
	g, err := m.Create("db/f")
	require.NoError(t, err)
	require.Equal(t, "Syn", readAll(t, m.CrashClone(), "db/f"))
	require.NoError(t, g.Sync())
	require.Equal(t, "", readAll(t, m.CrashClone(), "db/f"))

	// Any handle can sync, even a read-only one.
	writeAt(t, g, 0, "via g")
	r, err := m.Open("db/f")
	require.NoError(t, err)
	require.NoError(t, r.Sync())
	require.Equal(t, "via g", readAll(t, m.CrashClone(), "db/f"))
	require.NoError(t, r.Close())
	require.NoError(t, g.Close())
	require.NoError(t, f.Close())
}

func TestCrashCloneCreateNeedsSyncDir(t *testing.T) {
	m := newDurableDir(t)
	f, err := m.Create("db/f")
	require.NoError(t, err)
	writeAt(t, f, 0, "data")
	require.NoError(t, f.Sync())
	require.False(t, exists(t, m.CrashClone(), "db/f"), "synced file whose directory was not synced is lost")

	require.NoError(t, m.SyncDir("db"))
	require.Equal(t, "data", readAll(t, m.CrashClone(), "db/f"))
	require.NoError(t, f.Close())

	// A synced entry with unsynced contents survives, empty.
	g, err := m.Create("db/g")
	require.NoError(t, err)
	writeAt(t, g, 0, "never synced")
	require.NoError(t, m.SyncDir("db"))
	require.Equal(t, "", readAll(t, m.CrashClone(), "db/g"))
	require.NoError(t, g.Close())

	// Lock creates its file as an unsynced entry too.
	l, err := m.Lock("db/LOCK")
	require.NoError(t, err)
	require.False(t, exists(t, m.CrashClone(), "db/LOCK"))
	require.NoError(t, l.Close())
}

func TestCrashCloneMkdirAllNeedsParentSync(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("a/b", 0o755))
	createWith(t, m, "a/b/f", "x")
	require.NoError(t, m.SyncDir("a/b"))
	require.NoError(t, m.SyncDir("a"))
	c := m.CrashClone()
	require.False(t, exists(t, c, "a"), "the root was never synced, so a is gone")
	names, err := c.List("/")
	require.NoError(t, err)
	require.Empty(t, names)

	require.NoError(t, m.SyncDir("."))
	c = m.CrashClone()
	require.True(t, exists(t, c, "a/b/f"))
	fi, err := c.Stat("a/b")
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	require.Equal(t, fs.FileMode(0o755)|fs.ModeDir, fi.Mode())
}

func TestCrashCloneRename(t *testing.T) {
	m := newDurableDir(t)
	createWith(t, m, "db/tmp", "new")
	createWith(t, m, "db/CURRENT", "old")
	for _, name := range []string{"db/tmp", "db/CURRENT"} {
		f, err := m.OpenReadWrite(name)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
	}
	require.NoError(t, m.SyncDir("db"))

	require.NoError(t, m.Rename("db/tmp", "db/CURRENT"))
	c := m.CrashClone()
	require.Equal(t, "old", readAll(t, c, "db/CURRENT"), "unsynced rename is undone")
	require.Equal(t, "new", readAll(t, c, "db/tmp"))

	require.NoError(t, m.SyncDir("db"))
	c = m.CrashClone()
	require.Equal(t, "new", readAll(t, c, "db/CURRENT"))
	require.False(t, exists(t, c, "db/tmp"))
}

func TestCrashCloneRemove(t *testing.T) {
	m := newDurableDir(t)
	f, err := m.Create("db/f")
	require.NoError(t, err)
	writeAt(t, f, 0, "durable")
	require.NoError(t, f.Sync())
	writeAt(t, f, 0, "DURABLE")
	require.NoError(t, f.Close())
	require.NoError(t, m.SyncDir("db"))

	require.NoError(t, m.Remove("db/f"))
	c := m.CrashClone()
	require.Equal(t, "durable", readAll(t, c, "db/f"), "unsynced remove is undone, with durable contents")
	require.NoError(t, m.SyncDir("db"))
	require.False(t, exists(t, m.CrashClone(), "db/f"))
}

func TestCrashCloneRenameAcrossDirectories(t *testing.T) {
	setup := func() *vfs.MemFS {
		m := vfs.NewMem()
		require.NoError(t, m.MkdirAll("a", 0o755))
		require.NoError(t, m.MkdirAll("b", 0o755))
		require.NoError(t, m.SyncDir("/"))
		f, err := m.Create("a/f")
		require.NoError(t, err)
		writeAt(t, f, 0, "x")
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
		require.NoError(t, m.SyncDir("a"))
		require.NoError(t, m.Rename("a/f", "b/f"))
		return m
	}

	m := setup()
	c := m.CrashClone()
	require.True(t, exists(t, c, "a/f"))
	require.False(t, exists(t, c, "b/f"))

	m = setup()
	require.NoError(t, m.SyncDir("a"))
	c = m.CrashClone()
	require.False(t, exists(t, c, "a/f"), "only the source was synced: the file is lost")
	require.False(t, exists(t, c, "b/f"))

	m = setup()
	require.NoError(t, m.SyncDir("b"))
	c = m.CrashClone()
	require.Equal(t, "x", readAll(t, c, "a/f"), "only the target was synced: the file is in both")
	require.Equal(t, "x", readAll(t, c, "b/f"))

	m = setup()
	require.NoError(t, m.SyncDir("a"))
	require.NoError(t, m.SyncDir("b"))
	c = m.CrashClone()
	require.False(t, exists(t, c, "a/f"))
	require.Equal(t, "x", readAll(t, c, "b/f"))
}

// TestCrashCloneDirectoryCycle builds durable entries that, taken together,
// would put a directory inside itself; the clone must keep it once.
func TestCrashCloneDirectoryCycle(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("a/b", 0o755))
	require.NoError(t, m.SyncDir("/"))
	require.NoError(t, m.SyncDir("a"))
	require.NoError(t, m.Rename("a/b", "b"))
	require.NoError(t, m.SyncDir("/")) // durable: /a, /b, a/b
	require.NoError(t, m.Rename("a", "b/a"))
	require.NoError(t, m.SyncDir("b")) // durable: b/a, hence a -> b -> a
	c := m.CrashClone()
	names, err := c.List("/")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, names, "both are kept at their shallowest entry")
	for _, dir := range []string{"a", "b"} {
		sub, err := c.List(dir)
		require.NoError(t, err)
		require.Empty(t, sub, "the deeper entry of %s/ is dropped", dir)
	}
}

func TestCrashCloneIsIndependentAndDurable(t *testing.T) {
	m := newDurableDir(t)
	f, err := m.Create("db/f")
	require.NoError(t, err)
	writeAt(t, f, 0, "abc")
	require.NoError(t, f.Sync())
	require.NoError(t, m.SyncDir("db"))
	l, err := m.Lock("db/LOCK")
	require.NoError(t, err)
	require.NoError(t, m.SyncDir("db"))

	c := m.CrashClone()
	// The clone holds no locks.
	cl, err := c.Lock("db/LOCK")
	require.NoError(t, err)
	require.NoError(t, cl.Close())

	// Writes to either side do not show in the other.
	writeAt(t, f, 0, "XYZ")
	require.NoError(t, f.Sync())
	require.Equal(t, "abc", readAll(t, c, "db/f"))
	g, err := c.OpenReadWrite("db/f")
	require.NoError(t, err)
	writeAt(t, g, 0, "123")
	require.Equal(t, "XYZ", readAll(t, m, "db/f"))

	// The clone's state is durable: crashing it again changes nothing, until
	// it has unsynced changes of its own.
	require.Equal(t, "abc", readAll(t, c.CrashClone(), "db/f"))
	require.NoError(t, g.Sync())
	require.Equal(t, "123", readAll(t, c.CrashClone(), "db/f"))
	require.NoError(t, g.Close())
	require.NoError(t, f.Close())
	require.NoError(t, l.Close())
}

// tornStates returns every contents CrashCloneTorn may leave for a file whose
// durable contents are base and whose unsynced writes are writes (at the
// given offsets), in order.
func tornStates(base string, offs []int64, writes []string) map[string]bool {
	apply := func(b []byte, off int64, s string) []byte {
		if len(s) == 0 {
			return b
		}
		for int64(len(b)) < off+int64(len(s)) {
			b = append(b, 0)
		}
		copy(b[off:], s)
		return b
	}
	states := map[string]bool{}
	b := []byte(base)
	for i, w := range writes {
		states[string(b)] = true
		for cut := 0; cut < len(w); cut++ {
			states[string(apply(slices.Clone(b), offs[i], w[:cut]))] = true
		}
		b = apply(b, offs[i], w)
	}
	states[string(b)] = true
	return states
}

func TestCrashCloneTorn(t *testing.T) {
	m := newDurableDir(t)
	f, err := m.Create("db/log")
	require.NoError(t, err)
	require.NoError(t, m.SyncDir("db"))
	writeAt(t, f, 0, "durable|")
	require.NoError(t, f.Sync())
	offs := []int64{8, 16, 24}
	writes := []string{"record1|", "record2|", "record3|"}
	for i := range writes {
		writeAt(t, f, offs[i], writes[i])
	}
	// A file that was synced entirely, and one whose entry is not durable.
	g, err := m.Create("db/synced")
	require.NoError(t, err)
	writeAt(t, g, 0, "all of it")
	require.NoError(t, g.Sync())
	require.NoError(t, m.SyncDir("db"))
	h, err := m.Create("db/unlisted")
	require.NoError(t, err)
	writeAt(t, h, 0, "gone")
	require.NoError(t, h.Sync())

	allowed := tornStates("durable|", offs, writes)
	seen := map[string]bool{}
	for seed := range uint64(200) {
		c := m.CrashCloneTorn(rand.New(rand.NewPCG(seed, 0)))
		got := readAll(t, c, "db/log")
		require.True(t, allowed[got], "seed %d: %q is not a prefix of the write history", seed, got)
		seen[got] = true
		require.Equal(t, "all of it", readAll(t, c, "db/synced"))
		require.False(t, exists(t, c, "db/unlisted"))

		// The same seed gives the same clone.
		again := m.CrashCloneTorn(rand.New(rand.NewPCG(seed, 0)))
		require.Equal(t, got, readAll(t, again, "db/log"))
	}
	require.True(t, seen["durable|"], "some clone keeps no unsynced write")
	require.True(t, seen["durable|record1|record2|record3|"], "some clone keeps every write")
	torn := 0
	for s := range seen {
		if (len(s)-len("durable|"))%8 != 0 {
			torn++
		}
	}
	require.Positive(t, torn, "some clone tears a write mid-way")
	require.Equal(t, "durable|record1|record2|record3|", readAll(t, m, "db/log"), "original unchanged")
	for _, x := range []vfs.File{f, g, h} {
		require.NoError(t, x.Close())
	}
}

func TestCrashCloneTornTruncate(t *testing.T) {
	m := newDurableDir(t)
	f, err := m.Create("db/f")
	require.NoError(t, err)
	require.NoError(t, m.SyncDir("db"))
	writeAt(t, f, 0, "0123456789")
	require.NoError(t, f.Sync())
	require.NoError(t, f.Truncate(4))
	writeAt(t, f, 4, "ab")
	require.NoError(t, f.Close())
	// Possible: nothing, the truncation, the truncation and part of the write.
	allowed := map[string]bool{"0123456789": true, "0123": true, "0123a": true, "0123ab": true}
	seen := map[string]bool{}
	for seed := range uint64(100) {
		got := readAll(t, m.CrashCloneTorn(rand.New(rand.NewPCG(seed, 1))), "db/f")
		require.True(t, allowed[got], "seed %d: %q", seed, got)
		seen[got] = true
	}
	require.Len(t, seen, len(allowed))
}

func TestPathsShareOneRoot(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/db", 0o755))
	createWith(t, m, "db/f", "x")
	for _, name := range []string{"/db/f", "db/f", "../db/f", "/../db/./f", "db//f"} {
		require.Equal(t, "x", readAll(t, m, name), name)
	}
	for _, root := range []string{"/", ".", "./", "/.."} {
		fi, err := m.Stat(root)
		require.NoError(t, err)
		require.True(t, fi.IsDir())
		names, err := m.List(root)
		require.NoError(t, err)
		require.Equal(t, []string{"db"}, names)
	}
	require.Error(t, m.Remove("/"))
	require.Error(t, m.Rename("/", "x"))
}

func TestMemConcurrentUse(t *testing.T) {
	m := newDurableDir(t)
	shared, err := m.Create("db/shared")
	require.NoError(t, err)
	const workers, rounds, chunk = 4, 50, 16
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				own := fmt.Sprintf("db/own-%d", w)
				f, err := m.Create(own)
				if err != nil {
					return err
				}
				buf := make([]byte, chunk)
				for i := range rounds {
					for j := range buf {
						buf[j] = byte(w)
					}
					// Disjoint regions of the shared file, interleaved.
					if _, err := shared.WriteAt(buf, int64((i*workers+w)*chunk)); err != nil {
						return err
					}
					if _, err := f.WriteAt(buf, int64(i*chunk)); err != nil {
						return err
					}
					if i%10 == 0 {
						if err := shared.Sync(); err != nil {
							return err
						}
						if err := m.SyncDir("db"); err != nil {
							return err
						}
						if _, err := m.List("db"); err != nil {
							return err
						}
						tmp := fmt.Sprintf("db/tmp-%d", w)
						createErr := func() error {
							g, err := m.Create(tmp)
							if err != nil {
								return err
							}
							return g.Close()
						}()
						if createErr != nil {
							return createErr
						}
						if err := m.Rename(tmp, fmt.Sprintf("db/renamed-%d", w)); err != nil {
							return err
						}
					}
					if _, err := shared.ReadAt(buf[:1], 0); err != nil {
						return err
					}
				}
				return f.Close()
			}()
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- func() error {
			for range 20 {
				c := m.CrashCloneTorn(rand.New(rand.NewPCG(1, 2)))
				if _, err := c.List("db"); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	size, err := shared.Size()
	require.NoError(t, err)
	require.EqualValues(t, workers*rounds*chunk, size)
	buf := make([]byte, size)
	_, err = shared.ReadAt(buf, 0)
	require.NoError(t, err)
	for i, b := range buf {
		require.Equal(t, byte((i/chunk)%workers), b, "byte %d", i)
	}
	require.NoError(t, shared.Close())
	names, err := m.List("db")
	require.NoError(t, err)
	require.Len(t, names, 1+2*workers)
}

// TestCrashCloneDoesNotAliasWriteBuffers checks that the unsynced history a
// crash clone is built from holds copies of the written bytes.
func TestCrashCloneDoesNotAliasWriteBuffers(t *testing.T) {
	m := newDurableDir(t)
	f, err := m.Create("db/f")
	require.NoError(t, err)
	require.NoError(t, m.SyncDir("db"))
	buf := []byte("abcd")
	writeAt(t, f, 0, string(buf))
	_, err = f.WriteAt(buf, 4)
	require.NoError(t, err)
	copy(buf, "XXXX")
	for seed := range uint64(20) {
		got := readAll(t, m.CrashCloneTorn(rand.New(rand.NewPCG(seed, 3))), "db/f")
		require.NotContains(t, got, "X", "seed %d", seed)
	}
	require.NoError(t, f.Sync())
	require.Equal(t, "abcdabcd", readAll(t, m.CrashClone(), "db/f"))
	require.NoError(t, f.Close())
}
