package checkpoint

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/log/vfs"
)

type adviceLog struct{ ranges [][2]int64 }

func (a *adviceLog) Advise(off, n int64, advice vfs.Advice) error {
	if advice == vfs.AdviseDontNeed {
		a.ranges = append(a.ranges, [2]int64{off, n})
	}
	return nil
}

// TestDropBehind: every dropChunk bytes written, the range written since the
// last drop is advised away, contiguously from the first offset; the bytes
// all reach the writer.
func TestDropBehind(t *testing.T) {
	var out bytes.Buffer
	a := &adviceLog{}
	d := &dropBehind{w: &out, a: a, off: 4096, done: 4096}
	chunk := make([]byte, 3<<20)
	for range 10 {
		_, err := d.Write(chunk)
		require.NoError(t, err)
	}
	require.Equal(t, 10*len(chunk), out.Len())
	require.NotEmpty(t, a.ranges)
	next := int64(4096)
	for _, r := range a.ranges {
		require.Equal(t, next, r[0])
		require.GreaterOrEqual(t, r[1], int64(dropChunk))
		next = r[0] + r[1]
	}
	require.Greater(t, next, int64(4096+20<<20))
}
