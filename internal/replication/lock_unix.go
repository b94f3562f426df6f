//go:build unix

package replication

import (
	"os"
	"syscall"

	"github.com/cockroachdb/errors"
)

// lockFile opens path and takes an exclusive flock on it, without waiting:
// ErrDirInUse if another process holds it. Closing the file releases it.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, errors.Wrap(err, "replication: open the raft log lock")
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.Wrapf(ErrDirInUse, "%s is locked (is another rskv serve using this --dir?)", path)
		}
		return nil, errors.Wrapf(err, "replication: lock %s", path)
	}
	return f, nil
}
