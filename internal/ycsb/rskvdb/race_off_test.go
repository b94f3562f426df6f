//go:build !race

package rskvdb_test

const raceEnabled = false
