//go:build !linux

package hashidx

// adviseHuge is a no-op where transparent huge pages are not advised.
func adviseHuge([]bucket) {}

// allocBuckets returns n zeroed buckets.
func allocBuckets(n int) []bucket { return make([]bucket, n) }
