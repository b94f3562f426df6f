package test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/rskv-go/rskv/log/vfs"
)

// errInjected is the error faultFS returns for an operation it fails.
var errInjected = errors.New("injected I/O error")

// faultFS wraps a vfs.FS. It numbers every operation (on the file system and
// on its files), can fail the operation with a given number, or every write
// or every sync once armed, and tracks which files and locks are open.
type faultFS struct {
	inner vfs.FS

	mu         sync.Mutex
	ops        int
	failAt     int // fail operation number failAt; -1: none
	failWrites bool
	failSyncs  bool
	injected   int
	lastKind   string // kind of the last injected failure
	files      map[*faultFile]string
	locks      map[*faultLock]string
}

func newFaultFS() *faultFS {
	return &faultFS{inner: vfs.Default, failAt: -1, files: map[*faultFile]string{}, locks: map[*faultLock]string{}}
}

// op counts an operation and says whether to fail it.
func (fs *faultFS) op(kind string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.ops
	fs.ops++
	if n == fs.failAt || (kind == "write" && fs.failWrites) || (kind == "sync" && fs.failSyncs) {
		fs.injected++
		fs.lastKind = kind
		return fmt.Errorf("%s (operation %d): %w", kind, n, errInjected)
	}
	return nil
}

func (fs *faultFS) arm(writes, syncs bool) {
	fs.mu.Lock()
	fs.failWrites, fs.failSyncs = writes, syncs
	fs.mu.Unlock()
}

// openHandles lists the files and locks still open.
func (fs *faultFS) openHandles() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []string
	for _, name := range fs.files {
		out = append(out, "file "+name)
	}
	for _, name := range fs.locks {
		out = append(out, "lock "+name)
	}
	return out
}

func (fs *faultFS) opCount() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.ops
}

func (fs *faultFS) track(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	ff := &faultFile{inner: f, fs: fs}
	fs.mu.Lock()
	fs.files[ff] = filepath.Base(name)
	fs.mu.Unlock()
	return ff, nil
}

func (fs *faultFS) Create(name string) (vfs.File, error) {
	if err := fs.op("create"); err != nil {
		return nil, err
	}
	f, err := fs.inner.Create(name)
	return fs.track(name, f, err)
}

func (fs *faultFS) OpenReadWrite(name string) (vfs.File, error) {
	if err := fs.op("open"); err != nil {
		return nil, err
	}
	f, err := fs.inner.OpenReadWrite(name)
	return fs.track(name, f, err)
}

func (fs *faultFS) Open(name string) (vfs.File, error) {
	if err := fs.op("open"); err != nil {
		return nil, err
	}
	f, err := fs.inner.Open(name)
	return fs.track(name, f, err)
}

func (fs *faultFS) Remove(name string) error {
	if err := fs.op("remove"); err != nil {
		return err
	}
	return fs.inner.Remove(name)
}

func (fs *faultFS) Rename(oldname, newname string) error {
	if err := fs.op("rename"); err != nil {
		return err
	}
	return fs.inner.Rename(oldname, newname)
}

func (fs *faultFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := fs.op("mkdir"); err != nil {
		return err
	}
	return fs.inner.MkdirAll(dir, perm)
}

func (fs *faultFS) List(dir string) ([]string, error) {
	if err := fs.op("list"); err != nil {
		return nil, err
	}
	return fs.inner.List(dir)
}

func (fs *faultFS) Stat(name string) (os.FileInfo, error) {
	if err := fs.op("stat"); err != nil {
		return nil, err
	}
	return fs.inner.Stat(name)
}

func (fs *faultFS) SyncDir(dir string) error {
	if err := fs.op("sync"); err != nil {
		return err
	}
	return fs.inner.SyncDir(dir)
}

func (fs *faultFS) Lock(name string) (io.Closer, error) { return fs.lock(name, fs.inner.Lock) }

func (fs *faultFS) LockShared(name string) (io.Closer, error) {
	return fs.lock(name, fs.inner.LockShared)
}

// lock takes a lock on name with take (the inner file system's Lock or
// LockShared) and tracks it until it is closed.
func (fs *faultFS) lock(name string, take func(string) (io.Closer, error)) (io.Closer, error) {
	if err := fs.op("lock"); err != nil {
		return nil, err
	}
	c, err := take(name)
	if err != nil {
		return nil, err
	}
	l := &faultLock{inner: c, fs: fs}
	fs.mu.Lock()
	fs.locks[l] = filepath.Base(name)
	fs.mu.Unlock()
	return l, nil
}

type faultLock struct {
	inner io.Closer
	fs    *faultFS
}

func (l *faultLock) Close() error {
	l.fs.mu.Lock()
	delete(l.fs.locks, l)
	l.fs.mu.Unlock()
	err := l.inner.Close()
	if ferr := l.fs.op("close"); ferr != nil {
		return ferr
	}
	return err
}

type faultFile struct {
	inner vfs.File
	fs    *faultFS
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.op("read"); err != nil {
		return 0, err
	}
	return f.inner.ReadAt(p, off)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.op("write"); err != nil {
		return 0, err
	}
	return f.inner.WriteAt(p, off)
}

// Close always releases the file, as close(2) does, even when it reports an
// injected error.
func (f *faultFile) Close() error {
	f.fs.mu.Lock()
	delete(f.fs.files, f)
	f.fs.mu.Unlock()
	err := f.inner.Close()
	if ferr := f.fs.op("close"); ferr != nil {
		return ferr
	}
	return err
}

func (f *faultFile) Sync() error {
	if err := f.fs.op("sync"); err != nil {
		return err
	}
	return f.inner.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.op("truncate"); err != nil {
		return err
	}
	return f.inner.Truncate(size)
}

func (f *faultFile) Size() (int64, error) {
	if err := f.fs.op("size"); err != nil {
		return 0, err
	}
	return f.inner.Size()
}

// copyDir copies the regular files of src into a new directory.
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
