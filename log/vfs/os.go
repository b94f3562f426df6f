package vfs

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/cockroachdb/errors"
)

// Default is the operating system's file system. Names are passed to the os
// package unchanged. Errors keep the *fs.PathError or *os.LinkError of the os
// package, wrapped with a stack trace: test them with errors.Is (for instance
// against fs.ErrNotExist), not os.IsNotExist. File.Sync is fdatasync on Linux
// and fsync elsewhere. Lock uses flock(2) on Unix: the lock belongs to an
// open file description, so a second Lock of the same file fails with
// ErrLocked even from the same process, until the first is closed.
var Default FS = osFS{}

// osFS implements FS with the os package.
type osFS struct{}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	return osFile{f}, nil
}

func (osFS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error { return errors.WithStack(os.Remove(name)) }

func (osFS) Rename(oldname, newname string) error {
	return errors.WithStack(os.Rename(oldname, newname))
}

func (osFS) MkdirAll(dir string, perm os.FileMode) error {
	return errors.WithStack(os.MkdirAll(dir, perm))
}

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) Stat(name string) (os.FileInfo, error) {
	fi, err := os.Stat(name)
	return fi, errors.WithStack(err)
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return errors.WithStack(err)
	}
	// Syncing a regular file through SyncDir would "work" on Linux, hiding a
	// caller that confused the two; refuse it, as MemFS does.
	if fi, err := d.Stat(); err == nil && !fi.IsDir() {
		_ = d.Close()
		return errors.WithStack(&fs.PathError{Op: "sync", Path: dir, Err: syscall.ENOTDIR})
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return errors.Wrapf(serr, "sync directory %s", dir)
	}
	return errors.WithStack(cerr)
}

func (osFS) Lock(name string) (io.Closer, error) { return lockFile(name) }

func (osFS) LockShared(name string) (io.Closer, error) { return lockFileShared(name) }

// osFile implements File with an *os.File.
type osFile struct{ f *os.File }

// ReadAt returns io.EOF itself, unwrapped, so that callers comparing with ==
// keep working; other errors get a stack trace.
func (o osFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = errors.WithStack(err)
	}
	return n, err
}

func (o osFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := o.f.WriteAt(p, off)
	return n, errors.WithStack(err)
}

func (o osFile) Close() error { return errors.WithStack(o.f.Close()) }

func (o osFile) Sync() error { return errors.WithStack(fdatasync(o.f)) }

func (o osFile) Truncate(size int64) error { return errors.WithStack(o.f.Truncate(size)) }

func (o osFile) Size() (int64, error) {
	fi, err := o.f.Stat()
	if err != nil {
		return 0, errors.WithStack(err)
	}
	return fi.Size(), nil
}
