package checkpoint

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGoldenHeader pins the on-disk header: these bytes were written by the
// encoder before the framed header moved to package fileformat, so
// checkpoints of older stores still load, and a layout change fails here.
func TestGoldenHeader(t *testing.T) {
	const golden = "52534b56434b50540100000080000000efcdab8967452301070000000000000015cd853dfe9c9717" +
		"000001000000000040000200000000004000000000000000d204000000000000e70300000000000000040000000000000300000000000000" +
		"001000000000000000000000000000000000000000000000000000003a78eae4"
	m := Meta{StoreID: 0x0123456789abcdef, ID: 7, Time: time.Unix(0, 1700000000123456789), Start: 0x10000, End: 0x20040,
		Begin: 64, KeySum: 1234, DeadBytes: 999, Buckets: 1024, Overflow: 3, IndexBytes: 4096}
	require.Equal(t, golden, hex.EncodeToString(m.encode()))
	b, err := hex.DecodeString(golden)
	require.NoError(t, err)
	got, err := decodeMeta(b)
	require.NoError(t, err)
	require.True(t, m.Time.Equal(got.Time))
	got.Time = m.Time
	require.Equal(t, m, got)
}
