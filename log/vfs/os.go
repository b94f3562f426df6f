package vfs

import (
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/cockroachdb/errors"
)

// Default is the operating system's file system.
var Default FS = osFS{}

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
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return errors.Wrapf(serr, "sync directory %s", dir)
	}
	return errors.WithStack(cerr)
}

func (osFS) Lock(name string) (io.Closer, error) { return lockFile(name) }

type osFile struct{ f *os.File }

func (o osFile) ReadAt(p []byte, off int64) (int, error) { return o.f.ReadAt(p, off) }

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
