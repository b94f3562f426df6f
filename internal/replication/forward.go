package replication

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/errors"
)

// forwarder sends commands to another node's RESP address: a follower's
// writes and reads go to the leader this way, and --join's request to a
// member. Its connections announce themselves with RAFT FORWARDED, so the
// receiver never forwards them again.
type forwarder struct {
	password string

	mu     sync.Mutex
	idle   map[fwdKey][]*fwdConn
	all    map[*fwdConn]struct{}
	closed bool
}

type fwdKey struct {
	addr  string
	resp3 bool
}

type fwdConn struct {
	key fwdKey
	nc  net.Conn
	rd  *bufio.Reader
	wb  []byte
}

// errForwardSend: the request was not sent (dial, handshake or write
// failed), so it may be retried elsewhere; any other error leaves its
// outcome unknown.
var errForwardSend = errors.New("replication: could not send to the leader")

const maxIdlePerAddr = 32

func newForwarder(password string) *forwarder {
	return &forwarder{password: password, idle: map[fwdKey][]*fwdConn{}, all: map[*fwdConn]struct{}{}}
}

// do sends cmds to addr in one write, reads one reply per command and
// returns the last one, raw, appended to dst.
func (f *forwarder) do(dst []byte, addr string, resp3 bool, cmds [][][]byte, deadline time.Time) ([]byte, error) {
	c, err := f.get(fwdKey{addr, resp3}, deadline)
	if err != nil {
		return dst, errors.Mark(err, errForwardSend)
	}
	_ = c.nc.SetDeadline(deadline)
	c.wb = c.wb[:0]
	for _, cmd := range cmds {
		c.wb = appendCommand(c.wb, cmd)
	}
	if _, err := c.nc.Write(c.wb); err != nil {
		f.drop(c)
		return dst, errors.Mark(errors.Wrapf(err, "forward to %s", addr), errForwardSend)
	}
	var last []byte
	for range cmds {
		last, err = readReply(c.rd, last[:0])
		if err != nil {
			f.drop(c)
			return dst, errors.Wrapf(err, "reply from the leader at %s", addr)
		}
	}
	f.put(c)
	return append(dst, last...), nil
}

func (f *forwarder) get(k fwdKey, deadline time.Time) (*fwdConn, error) {
	for {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			return nil, errors.New("replication: node closed")
		}
		l := f.idle[k]
		if len(l) == 0 {
			f.mu.Unlock()
			break
		}
		c := l[len(l)-1]
		f.idle[k] = l[:len(l)-1]
		f.mu.Unlock()
		if c.alive() {
			return c, nil
		}
		f.drop(c)
	}
	d := net.Dialer{Deadline: deadline}
	nc, err := d.Dial("tcp", k.addr)
	if err != nil {
		return nil, errors.Wrapf(err, "dial %s", k.addr)
	}
	c := &fwdConn{key: k, nc: nc, rd: bufio.NewReaderSize(nc, 64<<10)}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = nc.Close()
		return nil, errors.New("replication: node closed")
	}
	f.all[c] = struct{}{}
	f.mu.Unlock()
	// The handshake: authenticate, protocol, and the forwarded mark.
	var setup [][][]byte
	if f.password != "" {
		setup = append(setup, [][]byte{[]byte("AUTH"), []byte(f.password)})
	}
	if k.resp3 {
		setup = append(setup, [][]byte{[]byte("HELLO"), []byte("3")})
	}
	setup = append(setup, [][]byte{[]byte("RAFT"), []byte("FORWARDED")})
	_ = nc.SetDeadline(deadline)
	for _, s := range setup {
		c.wb = appendCommand(c.wb, s)
	}
	if _, err := nc.Write(c.wb); err != nil {
		f.drop(c)
		return nil, errors.Wrapf(err, "handshake with %s", k.addr)
	}
	for _, s := range setup {
		r, err := readReply(c.rd, nil)
		if err != nil {
			f.drop(c)
			return nil, errors.Wrapf(err, "handshake with %s", k.addr)
		}
		if len(r) > 0 && r[0] == '-' {
			f.drop(c)
			return nil, errors.Newf("replication: %s answered %s to %s", k.addr, trimCRLF(r), s[0])
		}
	}
	return c, nil
}

func (f *forwarder) put(c *fwdConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || len(f.idle[c.key]) >= maxIdlePerAddr {
		delete(f.all, c)
		_ = c.nc.Close()
		return
	}
	f.idle[c.key] = append(f.idle[c.key], c)
}

func (f *forwarder) drop(c *fwdConn) {
	_ = c.nc.Close()
	f.mu.Lock()
	delete(f.all, c)
	f.mu.Unlock()
}

// close closes every connection, idle or in use (a request in flight
// fails at once).
func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for c := range f.all {
		_ = c.nc.Close()
	}
	f.all = map[*fwdConn]struct{}{}
	f.idle = map[fwdKey][]*fwdConn{}
}

func appendCommand(b []byte, args [][]byte) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// maxForwardBulk bounds one bulk reply read from the leader.
const maxForwardBulk = 1 << 30

// readReply appends one whole RESP2/RESP3 reply, raw, to dst.
func readReply(rd *bufio.Reader, dst []byte) ([]byte, error) {
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return dst, errors.Wrap(err, "read reply")
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return dst, errors.Newf("replication: bad reply line %q", line)
	}
	dst = append(dst, line...)
	typ := line[0]
	switch typ {
	case '+', '-', ':', '_', ',', '#', '(':
		return dst, nil
	}
	n, err := strconv.ParseInt(string(line[1:len(line)-2]), 10, 64)
	if err != nil {
		return dst, errors.Newf("replication: bad reply length %q", line)
	}
	switch typ {
	case '$', '!', '=':
		if n < 0 {
			return dst, nil
		}
		if n > maxForwardBulk {
			return dst, errors.Newf("replication: reply of %d bytes", n)
		}
		start := len(dst)
		dst = append(dst, make([]byte, n+2)...)
		if _, err := io.ReadFull(rd, dst[start:]); err != nil {
			return dst, errors.Wrap(err, "read reply")
		}
		return dst, nil
	case '*', '~', '>', '%', '|':
		if typ == '%' || typ == '|' {
			n *= 2
		}
		for range max(n, 0) {
			if dst, err = readReply(rd, dst); err != nil {
				return dst, err
			}
		}
		if typ == '|' {
			return readReply(rd, dst) // an attribute precedes the real reply
		}
		return dst, nil
	}
	return dst, errors.Newf("replication: unknown reply type %q", typ)
}

func trimCRLF(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return string(b)
}
