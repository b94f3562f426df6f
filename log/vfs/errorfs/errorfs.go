package errorfs

import (
	"io"
	"math/rand/v2"
	"os"
	"sync"

	"github.com/cockroachdb/errors"

	"github.com/rskv-go/rskv/log/vfs"
)

// ErrInjected is the error every injected failure wraps. Test for it with
// errors.Is.
var ErrInjected = errors.New("errorfs: injected error")

// injectedError returns the error for a failed call: it wraps ErrInjected and
// its message starts with the call, such as
// "write db/000001.log [0, +512): errorfs: injected error".
func injectedError(c Call) error {
	return errors.WrapWithDepthf(1, ErrInjected, "%s", c)
}

// Option configures Wrap.
type Option func(*config)

type config struct {
	shortWrite func(n int) int
}

// WithShortWrites makes a write that is chosen to fail first write a prefix
// of its buffer, then return the injected error with the prefix length, as a
// crash or an I/O error in the middle of a write would. prefix is given
// len(p) and returns how many bytes to write; the result is clamped to
// [0, len(p)], so returning len(p) models a write that happened but reported
// failure. Without this option a failed write writes nothing. See
// RandomPrefix.
func WithShortWrites(prefix func(n int) int) Option {
	return func(c *config) { c.shortWrite = prefix }
}

// RandomPrefix returns a prefix function for WithShortWrites that picks a
// length uniformly in [0, n), so the write is always short, from a random
// source seeded with seed. It is safe for concurrent use.
func RandomPrefix(seed uint64) func(n int) int {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, ^seed))
	return func(n int) int {
		if n <= 0 {
			return 0
		}
		mu.Lock()
		defer mu.Unlock()
		return rng.IntN(n)
	}
}

// Wrap returns a vfs.FS that passes every operation of fs, and of the files
// and locks it returns, to inj first. When inj fails an operation, the
// operation does not run and returns an error wrapping ErrInjected that names
// the operation and its path; a nil inj fails nothing. Two exceptions model
// what a real device does: a write may first write a prefix (see
// WithShortWrites), and a Close always closes the underlying file or lock, so
// nothing leaks and a lock is released, before returning the injected error.
func Wrap(fs vfs.FS, inj Injector, opts ...Option) vfs.FS {
	w := &wrapFS{fs: fs, inj: inj}
	for _, o := range opts {
		o(&w.cfg)
	}
	return w
}

type wrapFS struct {
	fs  vfs.FS
	inj Injector
	cfg config
}

// check asks the injector about c and returns the injected error, if any.
func (w *wrapFS) check(c Call) error {
	if w.inj != nil && w.inj.MaybeFail(c) {
		return injectedError(c)
	}
	return nil
}

func (w *wrapFS) wrapFile(f vfs.File, err error, name string) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &wrapFile{w: w, f: f, name: name}, nil
}

func (w *wrapFS) Create(name string) (vfs.File, error) {
	if err := w.check(Call{Op: OpCreate, Path: name}); err != nil {
		return nil, err
	}
	f, err := w.fs.Create(name)
	return w.wrapFile(f, err, name)
}

func (w *wrapFS) OpenReadWrite(name string) (vfs.File, error) {
	if err := w.check(Call{Op: OpOpen, Path: name}); err != nil {
		return nil, err
	}
	f, err := w.fs.OpenReadWrite(name)
	return w.wrapFile(f, err, name)
}

func (w *wrapFS) Open(name string) (vfs.File, error) {
	if err := w.check(Call{Op: OpOpen, Path: name}); err != nil {
		return nil, err
	}
	f, err := w.fs.Open(name)
	return w.wrapFile(f, err, name)
}

func (w *wrapFS) Remove(name string) error {
	if err := w.check(Call{Op: OpRemove, Path: name}); err != nil {
		return err
	}
	return w.fs.Remove(name)
}

func (w *wrapFS) Rename(oldname, newname string) error {
	if err := w.check(Call{Op: OpRename, Path: oldname, NewPath: newname}); err != nil {
		return err
	}
	return w.fs.Rename(oldname, newname)
}

func (w *wrapFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := w.check(Call{Op: OpMkdir, Path: dir}); err != nil {
		return err
	}
	return w.fs.MkdirAll(dir, perm)
}

func (w *wrapFS) List(dir string) ([]string, error) {
	if err := w.check(Call{Op: OpList, Path: dir}); err != nil {
		return nil, err
	}
	return w.fs.List(dir)
}

func (w *wrapFS) Stat(name string) (os.FileInfo, error) {
	if err := w.check(Call{Op: OpStat, Path: name}); err != nil {
		return nil, err
	}
	return w.fs.Stat(name)
}

func (w *wrapFS) SyncDir(dir string) error {
	if err := w.check(Call{Op: OpSyncDir, Path: dir}); err != nil {
		return err
	}
	return w.fs.SyncDir(dir)
}

func (w *wrapFS) Lock(name string) (io.Closer, error) {
	if err := w.check(Call{Op: OpLock, Path: name}); err != nil {
		return nil, err
	}
	l, err := w.fs.Lock(name)
	if err != nil {
		return nil, err
	}
	return &wrapCloser{w: w, c: l, name: name}, nil
}

func (w *wrapFS) LockShared(name string) (io.Closer, error) {
	if err := w.check(Call{Op: OpLock, Path: name}); err != nil {
		return nil, err
	}
	l, err := w.fs.LockShared(name)
	if err != nil {
		return nil, err
	}
	return &wrapCloser{w: w, c: l, name: name}, nil
}

// wrapFile is a file opened through a wrapFS.
type wrapFile struct {
	w    *wrapFS
	f    vfs.File
	name string
}

func (f *wrapFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.w.check(Call{Op: OpRead, Path: f.name, Off: off, Len: len(p)}); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

func (f *wrapFile) WriteAt(p []byte, off int64) (int, error) {
	err := f.w.check(Call{Op: OpWrite, Path: f.name, Off: off, Len: len(p)})
	if err == nil {
		return f.f.WriteAt(p, off)
	}
	if f.w.cfg.shortWrite == nil {
		return 0, err
	}
	k := min(max(f.w.cfg.shortWrite(len(p)), 0), len(p))
	if k == 0 {
		return 0, err
	}
	n, werr := f.f.WriteAt(p[:k], off)
	if werr != nil {
		return n, werr
	}
	return n, err
}

func (f *wrapFile) Close() error {
	err := f.w.check(Call{Op: OpClose, Path: f.name})
	cerr := f.f.Close()
	if err != nil {
		return err
	}
	return cerr
}

func (f *wrapFile) Sync() error {
	if err := f.w.check(Call{Op: OpSync, Path: f.name}); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *wrapFile) Truncate(size int64) error {
	if err := f.w.check(Call{Op: OpTruncate, Path: f.name, Off: size}); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *wrapFile) Size() (int64, error) {
	if err := f.w.check(Call{Op: OpSize, Path: f.name}); err != nil {
		return 0, err
	}
	return f.f.Size()
}

// wrapCloser is a lock taken through a wrapFS.
type wrapCloser struct {
	w    *wrapFS
	c    io.Closer
	name string
}

func (l *wrapCloser) Close() error {
	err := l.w.check(Call{Op: OpClose, Path: l.name})
	cerr := l.c.Close()
	if err != nil {
		return err
	}
	return cerr
}
