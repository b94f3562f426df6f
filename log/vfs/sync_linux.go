package vfs

import (
	"os"
	"syscall"
)

// fdatasync flushes file data and the metadata needed to read it back (the
// size), skipping timestamps: cheaper than fsync and just as durable for a log.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
