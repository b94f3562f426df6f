//go:build !linux

package hashidx

// adviseHuge is a no-op where transparent huge pages are not advised.
func adviseHuge([]bucket) {}
