package hlog

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCapturedImagesAreStampedByRedo: a writer's captured image goes into
// the delta log unstamped (entryUnstamped, its checksum field zero), and
// redo stamps it before it writes it into the segment, so that the record
// recovery reads back passes its checksum with the synced value.
func TestCapturedImagesAreStampedByRedo(t *testing.T) {
	dir := t.TempDir()
	g := geometry{pageBits: 12, segmentBits: 16, frames: 16, mutable: 12, capture: true}
	tl := mustOpenTestLog(t, dir, g)
	addr := tl.append(testKey(1), []byte("value-00"), 0)
	require.NoError(t, tl.l.WaitDurable(0))
	tl.updateInPlace([]uint64{addr}, []byte("value-01"))
	require.NoError(t, tl.l.WaitDurable(0))
	require.Positive(t, tl.l.DeltaStats().CapturedBytes)
	tl.crash()

	// The delta log holds the captured image, flagged and unstamped.
	gens, err := deltaGens(tl.l.cfg.FS, dir)
	require.NoError(t, err)
	unstamped := 0
	for _, gen := range gens {
		r, err := openDelta(tl.l.cfg.FS, dir, gen, 42, g.pageBits, g.segmentBits)
		require.NoError(t, err)
		require.EqualValues(t, deltaVersion, r.version)
		var buf []byte
		for off := int64(deltaHeaderSize); off < r.size; {
			f, b, why, err := r.frameAt(off, buf)
			require.NoError(t, err)
			if why != "" {
				break
			}
			buf = b
			for p := f.payload; len(p) > 0; p = p[entrySize(binary.LittleEndian.Uint64(p[8:])):] {
				if a, w := binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:]); a == addr && w&entryUnstamped != 0 {
					unstamped++
					require.Zero(t, binary.LittleEndian.Uint32(p[entryHeaderSize+12:]), "an unstamped image's checksum field is zero")
				}
			}
			off += frameHeaderSize + int64(len(f.payload))
		}
		require.NoError(t, r.f.Close())
	}
	require.Positive(t, unstamped, "the in-place update was captured unstamped")

	tl = mustOpenTestLog(t, dir, g)
	defer tl.close()
	got := tl.recoveredValue(testKey(1))
	require.Equal(t, "value-01", string(got), "the redone record verifies and holds the synced value")
}

// TestDeltaEntryFlags: redo accepts the unstamped flag only in a version 2
// file and only on an entry that is one whole record, and rejects unknown
// flag bits; a version 1 file's stamped images are read as before.
func TestDeltaEntryFlags(t *testing.T) {
	const pageSize = 4096
	page, size := encodeRecord(pageSize, MakeInfo(0, 0), []byte("key"), []byte("value"), 0)
	stamped := bytes.Clone(page[:size])
	unstampedImg := bytes.Clone(stamped)
	clear(unstampedImg[12:16])
	entry := func(img []byte, w uint64) []byte {
		e := binary.LittleEndian.AppendUint64(nil, FirstAddress)
		e = binary.LittleEndian.AppendUint64(e, w)
		return append(e, img...)
	}
	images := func(version uint32, payload []byte) ([][]byte, error) {
		f := deltaFrame{version: version, payload: payload}
		var out [][]byte
		err := f.entries(pageSize, func(addr uint64, img []byte) error {
			out = append(out, bytes.Clone(img))
			return nil
		})
		return out, err
	}

	got, err := images(2, entry(unstampedImg, size|entryUnstamped))
	require.NoError(t, err)
	require.Equal(t, [][]byte{stamped}, got, "redo stamps an unstamped image")

	got, err = images(1, entry(stamped, size))
	require.NoError(t, err)
	require.Equal(t, [][]byte{stamped}, got, "a version 1 image is applied as it is")

	for _, c := range []struct {
		name    string
		version uint32
		payload []byte
	}{
		{"flag in a version 1 file", 1, entry(unstampedImg, size|entryUnstamped)},
		{"unknown flag", 2, entry(stamped, size|2)},
		{"unstamped range of two records", 2, entry(append(bytes.Clone(unstampedImg), unstampedImg...), 2*size|entryUnstamped)},
		{"unstamped entry shorter than a header", 2, entry(unstampedImg[:16], 16|entryUnstamped)},
	} {
		_, err := images(c.version, c.payload)
		require.ErrorIs(t, err, ErrCorruption, c.name)
	}
}
