package hashidx_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/hashidx"
	engine "github.com/rskv-go/rskv/internal/hashidx"
)

// TestGeometryMatchesEngine pins that the public description of an entry is
// the one the engine uses, and that the read-only helpers agree with it.
func TestGeometryMatchesEngine(t *testing.T) {
	require.EqualValues(t, engine.AddressBits, hashidx.AddressBits)
	require.EqualValues(t, engine.AddressMask, hashidx.AddressMask)
	require.EqualValues(t, engine.TagBits, hashidx.TagBits)

	for _, h := range []uint64{0, 1, 1 << 63, 0xdeadbeefcafef00d, ^uint64(0)} {
		tag := hashidx.TagOf(h)
		require.Equal(t, engine.TagOf(h), tag)
		require.NotZero(t, tag, "tag 0 is never used")
		require.Less(t, tag, uint16(1<<hashidx.TagBits))
		e := engine.MakeEntry(0x1234, tag)
		require.Equal(t, tag, e.Tag())
		require.EqualValues(t, 0x1234, uint64(e)&hashidx.AddressMask)
	}

	least, most := hashidx.SnapshotSize(128, 3)
	require.EqualValues(t, 2*8+3*64, least)
	require.EqualValues(t, least+128*64, most)

	x, err := engine.New(128)
	require.NoError(t, err)
	var st hashidx.Stats = x.Stats()
	require.Equal(t, 128, st.Buckets)
	require.Zero(t, st.Entries)
}
