//go:build !linux

package hashidx

// allocBuckets returns n zeroed buckets on the Go heap (never mapped, so
// freeBuckets is never called): only linux tables live off the heap.
func allocBuckets(n int) ([]bucket, bool) { return make([]bucket, n), false }

// freeBuckets is never called off linux (allocBuckets maps nothing).
func freeBuckets([]bucket) {}
