//go:build !unix

package vfs

import (
	"io"

	"github.com/cockroachdb/errors"
)

// ErrLocked is returned by Lock when another holder has the lock.
var ErrLocked = errors.New("vfs: file is locked by another process or handle")

func lockFile(name string) (io.Closer, error) {
	return nil, errors.Newf("vfs: file locking is not supported on this platform (%s)", name)
}

func lockFileShared(name string) (io.Closer, error) {
	return nil, errors.Newf("vfs: file locking is not supported on this platform (%s)", name)
}
