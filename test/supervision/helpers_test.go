package supervision

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// eventually polls cond until it holds or the deadline passes. Background
// services act asynchronously, so tests wait for their effects; the deadline
// is generous because it only bounds a failure, never a success.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func key(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

func value(i, version, size int) []byte {
	v := make([]byte, size)
	binary.BigEndian.PutUint64(v, uint64(i))
	binary.BigEndian.PutUint64(v[8:], uint64(version))
	return v
}

func open(t *testing.T, opts *rskv.Options) *rskv.Store {
	t.Helper()
	s, err := rskv.Open(t.TempDir(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func service(t *testing.T, s *rskv.Store, name string) rskv.ServiceStatus {
	t.Helper()
	for _, st := range s.Services() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no service %q in %v", name, s.Services())
	return rskv.ServiceStatus{}
}

// smallOptions is a store whose log turns pages quickly.
func smallOptions() *rskv.Options {
	return &rskv.Options{MemorySize: 1 << 20, PageSize: 16 << 10, SegmentSize: 64 << 10}
}
