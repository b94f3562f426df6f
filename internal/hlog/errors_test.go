package hlog_test

import (
	stderrors "errors"
	"io"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/internal/hlog"
)

// TestMarkCorruption pins that a corruption mark survives wrapping and is
// seen by the standard errors.Is (what users call) as well as by
// cockroachdb's, and that the cause stays reachable.
func TestMarkCorruption(t *testing.T) {
	cause := errors.Wrap(io.ErrUnexpectedEOF, "record at 0x40 in seg-0000000000000000.log")
	err := errors.Wrapf(hlog.MarkCorruption(cause), "rskv: recover %s", "db")
	require.True(t, stderrors.Is(err, hlog.ErrCorruption))
	require.True(t, errors.Is(err, hlog.ErrCorruption))
	require.True(t, stderrors.Is(err, io.ErrUnexpectedEOF))
	require.Equal(t, "rskv: recover db: record at 0x40 in seg-0000000000000000.log: unexpected EOF", err.Error())
	require.False(t, stderrors.Is(cause, hlog.ErrCorruption))
	require.NoError(t, hlog.MarkCorruption(nil))
}
