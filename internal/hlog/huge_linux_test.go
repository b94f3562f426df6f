package hlog

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestAllocFramesAligned checks that frames covering whole huge pages
// start on a huge page boundary (so all of them can be huge pages), that
// every size gets exactly the bytes asked for, zeroed, and that the
// frames of a log are distinct.
func TestAllocFramesAligned(t *testing.T) {
	for _, c := range []struct {
		size    uint64
		n       int
		aligned bool
	}{{4 << 20, 8, true}, {2 << 20, 3, true}, {64 << 10, 4, false}, {4 << 10, 1, false}, {1 << 20, 3, false}} {
		b := allocFrames(c.size, c.n)
		require.Len(t, b, int(c.size)*c.n)
		require.Equal(t, len(b), cap(b), "no slack visible past the frames")
		if c.aligned {
			require.Zero(t, uintptr(unsafe.Pointer(&b[0]))%hugePage, "%d frames of %d bytes", c.n, c.size)
		}
		require.Zero(t, b[0])
		require.Zero(t, b[len(b)-1])
	}
}

// TestFramesFromSlabs checks that a log hands each page its own frame,
// cut from slabs, none overlapping another.
func TestFramesFromSlabs(t *testing.T) {
	l := &Log{pageSize: 4 << 20, nFrames: 20, frameMask: 0}
	l.frames = make([][]byte, l.nFrames)
	seen := map[uintptr]bool{}
	for p := range l.nFrames {
		f := l.ensureFrame(p)
		require.Len(t, f, int(l.pageSize))
		require.Equal(t, len(f), cap(f))
		a := uintptr(unsafe.Pointer(&f[0]))
		require.False(t, seen[a])
		seen[a] = true
		f[0], f[len(f)-1] = 1, 1 // a frame's ends are its own
	}
	for p := range l.nFrames {
		f := l.frame(p)
		require.Equal(t, byte(1), f[0])
		require.Equal(t, byte(1), f[len(f)-1])
		require.Equal(t, &f[0], &l.ensureFrame(p)[0], "a frame is allocated once")
	}
	require.Equal(t, int(l.nFrames), l.framesMade)
}
