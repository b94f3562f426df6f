package hlog

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGoldenSegmentHeader pins the on-disk segment header: these bytes were
// written by the encoder before the framed header moved to package
// fileformat, so segments of older stores still open.
func TestGoldenSegmentHeader(t *testing.T) {
	const golden = "52534b56534547000100000000100000efcdab8967452301050000000000000014000000100000006ebeba9d" +
		"0000000000000000000000000000000000000000"
	h := segmentHeader{storeID: 0x0123456789abcdef, index: 5, segmentBits: 20, pageBits: 16}
	b := h.encode()
	require.Len(t, b, SegmentHeaderSize)
	require.Equal(t, golden, hex.EncodeToString(b[:64]))
	require.Equal(t, make([]byte, SegmentHeaderSize-64), b[64:], "the rest of the block is zero (the durable mark goes at 64)")
	raw, err := hex.DecodeString(golden)
	require.NoError(t, err)
	got, err := decodeSegmentHeader(raw)
	require.NoError(t, err)
	require.Equal(t, h, got)
}
