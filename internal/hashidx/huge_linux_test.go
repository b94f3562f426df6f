package hashidx

import (
	"testing"
	"unsafe"

	"github.com/rskv-go/rskv/internal/racecheck"

	"github.com/stretchr/testify/require"
)

// TestAllocBucketsAligned checks that a table of whole huge pages starts
// on a huge page boundary and that every table has the buckets asked for.
func TestAllocBucketsAligned(t *testing.T) {
	for _, n := range []int{1 << 15, 1 << 16, 1 << 18, 1024, 1} {
		b, mapped := allocBuckets(n)
		require.Len(t, b, n)
		require.Equal(t, n, cap(b))
		if mapped {
			require.Zero(t, uintptr(unsafe.Pointer(&b[0]))%hugePage, "%d buckets", n)
		}
		require.Zero(t, b[n-1][0].Load())
		require.Equal(t, n*bucketSize >= hugePage && !racecheck.Enabled, mapped, "%d buckets", n)
		if mapped {
			freeBuckets(b)
		}
	}
}
