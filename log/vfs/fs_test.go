package vfs_test

import (
	"io"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/log/vfs"
)

// fsCase is a file system under test and the directory to work in.
type fsCase struct {
	name string
	fs   vfs.FS
	dir  string
}

func (c fsCase) path(elem ...string) string {
	return filepath.Join(append([]string{c.dir}, elem...)...)
}

// forEachFS runs fn against the OS file system (in a temporary directory) and
// against a MemFS, so that MemFS is held to the behaviour of the OS.
func forEachFS(t *testing.T, fn func(t *testing.T, c fsCase)) {
	t.Run("os", func(t *testing.T) {
		fn(t, fsCase{name: "os", fs: vfs.Default, dir: t.TempDir()})
	})
	t.Run("mem", func(t *testing.T) {
		fn(t, fsCase{name: "mem", fs: vfs.NewMem(), dir: "/"})
	})
}

func createWith(t *testing.T, fsys vfs.FS, name, contents string) {
	t.Helper()
	f, err := fsys.Create(name)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte(contents), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func readAll(t *testing.T, fsys vfs.FS, name string) string {
	t.Helper()
	f, err := fsys.Open(name)
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	size, err := f.Size()
	require.NoError(t, err)
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if size > 0 {
		require.NoError(t, err)
	}
	require.Equal(t, int(size), n)
	return string(buf)
}

func TestReadWriteSizeTruncate(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		f, err := c.fs.Create(c.path("f"))
		require.NoError(t, err)
		n, err := f.WriteAt([]byte("hello"), 0)
		require.NoError(t, err)
		require.Equal(t, 5, n)

		// Writing past the end extends with zeros.
		_, err = f.WriteAt([]byte("xy"), 8)
		require.NoError(t, err)
		size, err := f.Size()
		require.NoError(t, err)
		require.EqualValues(t, 10, size)

		buf := make([]byte, 10)
		n, err = f.ReadAt(buf, 0)
		require.NoError(t, err)
		require.Equal(t, 10, n)
		require.Equal(t, "hello\x00\x00\x00xy", string(buf))

		// Reading across the end returns the bytes there are and io.EOF itself.
		buf = make([]byte, 4)
		n, err = f.ReadAt(buf, 8)
		require.Equal(t, io.EOF, err)
		require.Equal(t, 2, n)
		require.Equal(t, "xy", string(buf[:n]))
		n, err = f.ReadAt(buf, 10)
		require.Equal(t, io.EOF, err)
		require.Zero(t, n)
		n, err = f.ReadAt(buf, 100)
		require.Equal(t, io.EOF, err)
		require.Zero(t, n)
		n, err = f.ReadAt(nil, 100)
		require.NoError(t, err)
		require.Zero(t, n)

		// An empty write does not extend the file.
		n, err = f.WriteAt(nil, 50)
		require.NoError(t, err)
		require.Zero(t, n)
		size, err = f.Size()
		require.NoError(t, err)
		require.EqualValues(t, 10, size)

		_, err = f.ReadAt(buf, -1)
		require.Error(t, err)
		_, err = f.WriteAt(buf, -1)
		require.Error(t, err)

		// Shrink, then grow again: the regrown part is zeros, not old bytes.
		require.NoError(t, f.Truncate(2))
		size, err = f.Size()
		require.NoError(t, err)
		require.EqualValues(t, 2, size)
		require.NoError(t, f.Truncate(6))
		buf = make([]byte, 6)
		_, err = f.ReadAt(buf, 0)
		require.NoError(t, err)
		require.Equal(t, "he\x00\x00\x00\x00", string(buf))
		require.Error(t, f.Truncate(-1))

		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
		require.Equal(t, "he\x00\x00\x00\x00", readAll(t, c.fs, c.path("f")))
	})
}

func TestBuffersAreNotAliased(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		f, err := c.fs.Create(c.path("f"))
		require.NoError(t, err)
		defer func() { require.NoError(t, f.Close()) }()
		in := []byte("abcd")
		_, err = f.WriteAt(in, 0)
		require.NoError(t, err)
		copy(in, "XXXX")
		out := make([]byte, 4)
		_, err = f.ReadAt(out, 0)
		require.NoError(t, err)
		require.Equal(t, "abcd", string(out))
		copy(out, "YYYY")
		out2 := make([]byte, 4)
		_, err = f.ReadAt(out2, 0)
		require.NoError(t, err)
		require.Equal(t, "abcd", string(out2))
	})
}

func TestClosedFile(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		f, err := c.fs.Create(c.path("f"))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		_, err = f.ReadAt(make([]byte, 1), 0)
		require.ErrorIs(t, err, fs.ErrClosed)
		_, err = f.WriteAt([]byte("x"), 0)
		require.ErrorIs(t, err, fs.ErrClosed)
		require.ErrorIs(t, f.Sync(), fs.ErrClosed)
		require.ErrorIs(t, f.Truncate(0), fs.ErrClosed)
		_, err = f.Size()
		require.ErrorIs(t, err, fs.ErrClosed)
		require.ErrorIs(t, f.Close(), fs.ErrClosed)
	})
}

func TestReadOnlyFile(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		createWith(t, c.fs, c.path("f"), "abc")
		f, err := c.fs.Open(c.path("f"))
		require.NoError(t, err)
		defer func() { require.NoError(t, f.Close()) }()
		_, err = f.WriteAt([]byte("x"), 0)
		require.ErrorIs(t, err, syscall.EBADF)
		require.ErrorIs(t, f.Truncate(0), syscall.EINVAL)
		require.NoError(t, f.Sync(), "fsync of a read-only descriptor is allowed")
		require.Equal(t, "abc", readAll(t, c.fs, c.path("f")))
	})
}

func TestCreateTruncatesExisting(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		createWith(t, c.fs, c.path("f"), "old contents")
		r, err := c.fs.Open(c.path("f"))
		require.NoError(t, err)
		defer func() { require.NoError(t, r.Close()) }()
		w, err := c.fs.Create(c.path("f"))
		require.NoError(t, err)
		// Same file: a handle opened before sees the truncation and new data.
		size, err := r.Size()
		require.NoError(t, err)
		require.Zero(t, size)
		_, err = w.WriteAt([]byte("new"), 0)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		buf := make([]byte, 3)
		_, err = r.ReadAt(buf, 0)
		require.NoError(t, err)
		require.Equal(t, "new", string(buf))
	})
}

func TestOpenReadWrite(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		_, err := c.fs.OpenReadWrite(c.path("missing"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		createWith(t, c.fs, c.path("f"), "abcdef")
		f, err := c.fs.OpenReadWrite(c.path("f"))
		require.NoError(t, err)
		_, err = f.WriteAt([]byte("XY"), 2)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		require.Equal(t, "abXYef", readAll(t, c.fs, c.path("f")), "OpenReadWrite must not truncate")
	})
}

func TestNotExistErrors(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		_, err := c.fs.Open(c.path("missing"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		_, err = c.fs.Create(c.path("nodir", "f"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		_, err = c.fs.Lock(c.path("nodir", "LOCK"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.ErrorIs(t, c.fs.Remove(c.path("missing")), fs.ErrNotExist)
		require.ErrorIs(t, c.fs.Rename(c.path("missing"), c.path("x")), fs.ErrNotExist)
		createWith(t, c.fs, c.path("f"), "")
		require.ErrorIs(t, c.fs.Rename(c.path("f"), c.path("nodir", "x")), fs.ErrNotExist)
		_, err = c.fs.List(c.path("missing"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		_, err = c.fs.Stat(c.path("missing"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.ErrorIs(t, c.fs.SyncDir(c.path("missing")), fs.ErrNotExist)
		_, err = c.fs.Open("")
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.ErrorIs(t, c.fs.MkdirAll("", 0o755), fs.ErrNotExist)
	})
}

func TestDirectoryErrors(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		require.NoError(t, c.fs.MkdirAll(c.path("d", "e"), 0o755))
		require.NoError(t, c.fs.MkdirAll(c.path("d", "e"), 0o755), "MkdirAll of an existing directory succeeds")
		createWith(t, c.fs, c.path("f"), "x")

		require.ErrorIs(t, c.fs.MkdirAll(c.path("f"), 0o755), syscall.ENOTDIR)
		require.ErrorIs(t, c.fs.MkdirAll(c.path("f", "g"), 0o755), syscall.ENOTDIR)
		_, err := c.fs.Open(c.path("f", "g"))
		require.ErrorIs(t, err, syscall.ENOTDIR)
		_, err = c.fs.List(c.path("f"))
		require.ErrorIs(t, err, syscall.ENOTDIR)
		require.ErrorIs(t, c.fs.SyncDir(c.path("f")), syscall.ENOTDIR)

		_, err = c.fs.Create(c.path("d"))
		require.ErrorIs(t, err, syscall.EISDIR)
		_, err = c.fs.OpenReadWrite(c.path("d"))
		require.ErrorIs(t, err, syscall.EISDIR)
		_, err = c.fs.Lock(c.path("d"))
		require.ErrorIs(t, err, syscall.EISDIR)

		require.ErrorIs(t, c.fs.Remove(c.path("d")), syscall.ENOTEMPTY)
		require.ErrorIs(t, c.fs.Rename(c.path("f"), c.path("d")), fs.ErrExist)
		require.ErrorIs(t, c.fs.Rename(c.path("d"), c.path("f")), syscall.ENOTDIR)
		require.ErrorIs(t, c.fs.Rename(c.path("d"), c.path("d", "e", "x")), syscall.EINVAL)
		require.ErrorIs(t, c.fs.Rename(c.path("d"), c.path("d")), fs.ErrExist)

		// A directory can be renamed to a free name and removed once empty.
		require.NoError(t, c.fs.Rename(c.path("d"), c.path("d2")))
		require.NoError(t, c.fs.Remove(c.path("d2", "e")))
		require.NoError(t, c.fs.Remove(c.path("d2")))
		names, err := c.fs.List(c.path())
		require.NoError(t, err)
		require.Equal(t, []string{"f"}, names)
		require.NoError(t, c.fs.SyncDir(c.path()))
	})
}

func TestListAndStat(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		require.NoError(t, c.fs.MkdirAll(c.path("db"), 0o755))
		for _, name := range []string{"c", "a", "B", "b", "000010.log", "000002.log"} {
			createWith(t, c.fs, c.path("db", name), name)
		}
		require.NoError(t, c.fs.MkdirAll(c.path("db", "sub"), 0o755))
		names, err := c.fs.List(c.path("db"))
		require.NoError(t, err)
		require.Equal(t, []string{"000002.log", "000010.log", "B", "a", "b", "c", "sub"}, names)

		fi, err := c.fs.Stat(c.path("db", "000010.log"))
		require.NoError(t, err)
		require.Equal(t, "000010.log", fi.Name())
		require.EqualValues(t, len("000010.log"), fi.Size())
		require.False(t, fi.IsDir())
		require.True(t, fi.Mode().IsRegular())

		fi, err = c.fs.Stat(c.path("db", "sub"))
		require.NoError(t, err)
		require.Equal(t, "sub", fi.Name())
		require.True(t, fi.IsDir())

		empty, err := c.fs.List(c.path("db", "sub"))
		require.NoError(t, err)
		require.Empty(t, empty)
	})
}

func TestRenameAndRemoveKeepOpenFiles(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		createWith(t, c.fs, c.path("a"), "A")
		createWith(t, c.fs, c.path("b"), "B")
		f, err := c.fs.Open(c.path("b"))
		require.NoError(t, err)
		defer func() { require.NoError(t, f.Close()) }()

		// Renaming a onto b replaces b; the open handle still reads old b.
		require.NoError(t, c.fs.Rename(c.path("a"), c.path("b")))
		require.Equal(t, "A", readAll(t, c.fs, c.path("b")))
		_, err = c.fs.Stat(c.path("a"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		buf := make([]byte, 1)
		_, err = f.ReadAt(buf, 0)
		require.NoError(t, err)
		require.Equal(t, "B", string(buf))

		// A file renamed to itself is untouched.
		require.NoError(t, c.fs.Rename(c.path("b"), c.path("b")))
		require.Equal(t, "A", readAll(t, c.fs, c.path("b")))

		g, err := c.fs.Open(c.path("b"))
		require.NoError(t, err)
		require.NoError(t, c.fs.Remove(c.path("b")))
		_, err = g.ReadAt(buf, 0)
		require.NoError(t, err)
		require.Equal(t, "A", string(buf))
		require.NoError(t, g.Close())
		names, err := c.fs.List(c.path())
		require.NoError(t, err)
		require.Empty(t, names)
	})
}

func TestCleanPaths(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		require.NoError(t, c.fs.MkdirAll(c.path("d"), 0o755))
		createWith(t, c.fs, c.path("d", "f"), "x")
		for _, name := range []string{
			c.path("d", ".", "f"),
			c.path("d", "..", "d", "f"),
			c.path("d") + "//f",
		} {
			fi, err := c.fs.Stat(name)
			require.NoError(t, err, name)
			require.Equal(t, "f", fi.Name())
		}
		names, err := c.fs.List(c.path("d") + "/")
		require.NoError(t, err)
		require.Equal(t, []string{"f"}, names)
	})
}

func TestLock(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		l1, err := c.fs.Lock(c.path("LOCK"))
		require.NoError(t, err)
		_, err = c.fs.Stat(c.path("LOCK"))
		require.NoError(t, err, "Lock creates the file")

		_, err = c.fs.Lock(c.path("LOCK"))
		require.ErrorIs(t, err, vfs.ErrLocked)
		require.Contains(t, err.Error(), "LOCK")

		// A different file is a different lock.
		l2, err := c.fs.Lock(c.path("OTHER"))
		require.NoError(t, err)

		require.NoError(t, l1.Close())
		l3, err := c.fs.Lock(c.path("LOCK"))
		require.NoError(t, err, "closing the holder releases the lock")
		require.NoError(t, l3.Close())
		require.NoError(t, l2.Close())
		require.ErrorIs(t, l1.Close(), fs.ErrClosed)
	})
}

func TestOSSyncDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, vfs.Default.SyncDir(dir))
	createWith(t, vfs.Default, filepath.Join(dir, "f"), "x")
	err := vfs.Default.SyncDir(filepath.Join(dir, "f"))
	require.ErrorIs(t, err, syscall.ENOTDIR)
	var pe *fs.PathError
	require.True(t, errors.As(err, &pe))
}

func TestLockShared(t *testing.T) {
	forEachFS(t, func(t *testing.T, c fsCase) {
		_, err := c.fs.LockShared(c.path("LOCK"))
		require.ErrorIs(t, err, fs.ErrNotExist, "LockShared never creates the file")
		_, err = c.fs.Stat(c.path("LOCK"))
		require.ErrorIs(t, err, fs.ErrNotExist)

		ex, err := c.fs.Lock(c.path("LOCK"))
		require.NoError(t, err)
		_, err = c.fs.LockShared(c.path("LOCK"))
		require.ErrorIs(t, err, vfs.ErrLocked, "a shared lock waits for no exclusive holder")
		require.NoError(t, ex.Close())

		s1, err := c.fs.LockShared(c.path("LOCK"))
		require.NoError(t, err)
		s2, err := c.fs.LockShared(c.path("LOCK"))
		require.NoError(t, err, "shared holders coexist")
		_, err = c.fs.Lock(c.path("LOCK"))
		require.ErrorIs(t, err, vfs.ErrLocked, "an exclusive lock is refused while shared holders have it")
		require.NoError(t, s1.Close())
		_, err = c.fs.Lock(c.path("LOCK"))
		require.ErrorIs(t, err, vfs.ErrLocked, "one shared holder is left")
		require.NoError(t, s2.Close())
		require.ErrorIs(t, s2.Close(), fs.ErrClosed)

		ex, err = c.fs.Lock(c.path("LOCK"))
		require.NoError(t, err, "the last shared holder released it")
		require.NoError(t, ex.Close())
	})
}
