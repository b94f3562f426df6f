//go:build unix

package replication

import (
	"syscall"

	"github.com/cockroachdb/errors"
)

// alive reports whether an idle connection is still open: a peer that
// closed it (or died: its kernel closes it) has sent EOF, which a peek
// that does not wait sees at once. A request is then never written to a
// connection known dead, where its fate would look unknown.
func (c *fwdConn) alive() bool {
	if c.rd.Buffered() > 0 {
		return false // an unsolicited reply: out of step
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	if err != nil {
		return false
	}
	return n < 0 && (errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK))
}
