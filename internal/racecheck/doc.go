// Package racecheck tells tests whether the race detector is on, so that
// they can shrink their data sets (the detector slows memory-heavy loops
// ten-fold) while keeping every assertion.
package racecheck
