package fileformat

import (
	"encoding/binary"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestNames(t *testing.T) {
	require.Equal(t, "seg-0000000000000000.log", Segment.Name(0))
	require.Equal(t, "seg-00000000000000ab.log", Segment.Name(0xab))
	require.Equal(t, "checkpoint-ffffffffffffffff.ckpt", Checkpoint.Name(^uint64(0)))
	rapid.Check(t, func(t *rapid.T) {
		i := rapid.Uint64().Draw(t, "i")
		for _, n := range []Numbered{Segment, Checkpoint} {
			got, ok := n.Parse(n.Name(i))
			require.True(t, ok)
			require.Equal(t, i, got)
			require.True(t, n.IsTemp(n.Name(i)+TempSuffix))
			require.False(t, n.IsTemp(n.Name(i)))
		}
	})
	for _, bad := range []string{
		"seg-00000000000000AB.log", // upper case
		"seg-+000000000000001.log", // sign
		"seg- 000000000000001.log", // space
		"seg-000000000000001.log",  // 15 digits
		"seg-00000000000000001.log", "seg-.log", "seg-", ".log", "seg-0000000000000001.log.tmp",
		"checkpoint-0000000000000001.log", LockFile, ManifestFile,
	} {
		_, ok := Segment.Parse(bad)
		require.False(t, ok, bad)
	}
	_, ok := Checkpoint.Parse("seg-0000000000000001.log")
	require.False(t, ok)
	// Overlapping prefix and suffix never panic.
	_, ok = Numbered{Prefix: "a", Suffix: "a"}.Parse("a")
	require.False(t, ok)
}

var testKind = Kind{What: "test file", Magic: "RSKVTEST", Version: 3, OldestVersion: 2, Length: 48, BodySize: 16}

func sealed(t *testing.T) []byte {
	b := make([]byte, testKind.Size())
	binary.LittleEndian.PutUint64(b[BodyOffset:], 0x1122334455667788)
	binary.LittleEndian.PutUint64(b[BodyOffset+8:], 99)
	testKind.Seal(b, 0xabcdef)
	require.Equal(t, "RSKVTEST", string(b[:8]))
	return b
}

func TestHeaderRoundTrip(t *testing.T) {
	b := sealed(t)
	h, err := testKind.Decode(b)
	require.NoError(t, err)
	require.Equal(t, Header{Version: 3, Length: 48, StoreID: 0xabcdef}, h)
	require.Equal(t, uint64(0x1122334455667788), binary.LittleEndian.Uint64(b[BodyOffset:]))
}

// TestHeaderDamage flips every bit of a header in turn: each flip is
// refused with ErrBadHeader.
func TestHeaderDamage(t *testing.T) {
	good := sealed(t)
	for i := range len(good) * 8 {
		b := append([]byte(nil), good...)
		b[i/8] ^= 1 << (i % 8)
		_, err := testKind.Decode(b)
		require.True(t, errors.Is(err, ErrBadHeader), "bit %d: %v", i, err)
	}
	for n := range len(good) {
		_, err := testKind.Decode(good[:n])
		require.True(t, errors.Is(err, ErrBadHeader), "cut at %d: %v", n, err)
	}
}

func TestHeaderVersions(t *testing.T) {
	for v, ok := range map[uint32]bool{1: false, 2: true, 3: true, 4: false} {
		b := sealed(t)
		k := testKind
		k.Version = v
		k.Seal(b, 1) // write version v
		h, err := testKind.Decode(b)
		if ok {
			require.NoError(t, err, "version %d", v)
			require.Equal(t, v, h.Version)
		} else {
			require.ErrorContains(t, err, "not supported", "version %d", v)
		}
	}
	// The messages say which check failed.
	b := sealed(t)
	copy(b, "NOTRSKV!")
	_, err := testKind.Decode(b)
	require.ErrorContains(t, err, "bad magic: not an rskv test file")
}

// TestKinds checks the three kinds' frames against the layouts their
// packages read at fixed offsets.
func TestKinds(t *testing.T) {
	require.Equal(t, 68, Manifest.Size())
	require.Equal(t, int(Manifest.Length), Manifest.Size(), "the STORE file is its header")
	require.Equal(t, 44, SegmentHeader.Size())
	require.Equal(t, 128, CheckpointHeader.Size())
	require.Equal(t, int(CheckpointHeader.Length), CheckpointHeader.Size())
	require.LessOrEqual(t, SegmentHeader.Size(), 64, "the segment's durable mark is at offset 64")
}
