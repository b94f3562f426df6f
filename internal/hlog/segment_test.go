package hlog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestSegmentNameRoundTrip(t *testing.T) {
	require.Equal(t, "seg-0000000000000000.log", SegmentName(0))
	require.Equal(t, "seg-00000000000000ab.log", SegmentName(0xab))
	require.Equal(t, "seg-ffffffffffffffff.log", SegmentName(^uint64(0)))
	rapid.Check(t, func(t *rapid.T) {
		i := rapid.Uint64().Draw(t, "i")
		got, ok := parseSegmentName(SegmentName(i))
		if !ok || got != i {
			t.Fatalf("parseSegmentName(SegmentName(%d)) = %d, %v", i, got, ok)
		}
	})
}

// TestParseSegmentNameRejects checks that only the canonical name of a
// segment is taken for one: a stray file must neither be opened as a segment
// nor be mapped onto another segment's index.
func TestParseSegmentNameRejects(t *testing.T) {
	for _, name := range []string{
		"",
		"seg-.log",
		"seg-1.log",
		"seg-000000000000000.log",   // 15 digits
		"seg-00000000000000000.log", // 17 digits
		"seg-000000000000000g.log",
		"seg-0000000000000001.log~",
		"seg-0000000000000001.LOG",
		"SEG-0000000000000001.log",
		"xseg-0000000000000001.log",
		"seg-0000000000000001.log.tmp",
		"seg-00000000000000AB.log",  // upper case: not the name SegmentName gives
		"seg- 00000000000000a.log",  // leading space
		"seg-0x0000000000000a.log",  // a prefix, then junk
		"seg-+00000000000000a.log",  // a sign
		"seg-0000000000000001x.log", // trailing junk
		"STORE",
		"LOCK",
	} {
		i, ok := parseSegmentName(name)
		require.False(t, ok, "%q parsed as segment %d", name, i)
	}
}

// TestParseSegmentNameOnlyCanonical: whatever parses must be exactly the
// name SegmentName gives its index.
func TestParseSegmentNameOnlyCanonical(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		hex := rapid.StringOfN(rapid.SampledFrom([]rune("0123456789abcdefABCDEF x+-")), 16, 16, -1).Draw(t, "hex")
		name := "seg-" + hex + ".log"
		if i, ok := parseSegmentName(name); ok && SegmentName(i) != name {
			t.Fatalf("%q parsed as %d, whose name is %q", name, i, SegmentName(i))
		}
	})
}

func TestSegmentHeaderRoundTrip(t *testing.T) {
	h := segmentHeader{storeID: 0xdeadbeef, index: 7, segmentBits: 20, pageBits: 16}
	b := h.encode()
	require.Len(t, b, SegmentHeaderSize)
	got, err := decodeSegmentHeader(b)
	require.NoError(t, err)
	require.Equal(t, h, got)
	for off := range segHeaderUsed {
		c := append([]byte(nil), b...)
		c[off] ^= 0x10
		_, err := decodeSegmentHeader(c)
		require.Error(t, err, "flip at header offset %d", off)
	}
}

// TestOpenRefusesForeignSegment: a segment of another store or geometry is
// corruption, not data.
func TestOpenRefusesForeignSegment(t *testing.T) {
	dir := t.TempDir()
	tl := mustOpenTestLog(t, dir, smallGeometry)
	tl.writeRecords(0, 10)
	tl.close()

	for name, cfg := range map[string]func(*Config){
		"store id":  func(c *Config) { c.StoreID = 43 },
		"page bits": func(c *Config) { c.PageBits = 13 },
		"seg bits":  func(c *Config) { c.SegmentBits = 15 },
	} {
		t.Run(name, func(t *testing.T) {
			c := Config{FS: vfs.Default, Dir: dir, StoreID: 42, PageBits: 12, SegmentBits: 14,
				MemoryPages: 8, MutablePages: 4, Epoch: epoch.New()}
			cfg(&c)
			_, err := Open(c)
			require.ErrorIs(t, err, ErrCorruption)
		})
	}
	// A bad header in a segment that is not the newest is corruption too.
	tl = mustOpenTestLog(t, dir, smallGeometry)
	tl.writeRecords(10, 200)
	tl.close()
	segs := segments(t, dir)
	require.Greater(t, len(segs), 2)
	f, err := os.OpenFile(filepath.Join(dir, SegmentName(segs[0])), os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("NOTASEG!"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = openTestLog(t, dir, smallGeometry)
	require.ErrorIs(t, err, ErrCorruption)
}
