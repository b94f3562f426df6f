//go:build unix

package vfs

import (
	"syscall"

	"github.com/cockroachdb/errors"
)

// MapRead maps the first size bytes of the file read-only and shared, so
// reads of data the file holds cost no system call. The mapping may extend
// past the end of the file, but bytes past the end must never be read: the
// kernel raises SIGBUS for whole pages beyond it, as it does when a mapped
// page cannot be read from the device.
func (o osFile) MapRead(size int64) ([]byte, error) {
	conn, err := o.f.SyscallConn()
	if err != nil {
		return nil, errors.WithStack(err)
	}
	var b []byte
	var merr error
	if err := conn.Control(func(fd uintptr) {
		b, merr = syscall.Mmap(int(fd), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	}); err != nil {
		return nil, errors.WithStack(err)
	}
	if merr != nil {
		return nil, errors.Wrapf(merr, "mmap %s", o.f.Name())
	}
	return b, nil
}

// Unmap releases a mapping made by MapRead.
func Unmap(b []byte) error { return errors.WithStack(syscall.Munmap(b)) }
