//go:build !amd64 && !arm64

// Package prefetch starts cache misses early (see prefetch.go); on this
// architecture its functions do nothing.
package prefetch

// Line would ask for the cache line holding p.
func Line(p uintptr) {}

// Lines3 would ask for the cache line holding p and the two after it.
func Lines3(p uintptr) {}
