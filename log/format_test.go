package log_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/internal/hlog"
	rlog "github.com/rskv-go/rskv/log"
)

// TestFormatMatchesEngine pins that the public description of the format is
// the one the engine writes: a change to internal/hlog's record format that
// forgets this package fails here.
func TestFormatMatchesEngine(t *testing.T) {
	require.EqualValues(t, hlog.RecordHeaderSize, rlog.RecordHeaderSize)
	require.EqualValues(t, hlog.MaxSlack, rlog.MaxSlack)
	require.EqualValues(t, hlog.FirstAddress, rlog.FirstAddress)
	require.EqualValues(t, hlog.ExpiryPrefixSize, rlog.ExpiryPrefixSize)
	require.EqualValues(t, hlog.SegmentHeaderSize, rlog.SegmentHeaderSize)
	for name, pair := range map[string][2]uint64{
		"FlagTombstone": {hlog.FlagTombstone, rlog.FlagTombstone},
		"FlagInvalid":   {hlog.FlagInvalid, rlog.FlagInvalid},
		"FlagNewKey":    {hlog.FlagNewKey, rlog.FlagNewKey},
		"FlagDelKey":    {hlog.FlagDelKey, rlog.FlagDelKey},
		"FlagCopy":      {hlog.FlagCopy, rlog.FlagCopy},
		"FlagExpiry":    {hlog.FlagExpiry, rlog.FlagExpiry},
		"FlagBatch":     {hlog.FlagBatch, rlog.FlagBatch},
		"FlagCommit":    {hlog.FlagCommit, rlog.FlagCommit},
	} {
		require.Equal(t, pair[0], pair[1], name)
	}
	require.Equal(t, hlog.RecordSize(5, 11), rlog.RecordSize(5, 11))
	require.EqualValues(t, rlog.RecordHeaderSize+8+16, rlog.RecordSize(5, 11))
	info := hlog.MakeInfo(0x1234, hlog.FlagTombstone)
	require.EqualValues(t, 0x1234, rlog.InfoPrev(info))
	require.Equal(t, "seg-000000000000002a.log", rlog.SegmentName(42))
	require.Equal(t, hlog.DeltaName(7), rlog.DeltaName(7))
	require.ErrorIs(t, hlog.MarkCorruption(hlog.ErrReadOnly), rlog.ErrCorruption)
	require.Same(t, hlog.ErrReadOnly, rlog.ErrReadOnly)
}
