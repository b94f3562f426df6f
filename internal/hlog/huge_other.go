//go:build !linux

package hlog

// adviseHuge is a no-op where transparent huge pages are not advised.
func adviseHuge([]byte) {}

// allocFrames returns n zeroed page frames of size bytes, back to back.
func allocFrames(size uint64, n int) []byte { return make([]byte, size*uint64(n)) }
