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
