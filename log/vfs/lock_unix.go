//go:build unix

package vfs

import (
	"io"
	"os"
	"syscall"

	"github.com/cockroachdb/errors"
)

// ErrLocked is returned by Lock when another holder has the lock.
var ErrLocked = errors.New("vfs: file is locked by another process or handle")

type fileLock struct{ f *os.File }

func (l fileLock) Close() error {
	// Closing the descriptor releases the flock.
	return errors.WithStack(l.f.Close())
}

// lockFile takes an exclusive flock on name, creating the file if needed.
func lockFile(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	return flock(f, name, syscall.LOCK_EX)
}

// lockFileShared takes a shared flock on name, which must exist. The file is
// opened read-only, so neither its contents nor its times change.
func lockFileShared(name string) (io.Closer, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	return flock(f, name, syscall.LOCK_SH)
}

func flock(f *os.File, name string, how int) (io.Closer, error) {
	// flock locks belong to the open file description, so a second Open of the
	// same store in this process conflicts just as another process would.
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.Wrapf(ErrLocked, "%s", name)
		}
		return nil, errors.Wrapf(err, "lock %s", name)
	}
	return fileLock{f}, nil
}
