package vfs

import (
	"io/fs"
	"os"
	"syscall"
)

// fdatasync flushes file data and the metadata needed to read it back (the
// size), skipping timestamps: cheaper than fsync and just as durable for a log.
//
// It goes through SyscallConn rather than f.Fd(), so the descriptor cannot be
// closed (and its number reused) by a concurrent Close during the call, and a
// closed file reports fs.ErrClosed like the rest of os.File.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		// Control fails only when the file is closed or closing.
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: fs.ErrClosed}
	}
	if serr != nil {
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: serr}
	}
	return nil
}
