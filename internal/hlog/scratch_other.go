//go:build !linux || race

package hlog

// Without anonymous mappings, and under the race detector (which does not
// track memory outside the Go heap), scratch buffers are Go slices.

func mapScratch(int) ([]byte, bool) { return nil, false }
func releaseScratch([]byte)         {}
func unmapScratch([]byte)           {}
