// Package test holds black-box integration tests of package rskv: they use
// only its exported API, as a program would.
package test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// smallOptions is a store whose log crosses page, read-only, head and disk
// boundaries after a few hundred kilobytes. Segments are larger than the
// default for this memory size: every new segment costs file creation and
// fsyncs, which would dominate the tests' time.
func smallOptions() *rskv.Options {
	return &rskv.Options{
		MemorySize:        256 << 10,
		PageSize:          4 << 10,
		SegmentSize:       1 << 20,
		DisableBackground: true,
	}
}

// openStore opens a store and closes it at the end of the test (Close is
// idempotent, so tests may close it earlier).
func openStore(t testing.TB, dir string, opts *rskv.Options) *rskv.Store {
	t.Helper()
	s, err := rskv.Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func key(i int) []byte { return fmt.Appendf(nil, "key-%07d", i) }

// A versioned value names its key and version and carries a checksum over
// both and its filler, so a reader can tell a value that was really written
// from a torn or invented one. Its length varies with the version.
//
//	version (8) | key length (2) | key | filler | crc32 (4)
func versioned(k []byte, version uint64, extra int) []byte {
	n := 8 + 2 + len(k) + int(version%5)*8 + extra
	v := make([]byte, 0, n+4)
	v = binary.LittleEndian.AppendUint64(v, version)
	v = binary.LittleEndian.AppendUint16(v, uint16(len(k)))
	v = append(v, k...)
	for len(v) < n {
		v = append(v, byte(version)^byte(len(v)))
	}
	return binary.LittleEndian.AppendUint32(v, crc32.ChecksumIEEE(v))
}

// decodeVersioned checks a value made by versioned for key k and returns its
// version.
func decodeVersioned(k, v []byte) (uint64, error) {
	if len(v) < 14 {
		return 0, fmt.Errorf("value of %d bytes is too short", len(v))
	}
	body, sum := v[:len(v)-4], binary.LittleEndian.Uint32(v[len(v)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return 0, fmt.Errorf("value %x has a bad checksum (torn or never written)", v)
	}
	kl := int(binary.LittleEndian.Uint16(body[8:]))
	if 10+kl > len(body) || !bytes.Equal(body[10:10+kl], k) {
		return 0, fmt.Errorf("value %x belongs to another key than %q", v, k)
	}
	return binary.LittleEndian.Uint64(body), nil
}

func TestVersionedValues(t *testing.T) {
	for ver := range uint64(12) {
		v := versioned([]byte("abc"), ver, 3)
		got, err := decodeVersioned([]byte("abc"), v)
		require.NoError(t, err)
		require.Equal(t, ver, got)
		_, err = decodeVersioned([]byte("abd"), v)
		require.Error(t, err)
		v[len(v)/2] ^= 1
		_, err = decodeVersioned([]byte("abc"), v)
		require.Error(t, err)
	}
}

// snapshot reads every key with Scan.
func snapshot(t testing.TB, s *rskv.Store, prefix []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	require.NoError(t, s.Scan(prefix, func(k, v []byte) bool {
		_, dup := out[string(k)]
		require.False(t, dup, "Scan visited %q twice", k)
		out[string(k)] = v
		return true
	}))
	return out
}

// requireContents checks Get, Has, Len and Scan against want.
func requireContents(t testing.TB, s *rskv.Store, want map[string][]byte) {
	t.Helper()
	for k, v := range want {
		got, err := s.Get([]byte(k))
		require.NoError(t, err, "Get(%q)", k)
		requireBytes(t, v, got, "Get(%q)", k)
		ok, err := s.Has([]byte(k))
		require.NoError(t, err)
		require.True(t, ok, "Has(%q)", k)
	}
	require.Equal(t, len(want), s.Len())
	require.Equal(t, len(want), s.Stats().Keys)
	got := snapshot(t, s, nil)
	require.Len(t, got, len(want))
	for k, v := range got {
		requireBytes(t, want[k], v, "Scan value of %q", k)
	}
}

// scaled returns n, smaller under -short and under the race detector.
func scaled(n int) int {
	if testing.Short() {
		n /= 4
	}
	if raceEnabled {
		n /= 3
	}
	return max(n, 1)
}

// requireBytes compares values, taking nil and empty as equal (an empty
// value may come back as either).
func requireBytes(t testing.TB, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	if !bytes.Equal(want, got) {
		require.Equal(t, want, got, msgAndArgs...)
	}
}
