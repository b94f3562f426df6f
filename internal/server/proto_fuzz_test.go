package server

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// chunkReader hands out its data a few bytes at a time.
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(b []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(b), c.n, len(c.data))
	copy(b, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

// parseAll parses every command in data, read in chunks of n bytes.
func parseAll(data []byte, n int) ([][][]byte, error) {
	rd := newReader(&chunkReader{data: data, n: max(n, 1)}, 1<<20, func() bool { return true })
	var out [][][]byte
	for {
		args, err := rd.next()
		if err != nil {
			return out, err
		}
		if args != nil {
			cp := make([][]byte, len(args))
			for i, a := range args {
				cp[i] = bytes.Clone(a)
			}
			out = append(out, cp)
			continue
		}
		if _, err := rd.fill(); err != nil {
			return out, nil
		}
	}
}

// FuzzReader: any input parses or fails with a protocol error, never
// panics, and the result does not depend on how the input was split into
// reads. A RESP encoding of arguments parses back to them.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"*1\r\n$4\r\nPING\r\n", "PING\r\n", "SET a \"b\\x41\" 'c'\r\n", "*-1\r\n", "*2\r\n$1\r\na\r\n$0\r\n\r\n",
		"*1\r\n$1099511627776\r\n", "*abc\r\n", "\"unbalanced\r\n", "*1\r\n:1\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nk",
	} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		if n < 1 || n > 1<<16 {
			n = 7
		}
		whole, err1 := parseAll(data, len(data)+1)
		split, err2 := parseAll(data, n)
		require.Equal(t, err1 == nil, err2 == nil, "error depends on read sizes: %v vs %v", err1, err2)
		require.Equal(t, whole, split)
		// Encode the arguments found and parse them back.
		var b bytes.Buffer
		var want [][][]byte
		for _, args := range whole {
			if len(args) == 0 {
				continue
			}
			fmt.Fprintf(&b, "*%d\r\n", len(args))
			for _, a := range args {
				fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
			}
			want = append(want, args)
		}
		back, err := parseAll(b.Bytes(), n)
		require.NoError(t, err)
		if len(want) == 0 {
			require.Empty(t, back)
		} else {
			require.Equal(t, want, back)
		}
	})
}

// shortAgrees checks parseShort against parseMultibulk on b: where the
// short path takes a command, the general one takes the same bytes and
// the same arguments. It returns what parseShort took.
func shortAgrees(t *testing.T, b []byte, maxBulk int64) int {
	t.Helper()
	p := newReader(nil, maxBulk, func() bool { return true })
	p.buf, p.w = b, len(b)
	n := p.parseShort(b)
	if n == 0 {
		return 0
	}
	short := make([][]byte, len(p.args))
	for i, a := range p.args {
		short[i] = bytes.Clone(a)
	}
	g := newReader(nil, maxBulk, func() bool { return true })
	g.buf, g.w = b, len(b)
	gn, err := g.parseMultibulk()
	require.NoError(t, err, "short path took %q, the general one refuses it", b[:n])
	require.Equal(t, gn, n, "%q", b)
	require.Equal(t, len(short), len(g.args))
	for i := range short {
		require.Equal(t, short[i], g.args[i])
	}
	return n
}

// TestParseShort: the short path takes the common commands and leaves
// everything else (incomplete, long, malformed, beyond proto-max-bulk-len)
// to the general parser, which gives the errors.
func TestParseShort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		take bool
	}{
		{"*1\r\n$4\r\nPING\r\n", true},
		{"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000012345\r\n$3\r\nxxx\r\n*1\r\n", true},
		{"*2\r\n$1\r\na\r\n$0\r\n\r\n", true},
		{"*2\r\n$3\r\nGET\r\n$9999\r\n", false},    // the payload has not arrived
		{"*2\r\n$3\r\nGET\r\n$10000\r\n", false},   // 5 digits: the general path
		{"*2\r\n$3\r\nGET\r\n$01\r\na\r\n", false}, // leading zero: an error there
		{"*1\r\n$-1\r\n", false},                   // negative length
		{"*1\r\n$3\r\nGETX\r\n", false},            // no CRLF after the payload
		{"*1\r\n$3\nGET\r\n", false},               // LF only after the length
		{"*1\r\n:3\r\n", false},                    // not a bulk
		{"*10\r\n", false},                         // 10 arguments
		{"*0\r\n", false},                          // empty: skipped there
		{"*1\n$3\r\nGET\r\n", false},               // LF only after the count
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n" + string(make([]byte, 100)) + "\r\n", false}, // beyond maxBulk 64
	} {
		n := shortAgrees(t, []byte(tc.in), 64)
		if (n > 0) != tc.take {
			t.Errorf("parseShort(%q) took %d bytes, want taken: %v", tc.in, n, tc.take)
		}
	}
}

// FuzzParseShort: whatever the input, the short path agrees with the
// general parser on what it takes.
func FuzzParseShort(f *testing.F) {
	for _, s := range []string{"*1\r\n$4\r\nPING\r\n", "*2\r\n$1\r\na\r\n$0\r\n\r\n", "*2\r\n$3\r\nGET\r\n$01\r\na\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nxxx\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { shortAgrees(t, b, 64) })
}
