package rskv_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

func Example() {
	dir, err := os.MkdirTemp("", "rskv-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	s, err := rskv.Open(dir, &rskv.Options{MemorySize: 1 << 20, DisableBackground: true})
	if err != nil {
		panic(err)
	}
	_ = s.Put([]byte("greeting"), []byte("hello"))
	v, _ := s.Get([]byte("greeting"))
	fmt.Println(string(v))

	count := func(old []byte, found bool) []byte {
		n := uint64(0)
		if found {
			n = binary.LittleEndian.Uint64(old)
		}
		return binary.LittleEndian.AppendUint64(nil, n+1)
	}
	for range 3 {
		_, _ = s.RMW([]byte("visits"), count)
	}
	v, _ = s.Get([]byte("visits"))
	fmt.Println(binary.LittleEndian.Uint64(v))

	_ = s.Delete([]byte("greeting"))
	_, err = s.Get([]byte("greeting"))
	fmt.Println(errors.Is(err, rskv.ErrNotFound), s.Len())

	if err := s.Close(); err != nil {
		panic(err)
	}
	// Output:
	// hello
	// 3
	// true 1
}

// TestDefaultShape checks the documented defaults through what they imply:
// MemorySize 1 MiB gives 64 KiB pages (the largest record is one page) and
// 1024 index buckets (the least: the index grows with its keys).
func TestDefaultShape(t *testing.T) {
	s, err := rskv.Open(t.TempDir(), &rskv.Options{MemorySize: 1 << 20, DisableBackground: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, s.Put([]byte("k"), make([]byte, 64<<10-24-8)), "a record of exactly one page")
	err = s.Put([]byte("k"), make([]byte, 64<<10-24-8+1))
	require.True(t, errors.Is(err, rskv.ErrValueTooLarge), "%v", err)
	st := s.Stats()
	require.Equal(t, 1024, st.IndexBuckets)
	require.Equal(t, 1, st.Keys)
	require.True(t, st.Recovery.Created)
	require.LessOrEqual(t, st.ReadOnlyAddress, st.TailAddress)
	require.LessOrEqual(t, st.FlushedAddress, st.TailAddress)
	require.Empty(t, st.IOError)
}

func TestSyncModeString(t *testing.T) {
	require.Equal(t, "none", rskv.SyncNone.String())
	require.Equal(t, "periodic", rskv.SyncPeriodic.String())
	require.Equal(t, "always", rskv.SyncAlways.String())
	require.Equal(t, "SyncMode(7)", rskv.SyncMode(7).String())
	// SetSyncMode makes SyncNone, the zero value, a choice rather than "default".
	o := (&rskv.Options{}).SetSyncMode(rskv.SyncNone)
	require.Equal(t, rskv.SyncNone, o.SyncMode)
}
