package server

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rawConn speaks RESP by hand, to check exact reply bytes.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func (ts *testServer) raw() *rawConn {
	nc, err := net.Dial("tcp", ts.addr)
	require.NoError(ts.t, err)
	ts.t.Cleanup(func() { _ = nc.Close() })
	// A guard against hangs, not a timing: MSET of 50,000 keys under -race
	// on a loaded machine takes most of 20 s.
	_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
	return &rawConn{t: ts.t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *rawConn) send(s string) {
	_, err := r.nc.Write([]byte(s))
	require.NoError(r.t, err)
}

// cmd sends args as a RESP array.
func (r *rawConn) cmd(args ...string) {
	var b strings.Builder
	b.WriteString("*" + itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	r.send(b.String())
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(n)) }
func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var d []byte
	for n > 0 {
		d = append([]byte{byte('0' + n%10)}, d...)
		n /= 10
	}
	if neg {
		d = append([]byte{'-'}, d...)
	}
	return string(d)
}

// reply reads one whole reply and returns its bytes.
func (r *rawConn) reply() string {
	r.t.Helper()
	var sb strings.Builder
	r.readValue(&sb)
	return sb.String()
}

func (r *rawConn) readValue(sb *strings.Builder) {
	line, err := r.br.ReadString('\n')
	require.NoError(r.t, err, "reading a reply")
	sb.WriteString(line)
	body := strings.TrimSuffix(line[1:], "\r\n")
	switch line[0] {
	case '$', '=':
		n := atoi(body)
		if n < 0 {
			return
		}
		buf := make([]byte, n+2)
		_, err := ioReadFull(r.br, buf)
		require.NoError(r.t, err)
		sb.Write(buf)
	case '*', '~', '%':
		n := atoi(body)
		if line[0] == '%' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			r.readValue(sb)
		}
	}
}

func atoi(s string) int {
	n, neg := 0, false
	for i, c := range s {
		if i == 0 && c == '-' {
			neg = true
			continue
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		return -n
	}
	return n
}

func ioReadFull(br *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := br.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// closed reports whether the server closed the connection (EOF or reset).
func (r *rawConn) closed() bool {
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := r.br.ReadByte()
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// errorCases are commands and their exact replies. Those marked rskvOnly
// differ from Redis on purpose (commands not implemented yet); the others
// are checked against a real redis-server too when one is installed.
var errorCases = []struct {
	args     []string
	want     string
	rskvOnly bool
}{
	{[]string{"GET"}, "-ERR wrong number of arguments for 'get' command\r\n", false},
	{[]string{"get", "a", "b"}, "-ERR wrong number of arguments for 'get' command\r\n", false},
	{[]string{"HSET", "h", "f"}, "-ERR wrong number of arguments for 'hset' command\r\n", false},
	{[]string{"HSET", "h", "f", "v", "g"}, "-ERR wrong number of arguments for 'hset' command\r\n", false},
	{[]string{"MSET", "a", "1", "b"}, "-ERR wrong number of arguments for 'mset' command\r\n", false},
	{[]string{"NOSUCH", "a", "b"}, "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n", false},
	{[]string{"NOSUCH"}, "-ERR unknown command 'NOSUCH', with args beginning with: \r\n", false},
	{[]string{"SET", "s", "x"}, "+OK\r\n", false},
	{[]string{"HSET", "h", "f", "v"}, ":1\r\n", false},
	// Wrong type, both ways.
	{[]string{"GET", "h"}, "-" + errWrongType + "\r\n", false},
	{[]string{"INCR", "h"}, "-" + errWrongType + "\r\n", false},
	{[]string{"APPEND", "h", "x"}, "-" + errWrongType + "\r\n", false},
	{[]string{"STRLEN", "h"}, "-" + errWrongType + "\r\n", false},
	{[]string{"SET", "h", "x", "GET"}, "-" + errWrongType + "\r\n", false},
	{[]string{"GETSET", "h", "x"}, "-" + errWrongType + "\r\n", false},
	{[]string{"SETRANGE", "h", "0", "x"}, "-" + errWrongType + "\r\n", false},
	{[]string{"HGET", "s", "f"}, "-" + errWrongType + "\r\n", false},
	{[]string{"HSET", "s", "f", "v"}, "-" + errWrongType + "\r\n", false},
	{[]string{"HGETALL", "s"}, "-" + errWrongType + "\r\n", false},
	{[]string{"HLEN", "s"}, "-" + errWrongType + "\r\n", false},
	{[]string{"HDEL", "s", "f"}, "-" + errWrongType + "\r\n", false},
	{[]string{"MGET", "s", "h", "none"}, "*3\r\n$1\r\nx\r\n$-1\r\n$-1\r\n", false},
	// Integers.
	{[]string{"SET", "n", "9223372036854775807"}, "+OK\r\n", false},
	{[]string{"INCR", "n"}, "-ERR increment or decrement would overflow\r\n", false},
	{[]string{"INCRBY", "n", "1"}, "-ERR increment or decrement would overflow\r\n", false},
	{[]string{"SET", "n", "-9223372036854775808"}, "+OK\r\n", false},
	{[]string{"DECR", "n"}, "-ERR increment or decrement would overflow\r\n", false},
	{[]string{"DECRBY", "x", "-9223372036854775808"}, "-ERR decrement would overflow\r\n", false},
	{[]string{"INCR", "s"}, "-ERR value is not an integer or out of range\r\n", false},
	{[]string{"INCRBY", "i", "1.5"}, "-ERR value is not an integer or out of range\r\n", false},
	{[]string{"INCRBY", "i", "9223372036854775808"}, "-ERR value is not an integer or out of range\r\n", false},
	{[]string{"SET", "sp", " 1"}, "+OK\r\n", false},
	{[]string{"INCR", "sp"}, "-ERR value is not an integer or out of range\r\n", false},
	{[]string{"SET", "lz", "01"}, "+OK\r\n", false},
	{[]string{"INCR", "lz"}, "-ERR value is not an integer or out of range\r\n", false},
	{[]string{"EXISTS", "i"}, ":0\r\n", false},
	{[]string{"INCRBYFLOAT", "fl", "abc"}, "-ERR value is not a valid float\r\n", false},
	{[]string{"INCRBYFLOAT", "fl", "inf"}, "-ERR increment would produce NaN or Infinity\r\n", false},
	{[]string{"INCRBYFLOAT", "s", "1"}, "-ERR value is not a valid float\r\n", false},
	{[]string{"HSET", "h", "str", "abc"}, ":1\r\n", false},
	{[]string{"HINCRBY", "h", "str", "1"}, "-ERR hash value is not an integer\r\n", false},
	{[]string{"HINCRBYFLOAT", "h", "str", "1"}, "-ERR hash value is not a float\r\n", false},
	{[]string{"HINCRBY", "h", "cnt", "x"}, "-ERR value is not an integer or out of range\r\n", false},
	{[]string{"HSET", "h", "big", "9223372036854775807"}, ":1\r\n", false},
	{[]string{"HINCRBY", "h", "big", "1"}, "-ERR increment or decrement would overflow\r\n", false},
	// SET options combined.
	{[]string{"SET", "o", "v", "NX", "XX"}, "-ERR syntax error\r\n", false},
	{[]string{"SET", "o", "v", "XX", "NX"}, "-ERR syntax error\r\n", false},
	{[]string{"SET", "o", "v", "FOO"}, "-ERR syntax error\r\n", false},
	{[]string{"SET", "o", "v", "EX"}, "-ERR syntax error\r\n", false},
	{[]string{"SET", "o", "v", "EX", "10", "KEEPTTL"}, "-ERR syntax error\r\n", false},
	{[]string{"SET", "o", "v", "KEEPTTL", "PX", "10"}, "-ERR syntax error\r\n", false},
	{[]string{"SET", "o", "v", "EX", "abc"}, "-ERR value is not an integer or out of range\r\n", false},
	{[]string{"SET", "o", "v", "EX", "0"}, "-ERR invalid expire time in 'set' command\r\n", false},
	{[]string{"SET", "o", "v", "EX", "-5"}, "-ERR invalid expire time in 'set' command\r\n", false},
	{[]string{"SET", "o", "v", "NX", "GET"}, "$-1\r\n", false},
	{[]string{"SET", "o", "w", "NX", "GET"}, "$1\r\nv\r\n", false},
	{[]string{"SET", "o", "w", "XX", "GET"}, "$1\r\nv\r\n", false},
	{[]string{"SET", "o2", "w", "XX", "GET"}, "$-1\r\n", false},
	{[]string{"SET", "o2", "w", "XX"}, "$-1\r\n", false},
	{[]string{"SET", "o", "x", "nx", "keepttl"}, "$-1\r\n", false},
	{[]string{"GET", "o"}, "$1\r\nw\r\n", false},
	// GETRANGE bounds (Redis's own tests).
	{[]string{"SET", "r", "Hello World"}, "+OK\r\n", false},
	{[]string{"GETRANGE", "r", "0", "3"}, "$4\r\nHell\r\n", false},
	{[]string{"GETRANGE", "r", "0", "-1"}, "$11\r\nHello World\r\n", false},
	{[]string{"GETRANGE", "r", "-4", "-1"}, "$4\r\norld\r\n", false},
	{[]string{"GETRANGE", "r", "5", "3"}, "$0\r\n\r\n", false},
	{[]string{"GETRANGE", "r", "5", "5000"}, "$6\r\n World\r\n", false},
	{[]string{"GETRANGE", "r", "-5000", "10000"}, "$11\r\nHello World\r\n", false},
	{[]string{"GETRANGE", "r", "-1", "-5"}, "$0\r\n\r\n", false},
	{[]string{"GETRANGE", "r", "0", "-100"}, "$1\r\nH\r\n", false},
	{[]string{"GETRANGE", "missing", "0", "-1"}, "$0\r\n\r\n", false},
	{[]string{"GETRANGE", "r", "a", "1"}, "-ERR value is not an integer or out of range\r\n", false},
	{[]string{"SUBSTR", "r", "0", "0"}, "$1\r\nH\r\n", false},
	// SETRANGE bounds.
	{[]string{"SETRANGE", "r", "-1", "x"}, "-ERR offset is out of range\r\n", false},
	{[]string{"SETRANGE", "r", "536870911", "xy"}, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n", false},
	{[]string{"SETRANGE", "r", "536870911", ""}, ":11\r\n", false},
	{[]string{"SETRANGE", "sr", "5", ""}, ":0\r\n", false},
	{[]string{"EXISTS", "sr"}, ":0\r\n", false},
	{[]string{"SETRANGE", "sr", "1", "ab"}, ":3\r\n", false},
	{[]string{"GET", "sr"}, "$3\r\n\x00ab\r\n", false},
	{[]string{"SETRANGE", "r", "0", "J"}, ":11\r\n", false},
	{[]string{"GET", "r"}, "$11\r\nJello World\r\n", false},
	// Others.
	{[]string{"SELECT", "x"}, "-ERR value is not an integer or out of range\r\n", false},
	{[]string{"SCAN", "x"}, "-ERR invalid cursor\r\n", false},
	{[]string{"SCAN", "0", "COUNT", "0"}, "-ERR syntax error\r\n", false},
	{[]string{"SCAN", "0", "MATCH"}, "-ERR syntax error\r\n", false},
	{[]string{"RENAME", "nope", "x"}, "-ERR no such key\r\n", false},
	{[]string{"AUTH", "pw"}, "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n", false},
	{[]string{"HELLO", "4"}, "-NOPROTO unsupported protocol version\r\n", false},
	{[]string{"PING", "a", "b"}, "-ERR wrong number of arguments for 'ping' command\r\n", false},
	{[]string{"TYPE", "h"}, "+hash\r\n", false},
	{[]string{"ECHO", "e"}, "$1\r\ne\r\n", false},
}

func TestRedisErrorTexts(t *testing.T) {
	ts := startServer(t, Config{})
	r := ts.raw()
	for _, c := range errorCases {
		r.cmd(c.args...)
		require.Equal(t, c.want, r.reply(), "%q", c.args)
	}
}

// TestErrorTextsOfRedisServer checks the expectations themselves against
// a real redis-server, so that "as Redis 7" is measured, not assumed.
func TestErrorTextsOfRedisServer(t *testing.T) {
	addr := startRedisServer(t)
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	r := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
	for _, c := range errorCases {
		if c.rskvOnly {
			continue
		}
		r.cmd(c.args...)
		require.Equal(t, c.want, r.reply(), "redis-server: %q", c.args)
	}
}

func TestRESP3Replies(t *testing.T) {
	ts := startServer(t, Config{})
	r := ts.raw()
	r.cmd("HELLO", "3")
	require.True(t, strings.HasPrefix(r.reply(), "%7\r\n$6\r\nserver\r\n"))
	r.cmd("GET", "missing")
	require.Equal(t, "_\r\n", r.reply())
	r.cmd("HSET", "h", "f", "v")
	require.Equal(t, ":1\r\n", r.reply())
	r.cmd("HGETALL", "h")
	require.Equal(t, "%1\r\n$1\r\nf\r\n$1\r\nv\r\n", r.reply())
	r.cmd("HELLO", "2")
	require.True(t, strings.HasPrefix(r.reply(), "*14\r\n"))
	r.cmd("GET", "missing")
	require.Equal(t, "$-1\r\n", r.reply())
}

func TestGlob(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "anything", true}, {"*", "", false}, // as Redis's stringmatchlen; KEYS * and MATCH * skip matching {"", "", true}, {"", "a", false},
		{"h?llo", "hello", true}, {"h?llo", "hllo", false},
		{"h*llo", "hllo", true}, {"h*llo", "heeeello", true}, {"h*llo", "hello!", false},
		{"h[ae]llo", "hallo", true}, {"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true}, {"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true}, {"h[a-b]llo", "hcllo", false}, {"h[b-a]llo", "hallo", true},
		{`h\*llo`, "h*llo", true}, {`h\*llo`, "hello", false},
		{`h[\]]llo`, "h]llo", true},
		{"a[", "a", false}, {"ab[", "abc", false},
		{"*a*b", "xaxxb", true}, {"*a*b", "xaxxc", false},
		{"key:*", "key:", true}, {"key:*:x", "key:1:2:x", true},
	}
	for _, c := range cases {
		require.Equal(t, c.want, globMatch([]byte(c.p), []byte(c.s)), "%q ~ %q", c.p, c.s)
	}
	// The pathological pattern of Redis's test suite ends (it is linear with
	// skipLongerMatches) and does not match.
	long := strings.Repeat("a", 50000)
	require.False(t, globMatch([]byte(strings.Repeat("*a", 40)+"b"), []byte(long)))
}

func TestInlineCommands(t *testing.T) {
	ts := startServer(t, Config{})
	r := ts.raw()
	r.send("PING\r\n")
	require.Equal(t, "+PONG\r\n", r.reply())
	r.send("SET k \"a b\\x41\\n\"\n")
	require.Equal(t, "+OK\r\n", r.reply())
	r.send("GET k\r\n")
	require.Equal(t, "$5\r\na bA\n\r\n", r.reply())
	r.send("SET q 'it\\'s'\r\nGET q\r\n")
	require.Equal(t, "+OK\r\n", r.reply())
	require.Equal(t, "$4\r\nit's\r\n", r.reply())
	r.send("\r\n\r\nPING\r\n") // empty lines are skipped
	require.Equal(t, "+PONG\r\n", r.reply())
	r.send("SET k \"unbalanced\r\n")
	require.Equal(t, "-ERR Protocol error: unbalanced quotes in request\r\n", r.reply())
	require.True(t, r.closed())
}

// TestValueLargerThanAPage: the store keeps a record in one log page; a
// larger value gets a clear error and the connection goes on.
func TestValueLargerThanAPage(t *testing.T) {
	ts := startServer(t, Config{})
	r := ts.raw()
	big := strings.Repeat("v", 4<<20) // the test store's pages are 512 KiB
	r.cmd("SET", "big", big)
	reply := r.reply()
	require.True(t, strings.HasPrefix(reply, "-ERR "), reply)
	require.Contains(t, reply, "value too large")
	r.cmd("SET", "ok", strings.Repeat("v", 256<<10))
	require.Equal(t, "+OK\r\n", r.reply())
	r.cmd("STRLEN", "ok")
	require.Equal(t, ":262144\r\n", r.reply())
	long := strings.Repeat("k", MaxKeyLen+1)
	r.cmd("SET", long, "v")
	reply = r.reply()
	require.Contains(t, reply, "key too large")
	r.cmd("GET", long)
	require.Contains(t, r.reply(), "key too large")
	r.cmd("EXISTS", long)
	require.Equal(t, ":0\r\n", r.reply())
}

func TestQuit(t *testing.T) {
	ts := startServer(t, Config{Password: "pw"})
	r := ts.raw()
	r.cmd("QUIT") // allowed before AUTH
	require.Equal(t, "+OK\r\n", r.reply())
	require.True(t, r.closed())
}
