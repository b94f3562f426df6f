//go:build !race

// The race detector makes sync.Pool drop items at random, so the scratch
// buffers of the read and RMW paths are reallocated now and then: the
// allocation counts below hold only without it.

package rskv_test

import (
	"encoding/binary"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// TestHotPathsDoNotAllocate pins the allocation-free paths: AppendValue into
// a buffer with room, and Put and RMW that update a record in place.
func TestHotPathsDoNotAllocate(t *testing.T) {
	s, err := rskv.Open(t.TempDir(), &rskv.Options{MemorySize: 4 << 20, DisableBackground: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	for _, size := range []int{8, 100} {
		k := binary.BigEndian.AppendUint64(nil, uint64(size))
		v := make([]byte, size)
		require.NoError(t, s.Put(k, v))
		buf := make([]byte, 0, 256)
		scratch := make([]byte, size)
		incr := func(old []byte, found bool) []byte {
			copy(scratch, old)
			binary.LittleEndian.PutUint64(scratch, binary.LittleEndian.Uint64(old)+1)
			return scratch
		}
		before := s.Stats()
		require.Zero(t, testing.AllocsPerRun(200, func() { buf, _ = s.AppendValue(buf[:0], k) }), "AppendValue, %d-byte value", size)
		require.Zero(t, testing.AllocsPerRun(200, func() { _ = s.Put(k, v) }), "in-place Put, %d-byte value", size)
		require.Zero(t, testing.AllocsPerRun(200, func() { _, _ = s.RMW(k, incr) }), "in-place RMW, %d-byte value", size)
		after := s.Stats()
		require.Equal(t, before.Appends, after.Appends, "every update was in place")
		require.Equal(t, before.InPlaceUpdates+2*201, after.InPlaceUpdates)
		got, err := s.Get(k)
		require.NoError(t, err)
		require.Equal(t, uint64(201), binary.LittleEndian.Uint64(got))
	}
}
