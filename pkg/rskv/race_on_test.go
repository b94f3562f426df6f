//go:build race

package rskv_test

// raceEnabled scales workloads down under the race detector, which slows
// them ten times or more; the assertions stay the same.
const raceEnabled = true
