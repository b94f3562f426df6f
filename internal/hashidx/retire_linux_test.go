package hashidx

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/rskv-go/rskv/internal/racecheck"

	"github.com/stretchr/testify/require"
)

// rssBytes reads the process's resident set from /proc/self/statm.
func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	require.NoError(t, err)
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	require.NoError(t, err)
	return pages * int64(os.Getpagesize())
}

// mapped reports whether addr lies in a mapping of /proc/self/maps.
func mapped(t *testing.T, addr uintptr) bool {
	f, err := os.Open("/proc/self/maps")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lo, hi, ok := strings.Cut(strings.Fields(sc.Text())[0], "-")
		require.True(t, ok)
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		require.NoError(t, err1)
		require.NoError(t, err2)
		if uint64(addr) >= a && uint64(addr) < b {
			return true
		}
	}
	require.NoError(t, sc.Err())
	return false
}

// TestReleaseRetiredUnmaps checks that a growth keeps the old table mapped
// (and resident) until ReleaseRetired, which gives its memory back to the
// OS at once, and that Close unmaps the current table.
func TestReleaseRetiredUnmaps(t *testing.T) {
	if racecheck.Enabled {
		t.Skip("under -race tables are not mapped (allocBuckets); this test runs without -race")
	}
	const n = 1 << 17 // 8 MiB of buckets
	x, err := New(n)
	require.NoError(t, err)
	old := x.t.Load()
	require.True(t, old.mapped)
	oldAddr := uintptr(unsafe.Pointer(&old.buckets[0]))
	for i := range old.buckets { // make every page resident
		old.buckets[i][overflowSlot].Store(0)
		old.buckets[i][0].Store(0)
		old.buckets[i][1].Store(uint64(i) + 1)
		old.buckets[i][1].Store(0)
	}
	require.Equal(t, int64(n*64), x.MappedBytes())
	x.GrowTo(2*n, func([]SplitChain, uint64) {})
	require.Equal(t, 2*n, x.Buckets())
	require.Equal(t, int64(3*n*64), x.MappedBytes(), "the old table is released only when asked")
	require.Equal(t, 1, x.Retired())
	require.True(t, mapped(t, oldAddr))
	require.Zero(t, x.ReleaseRetired(0), "nothing retired before 0")

	before := rssBytes(t)
	require.Equal(t, int64(n*64), x.ReleaseRetired(x.Retired()))
	after := rssBytes(t)
	require.False(t, mapped(t, oldAddr), "the old table is still mapped")
	require.Equal(t, int64(2*n*64), x.MappedBytes())
	require.Greater(t, before-after, int64(n*64/2), "RSS %d -> %d: the old table's pages stayed resident", before, after)
	require.Zero(t, x.ReleaseRetired(x.Retired()), "released twice")

	newAddr := uintptr(unsafe.Pointer(&x.t.Load().buckets[0]))
	require.True(t, mapped(t, newAddr))
	x.Close()
	require.False(t, mapped(t, newAddr))
	require.Zero(t, x.MappedBytes())
	require.Equal(t, Stats{}, x.Stats(), "a closed index walks as empty")
	x.Close() // idempotent
}
