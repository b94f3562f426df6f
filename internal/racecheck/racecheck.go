// Package racecheck tells tests whether the race detector is on, so that
// they can shrink their data sets (the detector slows memory-heavy loops
// ten-fold) while keeping every assertion.
package racecheck

// Enabled is true when the binary was built with -race.
const Enabled = enabled

// Scale returns n, or n/div (at least 1) under the race detector.
func Scale(n, div int) int {
	if Enabled {
		return max(1, n/div)
	}
	return n
}
