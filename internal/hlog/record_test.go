package hlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// encodeRecord lays out one record at the start of a zeroed page, stamped
// with its checksum as a flush would, and returns the page and the size.
func encodeRecord(pageSize int, info uint64, key, value []byte, slack int) ([]byte, uint64) {
	page := make([]byte, pageSize)
	r := MemRecord{r: recordAt(page, 0)}
	r.r.writeNew(info, key, value, slack)
	size := r.Size()
	stampChecksums(page[:size])
	return page, size
}

func TestRecordRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, "key")
		value := rapid.SliceOfN(rapid.Byte(), 0, 700).Draw(t, "value")
		slack := rapid.IntRange(0, 100).Draw(t, "slack")
		prev := rapid.Uint64Range(0, 1<<48-1).Draw(t, "prev")
		flags := rapid.SampledFrom([]uint64{0, FlagTombstone, FlagNewKey, FlagDelKey | FlagTombstone, FlagCopy, FlagInvalid}).Draw(t, "flags")
		info := MakeInfo(prev, flags)

		page, size := encodeRecord(4096, info, key, value, slack)
		if want := RecordSize(len(key), len(value)+slack); size != want {
			t.Fatalf("size %d, want %d", size, want)
		}
		if size%8 != 0 {
			t.Fatalf("size %d is not 8-byte aligned", size)
		}
		rec, st, why := parseRecord(page[:size], uint64(len(page)))
		if st != parsedOK {
			t.Fatalf("parse: status %d (%s)", st, why)
		}
		if rec.Info != info || rec.Prev() != prev || !bytes.Equal(rec.Key, key) || !bytes.Equal(rec.Value, value) || rec.Size != size {
			t.Fatalf("parsed %+v; want info %#x key %q value %q size %d", rec, info, key, value, size)
		}
		if rec.Tombstone() != (flags&FlagTombstone != 0) {
			t.Fatalf("tombstone %v for flags %#x", rec.Tombstone(), flags)
		}
		// A larger buffer parses to the same record.
		if rec2, st, _ := parseRecord(page, uint64(len(page))); st != parsedOK || rec2.Size != size {
			t.Fatalf("parse with trailing bytes: %d", st)
		}
		// The in-memory view agrees.
		m := MemRecord{r: recordAt(page, 0)}
		if !bytes.Equal(m.Key(), key) || !m.KeyEquals(key) || m.ValueLen() != len(value) || m.Info() != info ||
			m.Prev() != prev || m.Tombstone() != rec.Tombstone() || m.Size() != size {
			t.Fatalf("MemRecord disagrees with the parsed record")
		}
		if m.KeyEquals(append(bytes.Clone(key), 0)) {
			t.Fatalf("KeyEquals accepts a longer key")
		}
		for _, stable := range []bool{true, false} {
			if got := m.AppendValue([]byte("x"), stable); !bytes.Equal(got, append([]byte("x"), value...)) {
				t.Fatalf("AppendValue(stable=%v) = %q, want x+%q", stable, got, value)
			}
		}
		// Too little room for the record: invalid, never out of bounds.
		if _, st, _ := parseRecord(page[:size], size-8); st != parsedBad {
			t.Fatalf("record larger than its room parsed with status %d", st)
		}
		// Every proper prefix is short (or, if it cannot hold a header, not OK).
		for _, n := range []uint64{0, 7, 8, 23, 24, size - 1} {
			if _, st, _ := parseRecord(page[:n], uint64(len(page))); st == parsedOK || st == parsedEmpty && n >= 8 {
				t.Fatalf("prefix of %d bytes of a %d-byte record: status %d", n, size, st)
			}
		}
	})
}

// TestInPlaceUpdate exercises the record lock: update within capacity, a
// value that does not fit, sealing.
func TestInPlaceUpdate(t *testing.T) {
	page := make([]byte, 4096)
	m := MemRecord{r: recordAt(page, 0)}
	m.r.writeNew(MakeInfo(0, 0), []byte("k"), []byte("hello world"), 5)
	require.Equal(t, RecordSize(1, 16), m.Size())

	require.True(t, m.Lock())
	require.Equal(t, []byte("hello world"), m.LockedValue(nil))
	require.True(t, m.UpdateLocked([]byte("sixteen bytes!!!")), "16 bytes fit the 11+5 capacity")
	m.Unlock()
	require.Equal(t, []byte("sixteen bytes!!!"), m.AppendValue(nil, false))

	require.True(t, m.Lock())
	require.False(t, m.UpdateLocked([]byte("seventeen bytes!!")), "17 bytes do not fit")
	require.True(t, m.UpdateLocked(nil))
	m.Unlock()
	require.Empty(t, m.AppendValue(nil, false))
	require.Equal(t, RecordSize(1, 16), m.Size(), "the size never changes")

	require.True(t, m.Seal())
	require.False(t, m.Lock(), "a sealed record cannot be locked")
	require.False(t, m.Seal(), "sealing twice reports the first")
	require.Empty(t, m.AppendValue(nil, false))

	// The flushed image of the updated record carries the new value.
	stampChecksums(page[:m.Size()])
	rec, st, _ := parseRecord(page, 4096)
	require.Equal(t, parsedOK, st)
	require.Empty(t, rec.Value)
}

func TestParseRecordRejects(t *testing.T) {
	page, size := encodeRecord(4096, MakeInfo(100, 0), []byte("key"), []byte("value"), 0)
	mutate := func(f func(b []byte)) []byte {
		b := bytes.Clone(page[:size])
		f(b)
		return b
	}
	cases := map[string][]byte{
		"bad marker":   mutate(func(b []byte) { b[7] = 0x11 }),
		"empty key":    mutate(func(b []byte) { binary.LittleEndian.PutUint16(b[20:], 0) }),
		"bad checksum": mutate(func(b []byte) { b[12] ^= 1 }),
		"value changed": mutate(func(b []byte) {
			b[RecordHeaderSize+8] ^= 0x80
		}),
		"huge value": mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[16:], 1<<31) }),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, st, why := parseRecord(b, 4096)
			require.Equal(t, parsedBad, st)
			require.NotEmpty(t, why)
		})
	}
	// A zero info word is the unused end of a page.
	_, st, _ := parseRecord(make([]byte, 64), 4096)
	require.Equal(t, parsedEmpty, st)
	_, st, _ = parseRecord(make([]byte, 8), 4096)
	require.Equal(t, parsedEmpty, st)
	// Fewer bytes of room than a header: page padding.
	_, st, _ = parseRecord([]byte{1, 2, 3}, 16)
	require.Equal(t, parsedEmpty, st)
}

// recordFields says which bytes of an encoded record the checksum protects.
func checksummed(off, keyLen, valueLen int) bool {
	vo := RecordHeaderSize + int(align8(uint64(keyLen)))
	switch {
	case off < 8: // info
		return true
	case off < 12: // lock word: in-memory state, not checksummed
		return false
	case off < RecordHeaderSize: // crc, lengths
		return true
	case off < RecordHeaderSize+keyLen:
		return true
	case off >= vo && off < vo+valueLen:
		return true
	}
	return false // padding and slack
}

// TestFlippedBitDetected flips every bit of a flushed record: a bit in a
// checksummed field must make the record invalid; a bit anywhere else (the
// lock word, padding, slack) must leave what is parsed unchanged. Either way
// no wrong key, value or info is ever returned.
func TestFlippedBitDetected(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		slack      int
	}{
		{"k", "", 0},
		{"a-key", "a value of some length", 3},
		{"exactly8", "sixteen bytes!!!", 9},
	} {
		key, value := []byte(tc.key), []byte(tc.value)
		page, size := encodeRecord(4096, MakeInfo(0x1234, FlagNewKey), key, value, tc.slack)
		orig, st, _ := parseRecord(page, 4096)
		require.Equal(t, parsedOK, st)
		for off := range int(size) {
			for bit := range 8 {
				b := bytes.Clone(page)
				b[off] ^= 1 << bit
				rec, st, _ := parseRecord(b, 4096)
				if checksummed(off, len(key), len(value)) {
					require.NotEqual(t, parsedOK, st, "key %q: flip of bit %d at offset %d went undetected", key, bit, off)
					require.NotEqual(t, parsedEmpty, st, "key %q: flip of bit %d at offset %d reads as page end", key, bit, off)
					continue
				}
				require.Equal(t, parsedOK, st, "key %q: flip of bit %d at unprotected offset %d", key, bit, off)
				require.Equal(t, orig.Info, rec.Info)
				require.Equal(t, orig.Key, rec.Key)
				require.Equal(t, orig.Value, rec.Value)
				require.Equal(t, orig.Size, rec.Size)
			}
		}
	}
}

// TestEmptyValueAtPageEnd: a record with an empty value (a tombstone, say)
// that ends exactly at the end of its page has its value "start" one past
// the end of the page frame. Touching the value must not form that pointer:
// Go forbids pointer arithmetic past the end of an allocation (the race
// detector's checkptr aborts the process; without it the garbage collector
// may take the pointer for one into the next object).
func TestEmptyValueAtPageEnd(t *testing.T) {
	page := make([]byte, 4096)
	key := []byte("exactly8")
	off := uint64(4096) - RecordSize(len(key), 0)
	m := MemRecord{r: recordAt(page, off)}
	m.r.writeNew(MakeInfo(0, FlagTombstone), key, nil, 0)
	require.Equal(t, uint64(4096), off+m.Size())

	require.Empty(t, m.AppendValue(nil, true))
	require.Empty(t, m.AppendValue(nil, false))
	require.True(t, m.Lock())
	require.Empty(t, m.LockedValue(nil))
	require.True(t, m.UpdateLocked(nil))
	require.False(t, m.UpdateLocked([]byte("x")))
	m.Unlock()
	stampChecksums(page[off:])
	rec, st, _ := parseRecord(page[off:], 4096-off)
	require.Equal(t, parsedOK, st)
	require.Empty(t, rec.Value)
}

// TestSeqlockReadsAreNeverTorn has a writer update one record in place as
// fast as it can, with values of varying length whose bytes are all the
// same, while readers copy it optimistically (AppendValue, not stable):
// every copy a reader returns must be one value the writer wrote, whole.
// It checks the seqlock with the copy and stores of the build under test
// (memmove and plain stores on amd64, word atomics under -race).
func TestSeqlockReadsAreNeverTorn(t *testing.T) {
	page := make([]byte, 4096)
	m := MemRecord{r: recordAt(page, 0)}
	m.r.writeNew(MakeInfo(0, 0), []byte("k"), bytes.Repeat([]byte{200%251 + 1}, 200), 0)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan string, 4)
	for range 3 {
		wg.Go(func() {
			var buf []byte
			for !stop.Load() {
				buf = m.AppendValue(buf[:0], false)
				if len(buf) < 100 || len(buf) > 200 {
					errs <- fmt.Sprintf("value of %d bytes, the writer writes 100 to 200", len(buf))
					return
				}
				for _, c := range buf {
					if c != buf[0] || int(c) != len(buf)%251+1 {
						errs <- fmt.Sprintf("torn value: %d bytes starting %d, holding %d", len(buf), buf[0], c)
						return
					}
				}
				reads.Add(1)
			}
		})
	}
	value := make([]byte, 200)
	for i := 0; reads.Load() < 20000 && i < 5_000_000; i++ {
		n := 100 + i%101
		for j := range value[:n] {
			value[j] = byte(n%251 + 1)
		}
		require.True(t, m.Lock())
		require.True(t, m.UpdateLocked(value[:n]))
		m.Unlock()
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	require.Positive(t, reads.Load())
}

// TestStampImageMatchesChecksum: checksum's and stampImage's shortcuts
// (fewer crc32 calls) give the record checksum as defined (CRC-32C of info,
// lengths, key, value), and stampImage zeroes the lock word and keeps the
// rest of the image, for every key and value length.
func TestStampImageMatchesChecksum(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOfN(rapid.Byte(), 1, 40).Draw(t, "key")
		value := rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "value")
		slack := rapid.IntRange(0, 24).Draw(t, "slack")
		page, size := encodeRecord(4096, MakeInfo(rapid.Uint64Range(0, 1<<48-1).Draw(t, "prev"), FlagNewKey), key, value, slack)
		img := slices.Clone(page[:size])
		binary.LittleEndian.PutUint32(img[8:], rapid.Uint32().Draw(t, "lock"))
		binary.LittleEndian.PutUint32(img[12:], rapid.Uint32().Draw(t, "stale crc"))
		stampImage(img)
		want := slices.Clone(page[:size])
		clear(want[8:12])
		// The definition: CRC-32C of info, then lengths and key, then value.
		vo := RecordHeaderSize + int(align8(uint64(len(key))))
		def := slices.Concat(want[0:8], want[16:RecordHeaderSize+len(key)], want[vo:vo+len(value)])
		crc := crc32.Checksum(def, castagnoli)
		if got := checksum(want, len(key), len(value)); got != crc {
			t.Fatalf("checksum %#x, want %#x", got, crc)
		}
		binary.LittleEndian.PutUint32(want[12:], crc)
		if !slices.Equal(img, want) {
			t.Fatalf("stamped image\n%x\nwant\n%x", img, want)
		}
	})
}

func BenchmarkStampImage(b *testing.B) {
	for _, c := range []struct {
		name string
		k, v int
	}{{"k8v8", 8, 8}, {"k12v100", 12, 100}} {
		b.Run(c.name, func(b *testing.B) {
			page, size := encodeRecord(4096, MakeInfo(0, 0), make([]byte, c.k), make([]byte, c.v), 0)
			img := page[:size]
			for b.Loop() {
				stampImage(img)
			}
		})
	}
}
