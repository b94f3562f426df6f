package rskv_test

import (
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// TestDefaultStoreReopensWithSmallMemory: the memory budget is chosen per
// open. A store created with all defaults reopens with 16 MiB of memory (and
// with 64 MiB), and its data is there.
func TestDefaultStoreReopensWithSmallMemory(t *testing.T) {
	fs := vfs.NewMem()
	s, err := rskv.Open("db", &rskv.Options{FS: fs, DisableBackground: true})
	require.NoError(t, err)
	require.NoError(t, s.Put([]byte("k"), []byte("v")))
	require.NoError(t, s.Close())
	for _, mem := range []int64{16 << 20, 64 << 20, 1 << 30} {
		s, err = rskv.Open("db", &rskv.Options{FS: fs, MemorySize: mem, DisableBackground: true})
		require.NoError(t, err, "MemorySize %d", mem)
		v, err := s.Get([]byte("k"))
		require.NoError(t, err)
		require.Equal(t, "v", string(v))
		require.NoError(t, s.Close())
	}
	// Below MinPages pages the error says what the store needs.
	_, err = rskv.Open("db", &rskv.Options{FS: fs, MemorySize: 8 << 20, DisableBackground: true})
	require.True(t, errors.Is(err, rskv.ErrInvalidOptions), "%v", err)
	require.Contains(t, err.Error(), "MemorySize >= 16777216")
}

// TestFixedShapeMismatchNamesBothValues: asking for another page size than
// the store was created with says both.
func TestFixedShapeMismatchNamesBothValues(t *testing.T) {
	fs := vfs.NewMem()
	s, err := rskv.Open("db", &rskv.Options{FS: fs, MemorySize: 1 << 20, DisableBackground: true})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = rskv.Open("db", &rskv.Options{FS: fs, MemorySize: 1 << 20, PageSize: 128 << 10, DisableBackground: true})
	require.True(t, errors.Is(err, rskv.ErrInvalidOptions), "%v", err)
	require.Contains(t, err.Error(), "PageSize 131072 differs from the store's 65536")
	require.Equal(t, 1, countSubstr(err.Error(), "rskv:"), err.Error())
}

func countSubstr(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}
