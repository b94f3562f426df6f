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
