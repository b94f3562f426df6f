package main

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSmoke runs every target once, briefly: every row has operations and
// no errors.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rskv and starts eight servers")
	}
	table, err := bench(config{conns: 2, duration: 200 * time.Millisecond, rounds: 1, keys: 100, valueSize: 8, quiet: true})
	require.NoError(t, err)
	t.Log("\n" + table)
	rows := regexp.MustCompile(`(?m)^\| (single|3 nodes)[^|]*\| (SET|GET) \| (\d+) \|.*\| (\d+) \|$`).FindAllStringSubmatch(table, -1)
	require.Len(t, rows, 11, table)
	for _, r := range rows {
		ops, _ := strconv.Atoi(r[3])
		require.Positive(t, ops, r[0])
		require.Equal(t, "0", r[4], "errors: %s", r[0])
	}
}
