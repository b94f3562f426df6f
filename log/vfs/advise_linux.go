package vfs

import (
	"syscall"

	"github.com/cockroachdb/errors"
)

// posix_fadvise and madvise values (the same numbers on every Linux
// architecture Go supports).
const (
	fadvNormal     = 0
	fadvRandom     = 1
	fadvSequential = 2
	fadvWillNeed   = 3
	fadvDontNeed   = 4

	// sync_file_range flags: wait for writeback already under way, start
	// it for the range's dirty pages, wait for it.
	syncRangeWaitWrite = 1 | 2 | 4
)

func fadvice(a Advice) int {
	switch a {
	case AdviseRandom:
		return fadvRandom
	case AdviseSequential:
		return fadvSequential
	case AdviseWillNeed:
		return fadvWillNeed
	case AdviseDontNeed:
		return fadvDontNeed
	}
	return fadvNormal
}

// Advise calls posix_fadvise on the file.
func (o osFile) Advise(offset, length int64, advice Advice) error {
	conn, err := o.f.SyscallConn()
	if err != nil {
		return errors.WithStack(err)
	}
	var errno syscall.Errno
	if err := conn.Control(func(fd uintptr) {
		if advice == AdviseDontNeed {
			// Dirty pages are not dropped: write the range back first.
			_, _, errno = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, uintptr(offset), uintptr(length), syncRangeWaitWrite, 0, 0)
			if errno != 0 {
				return
			}
		}
		_, _, errno = syscall.Syscall6(syscall.SYS_FADVISE64, fd, uintptr(offset), uintptr(length), uintptr(fadvice(advice)), 0, 0)
	}); err != nil {
		return errors.WithStack(err)
	}
	if errno != 0 {
		return errors.Wrapf(errno, "fadvise %s", o.f.Name())
	}
	return nil
}

func adviseMapping(b []byte, advice Advice) error {
	if len(b) == 0 {
		return nil
	}
	// MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL and MADV_WILLNEED have the
	// values of their fadvise counterparts.
	return errors.WithStack(syscall.Madvise(b, fadvice(advice)))
}
