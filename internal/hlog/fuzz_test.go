package hlog

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzParseRecord decodes arbitrary bytes as a record. parseRecord must never
// panic or read outside its input, and whatever it accepts must be a
// self-consistent record that re-encodes to the same fields. Run with
//
//	go test -fuzz FuzzParseRecord ./log
//
// A plain go test runs the seeds below.
func FuzzParseRecord(f *testing.F) {
	seed := func(info uint64, key, value string, slack int) []byte {
		page, size := encodeRecord(4096, info, []byte(key), []byte(value), slack)
		return page[:size]
	}
	valid := seed(MakeInfo(64, FlagNewKey), "key", "value", 0)
	f.Add(valid, uint64(4096))
	f.Add(seed(MakeInfo(0, FlagTombstone|FlagDelKey), "k", "", 0), uint64(32))
	f.Add(seed(MakeInfo(1<<40, 0), "a longer key of some size", string(make([]byte, 300)), 17), uint64(4096))
	f.Add(valid[:RecordHeaderSize], uint64(4096))
	f.Add(valid[:len(valid)-1], uint64(4096))
	f.Add(valid, uint64(len(valid)-8))
	f.Add([]byte{}, uint64(0))
	f.Add(make([]byte, 7), uint64(4096))
	f.Add(make([]byte, 64), uint64(4096))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0xA7, 1, 2, 3}, uint64(20))
	huge := bytes.Clone(valid)
	binary.LittleEndian.PutUint64(huge[16:], ^uint64(0))
	f.Add(huge, ^uint64(0))

	f.Fuzz(func(t *testing.T, b []byte, room uint64) {
		in := bytes.Clone(b)
		rec, st, why := parseRecord(b, room)
		if !bytes.Equal(in, b) {
			t.Fatal("parseRecord modified its input")
		}
		switch st {
		case parsedEmpty, parsedShort:
			return
		case parsedBad:
			if why == "" {
				t.Fatal("parsedBad without a reason")
			}
			return
		case parsedOK:
		default:
			t.Fatalf("unknown status %d", st)
		}
		if rec.Size > uint64(len(b)) || rec.Size > room || rec.Size%8 != 0 || rec.Size < RecordHeaderSize+8 {
			t.Fatalf("size %d for %d bytes and room %d", rec.Size, len(b), room)
		}
		if len(rec.Key) == 0 || rec.Info>>markerShift != recordMarker {
			t.Fatalf("accepted record with key %q info %#x", rec.Key, rec.Info)
		}
		// Re-encode what was decoded; it must parse to the same record.
		_, _, slack := splitLengths(binary.LittleEndian.Uint64(b[16:]))
		page := make([]byte, rec.Size)
		MemRecord{r: recordAt(page, 0)}.r.writeNew(rec.Info, rec.Key, rec.Value, slack)
		stampChecksums(page)
		again, st2, why2 := parseRecord(page, rec.Size)
		if st2 != parsedOK {
			t.Fatalf("re-encoded record does not parse: %s", why2)
		}
		if again.Info != rec.Info || !bytes.Equal(again.Key, rec.Key) || !bytes.Equal(again.Value, rec.Value) || again.Size != rec.Size {
			t.Fatalf("re-encoded record differs: %+v vs %+v", again, rec)
		}
	})
}
