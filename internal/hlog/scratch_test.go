package hlog

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScratchGrowKeepsContents(t *testing.T) {
	var s scratch
	defer s.free()
	b := s.grow(nil, 100)
	require.GreaterOrEqual(t, cap(b), 100)
	require.Empty(t, b)
	b = append(b, "hello"...)
	// Room already: the same slice.
	b2 := s.grow(b, 50)
	require.Equal(t, &b[:1][0], &b2[:1][0])
	// Larger than the buffer: a new generation with the contents copied.
	b3 := s.grow(b, 3*scratchKeep)
	require.Equal(t, "hello", string(b3))
	require.GreaterOrEqual(t, cap(b3), 3*scratchKeep)
	// The earlier generation is still mapped: a stale slice can be read.
	require.Equal(t, "hello", string(b))
}

func TestScratchReleaseZeroesPastKeep(t *testing.T) {
	var s scratch
	defer s.free()
	b := s.bytes(4 * scratchKeep)
	require.GreaterOrEqual(t, len(b), 4*scratchKeep)
	for i := range b {
		b[i] = 0xAB
	}
	s.release()
	b = s.bytes(4 * scratchKeep)
	// The first scratchKeep bytes stay; with a mapping the rest reads as
	// zeros (a Go-heap buffer, under -race or without mappings, keeps them).
	require.True(t, bytes.Equal(b[:scratchKeep], bytes.Repeat([]byte{0xAB}, scratchKeep)))
	if !s.heap {
		require.True(t, bytes.Equal(b[scratchKeep:], make([]byte, len(b)-scratchKeep)))
	}
	// Usable again after release.
	b[len(b)-1] = 1
	require.Equal(t, byte(1), b[len(b)-1])
}

func TestDeltaBufGrowsOnceToBatchSize(t *testing.T) {
	d := &deltaLog{pageBits: 22}
	defer d.mem.free()
	d.begin()
	allocs := 0
	last := cap(d.buf)
	for d.buf != nil && len(d.buf) < deltaBatchBytes {
		d.add(uint64(len(d.buf)), 4096)
		if cap(d.buf) != last {
			allocs++
			last = cap(d.buf)
		}
	}
	// Doubling up to deltaBufStep, then one jump to the largest batch:
	// not the dozens of 1.25x steps append takes.
	require.LessOrEqual(t, allocs, 12)
	require.GreaterOrEqual(t, cap(d.buf), deltaBatchBytes+4<<20)
	require.False(t, d.memUsed)
	d.memUsed = true
	d.settle()
	require.False(t, d.memUsed)
}
