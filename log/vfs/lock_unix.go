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

func lockFile(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	// flock locks belong to the open file description, so a second Open of the
	// same store in this process conflicts just as another process would.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.Wrapf(ErrLocked, "%s", name)
		}
		return nil, errors.Wrapf(err, "lock %s", name)
	}
	return fileLock{f}, nil
}
