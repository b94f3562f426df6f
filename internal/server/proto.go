package server

import (
	"bytes"
	"io"
	"math"
	"strconv"

	"github.com/cockroachdb/errors"
)

// Protocol limits, as Redis 7's defaults.
const (
	// DefaultMaxBulkLen is proto-max-bulk-len: the longest bulk string a
	// client may send.
	DefaultMaxBulkLen = 512 << 20
	// maxInline is PROTO_INLINE_MAX_SIZE: the longest inline command line,
	// and the longest array or bulk header line.
	maxInline = 64 << 10
	// maxMultibulk is the largest array a client may send (Redis: INT_MAX;
	// the limit here keeps a 1 GiB argument table from being one header away).
	maxMultibulk = 1 << 20
	// maxUnauthMultibulk is the largest array an unauthenticated client may
	// send, as Redis's.
	maxUnauthMultibulk = 10
	// readChunk is how much the reader asks the socket for at a time.
	readChunk = 16 << 10
)

// errProtocol marks a client's bad protocol input. The connection answers
// "-ERR Protocol error: ..." (Redis's text) and is closed.
var errProtocol = errors.New("Protocol error")

func protoErr(msg string) error {
	return errors.Mark(errors.Newf("Protocol error: %s", msg), errProtocol)
}

// reader parses RESP arrays of bulk strings and inline commands out of a
// growing buffer. Arguments alias the buffer and are valid until the next
// fill. Memory is bounded by what the client really sent: the buffer grows
// only as bytes arrive, never to a length a header merely announces.
type reader struct {
	rd      io.Reader
	buf     []byte
	r, w    int // unread bytes are buf[r:w]
	args    [][]byte
	maxBulk int64
	// The array being parsed, while it has not fully arrived.
	mbCount int64 // its length (0: none in progress)
	mbPos   int   // offset of its next argument from its start
	marks   []int // start and end offsets of the arguments parsed
	// authed reports whether the client is authenticated (larger arrays are
	// refused before, as Redis does).
	authed func() bool
}

func newReader(rd io.Reader, maxBulk int64, authed func() bool) *reader {
	// The buffer is made by the first fill: a connection that never sends
	// costs no buffer.
	return &reader{rd: rd, maxBulk: maxBulk, authed: authed}
}

// buffered reports whether unparsed bytes are waiting.
func (p *reader) buffered() bool { return p.r < p.w }

// next parses the next complete command. It returns (nil, nil) when the
// buffer holds no complete command and fill must be called. Empty commands
// (an empty inline line, "*0", "*-1") are skipped, as Redis does.
func (p *reader) next() ([][]byte, error) {
	for p.r < p.w {
		var n int
		var err error
		if p.buf[p.r] == '*' {
			if p.mbCount == 0 {
				n = p.parseShort(p.buf[p.r:p.w])
			}
			if n == 0 {
				n, err = p.parseMultibulk()
			}
		} else {
			n, err = p.parseInline()
		}
		if err != nil || n == 0 {
			return nil, err
		}
		p.r += n
		if len(p.args) > 0 {
			return p.args, nil
		}
	}
	return nil, nil
}

// shortLine is how far line scans byte by byte before IndexByte.
const shortLine = 16

// line returns the length of the line at b (without CRLF) and the bytes it
// takes with its terminator, or -1 if the terminator has not arrived.
func line(b []byte) (int, int) {
	// Array and bulk headers are a few bytes ("$3\r\n"): a plain scan of
	// the first bytes costs less than IndexByte's setup.
	i := -1
	for j := 0; j < len(b) && j < shortLine; j++ {
		if b[j] == '\n' {
			i = j
			break
		}
	}
	if i < 0 {
		if len(b) <= shortLine {
			return -1, 0
		}
		if i = bytes.IndexByte(b[shortLine:], '\n'); i < 0 {
			return -1, 0
		}
		i += shortLine
	}
	if i > 0 && b[i-1] == '\r' {
		return i - 1, i + 1
	}
	return i, i + 1
}

// parseInt parses a header number as Redis's string2ll: optional '-',
// digits, no leading zeros or '+', no spaces.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 1 && '0' <= b[0] && b[0] <= '9' {
		return int64(b[0] - '0'), true // most headers: "*2", "$3"
	}
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := b[0] == '-'
	d := b
	if neg {
		d = b[1:]
	}
	if len(d) == 0 || (d[0] == '0' && len(d) > 1) || (neg && d[0] == '0') {
		return 0, false
	}
	var u uint64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parseMultibulk parses the array at p.r. An array that has not fully
// arrived keeps its progress (p.mbCount, p.mbPos, p.marks, as offsets from
// the array's start, which fill preserves), so each fill parses only what
// is new: a command of a million arguments, or a 512 MB bulk, arriving in
// small reads costs linear time, not quadratic.
func (p *reader) parseMultibulk() (int, error) {
	b := p.buf[p.r:p.w]
	if p.mbCount == 0 {
		ll, used := line(b)
		if ll < 0 {
			if len(b) > maxInline {
				return 0, protoErr("too big mbulk count string")
			}
			return 0, nil
		}
		if ll < 1 || b[ll] != '\r' {
			return 0, protoErr("invalid multibulk length")
		}
		count, ok := parseInt(b[1:ll])
		if !ok || count > maxMultibulk {
			return 0, protoErr("invalid multibulk length")
		}
		if count > maxUnauthMultibulk && !p.authed() {
			return 0, protoErr("invalid multibulk length")
		}
		p.args = p.args[:0]
		if count <= 0 {
			return used, nil
		}
		p.mbCount, p.mbPos, p.marks = count, used, p.marks[:0]
	}
	for int64(len(p.marks)/2) < p.mbCount {
		rest := b[p.mbPos:]
		if len(rest) == 0 {
			return 0, nil
		}
		if rest[0] != '$' {
			return 0, protoErr("expected '$', got '" + printable(rest[0]) + "'")
		}
		hl, hused := line(rest)
		if hl < 0 {
			if len(rest) > maxInline {
				return 0, protoErr("too big bulk count string")
			}
			return 0, nil
		}
		if rest[hl] != '\r' {
			return 0, protoErr("invalid bulk length")
		}
		size, ok := parseInt(rest[1:hl])
		if !ok || size < 0 || size > p.maxBulk {
			return 0, protoErr("invalid bulk length")
		}
		start := p.mbPos + hused
		end := int64(start) + size
		if end+2 > int64(len(b)) {
			return 0, nil // the payload has not arrived yet
		}
		if b[end] != '\r' || b[end+1] != '\n' {
			return 0, protoErr("invalid bulk length")
		}
		p.marks = append(p.marks, start, int(end))
		p.mbPos = int(end) + 2
	}
	p.args = p.args[:0]
	for i := 0; i < len(p.marks); i += 2 {
		p.args = append(p.args, b[p.marks[i]:p.marks[i+1]:p.marks[i+1]])
	}
	p.mbCount = 0
	return p.mbPos, nil
}

// parseShort parses the array at the start of b if it is a short command
// that has fully arrived and is well formed: at most 9 arguments, each with
// a bulk length of at most 4 digits (every SET, GET and INCR of a
// benchmark, most commands of any client). It returns the bytes it took, or
// 0 for anything else (incomplete, longer or malformed), which
// parseMultibulk then parses (and rejects) the general way: so it accepts
// exactly what that does, only without the bookkeeping of resumable
// parsing (line scans, parseInt, offsets kept in marks).
func (p *reader) parseShort(b []byte) int {
	if len(b) < 4 || b[2] != '\r' || b[3] != '\n' || b[1] < '1' || b[1] > '9' {
		return 0
	}
	count := int(b[1] - '0')
	args := p.args[:0]
	pos := 4
	for i := 0; i < count; i++ {
		if pos >= len(b) || b[pos] != '$' {
			return 0
		}
		pos++
		// The length: 1 to 4 digits, no leading zero but "0", then CRLF.
		size, d := 0, 0
		for ; d < 5 && pos+d < len(b); d++ {
			c := b[pos+d]
			if c < '0' || c > '9' {
				break
			}
			size = size*10 + int(c-'0')
		}
		if d == 0 || d > 4 || (d > 1 && b[pos] == '0') || int64(size) > p.maxBulk {
			return 0
		}
		pos += d
		if pos+1 >= len(b) || b[pos] != '\r' || b[pos+1] != '\n' {
			return 0
		}
		pos += 2
		end := pos + size
		if end+2 > len(b) || b[end] != '\r' || b[end+1] != '\n' {
			return 0
		}
		args = append(args, b[pos:end:end])
		pos = end + 2
	}
	p.args = args
	return pos
}

func printable(c byte) string {
	if c < 32 || c > 126 {
		return "\\x" + strconv.FormatUint(uint64(c)|0x100, 16)[1:]
	}
	return string(c)
}

func (p *reader) parseInline() (int, error) {
	b := p.buf[p.r:p.w]
	ll, used := line(b)
	if ll < 0 {
		if len(b) > maxInline {
			return 0, protoErr("too big inline request")
		}
		return 0, nil
	}
	if ll > maxInline {
		return 0, protoErr("too big inline request")
	}
	args, ok := splitArgs(b[:ll], p.args[:0])
	if !ok {
		return 0, protoErr("unbalanced quotes in request")
	}
	p.args = args
	return used, nil
}

// splitArgs splits an inline command line as Redis's sdssplitargs: spaces
// separate arguments, "..." takes \n \r \t \b \a \\ \" and \xHH escapes,
// '...' takes \'; a closing quote must be followed by a space or the end.
// Arguments are unescaped in place: line is the reader's own buffer.
func splitArgs(line []byte, args [][]byte) ([][]byte, bool) {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return args, true
		}
		out := line[i:i] // unescaped bytes are written over the input
		inDq, inSq := false, false
		for {
			if inDq {
				if i >= len(line) {
					return nil, false
				}
				c := line[i]
				switch {
				case c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					out = append(out, hexVal(line[i+2])<<4|hexVal(line[i+3]))
					i += 4
					continue
				case c == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					default:
						c = line[i]
					}
				case c == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false
					}
					i++
					args = append(args, out[:len(out):len(out)])
					goto nextArg
				}
				out = append(out, c)
				i++
				continue
			}
			if inSq {
				if i >= len(line) {
					return nil, false
				}
				c := line[i]
				switch {
				case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					c = '\''
				case c == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false
					}
					i++
					args = append(args, out[:len(out):len(out)])
					goto nextArg
				}
				out = append(out, c)
				i++
				continue
			}
			if i >= len(line) || isSpace(line[i]) {
				args = append(args, out[:len(out):len(out)])
				goto nextArg
			}
			switch line[i] {
			case '"':
				inDq = true
			case '\'':
				inSq = true
			default:
				out = append(out, line[i])
			}
			i++
		}
	nextArg:
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// fill reads more bytes from the connection. It first moves unparsed bytes
// to the front, and grows the buffer (doubling) only when it is full, so the
// buffer is never more than twice what the client has sent unparsed.
func (p *reader) fill() (int, error) {
	if p.r == p.w {
		p.r, p.w = 0, 0
		if cap(p.buf) > 4*readChunk {
			p.buf = make([]byte, readChunk) // give back a buffer a large command grew
		}
	} else if p.r > 0 {
		p.w = copy(p.buf, p.buf[p.r:p.w])
		p.r = 0
	}
	if len(p.buf) == 0 {
		p.buf = make([]byte, readChunk)
	} else if p.w == len(p.buf) {
		nb := make([]byte, 2*len(p.buf))
		copy(nb, p.buf[:p.w])
		p.buf = nb
	}
	n, err := p.rd.Read(p.buf[p.w:])
	p.w += n
	if n > 0 {
		return n, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return 0, err
}
