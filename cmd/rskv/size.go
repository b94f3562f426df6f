package main

import (
	"math"
	"strings"

	"github.com/cockroachdb/errors"
	"github.com/dustin/go-humanize"
)

// parseSize reads a byte size given to flag (e.g. "64MiB", "1GB", "4096").
// A negative, zero or overflowing size is a usage error that says so and
// shows the form wanted (humanize alone reports "-64MiB" as a float syntax
// error about an empty string).
func parseSize(flag, s string) (int64, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, usageError{errors.Newf("%s %s is negative: give a size such as 64MiB", flag, s)}
	}
	n, err := humanize.ParseBytes(t)
	if err != nil {
		return 0, usageError{errors.Newf("bad %s %q: not a size (give a number of bytes with an optional unit, such as 64MiB or 1GB)", flag, s)}
	}
	if n == 0 {
		return 0, usageError{errors.Newf("%s %s is zero: give a size such as 64MiB", flag, s)}
	}
	if n > math.MaxInt64 {
		return 0, usageError{errors.Newf("%s %s is too large", flag, s)}
	}
	return int64(n), nil
}
