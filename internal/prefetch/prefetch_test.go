package prefetch_test

import (
	"testing"
	"unsafe"

	"github.com/rskv-go/rskv/internal/prefetch"
	"github.com/stretchr/testify/require"
)

// TestPrefetchChangesNothing prefetches valid memory, its end, and
// addresses nothing maps (a prefetch must never fault), and checks the
// memory is unchanged.
func TestPrefetchChangesNothing(t *testing.T) {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	p := uintptr(unsafe.Pointer(&b[0]))
	prefetch.Line(p)
	prefetch.Lines3(p)
	prefetch.Lines3(p + 255)
	prefetch.Line(0)
	prefetch.Lines3(0)
	prefetch.Lines3(^uintptr(0) - 64)
	for i := range b {
		require.Equal(t, byte(i), b[i])
	}
}

func BenchmarkLines3(b *testing.B) {
	buf := make([]byte, 1<<20)
	p := uintptr(unsafe.Pointer(&buf[0]))
	for i := range b.N {
		prefetch.Lines3(p + uintptr(i*192)&(1<<20-1))
	}
}
