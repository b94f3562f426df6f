package hlog

import (
	"runtime/debug"

	"github.com/cockroachdb/errors"
)

// errMappedRead is the error a read from a mapping gets when the kernel
// cannot supply the page (a device error, or a file cut shorter than the
// mapping): where the process would otherwise die of SIGBUS.
var errMappedRead = errors.New("rskv/log: the kernel could not read a mapped page of a segment file (device error or truncated file)")

// copyMapped copies src, part of a segment file's mapping, to dst. A fault
// while the kernel pages src in (SIGBUS: the device failed, or the file is
// shorter than the mapping) becomes an error rather than the end of the
// process: debug.SetPanicOnFault turns the fault into a panic on this
// goroutine, which the deferred recover catches. That is what makes
// Options.MmapReads safe. The cost is two cheap calls (it sets and
// restores a field of the goroutine) and a deferred function.
func copyMapped(dst, src []byte) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = errors.Wrapf(errMappedRead, "%v", r)
		}
	}()
	copy(dst, src)
	return nil
}
