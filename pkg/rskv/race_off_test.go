//go:build !race

package rskv_test

const raceEnabled = false
