package hlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/cockroachdb/errors"
)

// A record is laid out in the log, in memory and on disk alike, as:
//
//	offset size
//	0      8    info: previous address (48 bits) | flags (8) | marker (8)
//	8      4    lock: seqlock word and dirty bit (not checksummed)
//	12     4    crc: CRC-32C of info, lengths, key and value (set at flush)
//	16     4    value length
//	20     2    key length
//	22     2    slack: value capacity minus value length
//	24     ...  key, padded to 8 bytes
//	...    ...  value, capacity padded to 8 bytes
//
// Records are 8-byte aligned and never span a page. A zero info word marks the
// unused end of a page. All multi-byte fields are little-endian.
const (
	// RecordHeaderSize is the size of a record's fixed header.
	RecordHeaderSize = 24

	prevMask = 1<<48 - 1

	// FlagTombstone marks a deletion.
	FlagTombstone = uint64(1) << 48
	// FlagInvalid marks a record that was never linked into the index (its
	// insert lost a race); scans skip it.
	FlagInvalid = uint64(1) << 49
	// FlagNewKey marks a record that made its key live: the live-key count
	// rises by one.
	FlagNewKey = uint64(1) << 50
	// FlagDelKey marks a tombstone that removed a live key: the count falls by
	// one.
	FlagDelKey = uint64(1) << 51
	// FlagCopy marks a record copied forward by compaction.
	FlagCopy = uint64(1) << 52
	// FlagExpiry marks a record with an expiry time: its stored value is
	// the expiry (Unix nanoseconds, 8 bytes little-endian) followed by the
	// user's value. Such a record is never updated in place, so its first
	// eight value bytes never change once it is published.
	FlagExpiry = uint64(1) << 53
	// FlagBatch marks a record written by a multi-key commit (a batch or a
	// transaction). Recovery applies it only when it meets the commit's
	// FlagCommit record later in the log; without one the record is dropped.
	// Its FlagNewKey/FlagDelKey are informational: the commit record carries
	// the commit's key-count change.
	FlagBatch = uint64(1) << 54
	// FlagCommit marks the record that ends a multi-key commit. Its value is
	// the 8-byte little-endian address of the commit's first FlagBatch
	// record followed by the 8-byte little-endian change the commit made to
	// the live-key count. It belongs to no key's chain.
	FlagCommit = uint64(1) << 55

	markerShift = 56
	// recordMarker is the format version of records, kept in the top byte of
	// the info word so that a valid info word is never zero.
	recordMarker = uint64(0xA7)

	lockBit  = 1
	sealBit  = 2
	dirtyBit = 4 // updated in place since the last sync (see UpdateLocked)
	// capturedMask holds the capture window (dirtyList.window, mod 8) in
	// which a writer last captured the record's image (see UpdateLocked).
	capturedMask  = 7 << capturedShift
	capturedShift = 3
	// versionInc steps the seqlock version, above the flag and window bits
	// (26 bits: a reader's copy would have to span 2^26 updates of one
	// record to mistake a changed value for an unchanged one).
	versionInc = 64
)

// MaxSlack is the most unused value capacity a record can carry.
const MaxSlack = 1<<16 - 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func align8(n uint64) uint64 { return (n + 7) &^ 7 }

// RecordSize returns the bytes a record with this key length and value
// capacity occupies in the log.
func RecordSize(keyLen, valueCap int) uint64 {
	return RecordHeaderSize + align8(uint64(keyLen)) + align8(uint64(valueCap))
}

// MakeInfo builds an info word.
func MakeInfo(prev uint64, flags uint64) uint64 {
	return prev&prevMask | flags | recordMarker<<markerShift
}

// InfoPrev returns the previous address in an info word.
func InfoPrev(info uint64) uint64 { return info & prevMask }

func makeLengths(keyLen, valueLen, slack int) uint64 {
	return uint64(uint32(valueLen)) | uint64(uint16(keyLen))<<32 | uint64(uint16(slack))<<48
}

func splitLengths(l uint64) (keyLen, valueLen, slack int) {
	return int(uint16(l >> 32)), int(uint32(l)), int(uint16(l >> 48))
}

// sizeFromLengths returns the record size implied by a lengths word.
func sizeFromLengths(l uint64) uint64 {
	k, v, s := splitLengths(l)
	return RecordSize(k, v+s)
}

// memRecord is a record in a page frame. Its info, lock and lengths words are
// accessed atomically because in-place updates and flags change them while
// other goroutines read; its key is immutable once the record is published.
type memRecord struct{ p unsafe.Pointer }

func recordAt(frame []byte, off uint64) memRecord {
	return memRecord{unsafe.Pointer(&frame[off])}
}

func (r memRecord) word(off uintptr) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(r.p, off))
}

func (r memRecord) infoWord() *atomic.Uint64    { return r.word(0) }
func (r memRecord) lockWord() *atomic.Uint32    { return (*atomic.Uint32)(unsafe.Add(r.p, 8)) }
func (r memRecord) lengthsWord() *atomic.Uint64 { return r.word(16) }

func (r memRecord) info() uint64 { return r.infoWord().Load() }

func (r memRecord) key(keyLen int) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(r.p, RecordHeaderSize)), keyLen)
}

func (r memRecord) valuePtr(keyLen int) unsafe.Pointer {
	return unsafe.Add(r.p, RecordHeaderSize+align8(uint64(keyLen)))
}

// writeNew fills a freshly allocated (zeroed) record. It runs before the
// record is published, so plain stores suffice.
func (r memRecord) writeNew(info uint64, key, value []byte, slack int) {
	*(*uint64)(r.p) = info
	*(*uint64)(unsafe.Add(r.p, 16)) = makeLengths(len(key), len(value), slack)
	copy(unsafe.Slice((*byte)(unsafe.Add(r.p, RecordHeaderSize)), len(key)), key)
	if len(value) > 0 {
		copy(unsafe.Slice((*byte)(r.valuePtr(len(key))), len(value)), value)
	}
}

// loadValue appends n bytes of value at p to dst using 8-byte atomic loads,
// so that it is safe against a concurrent in-place writer (the seqlock tells
// the caller whether the copy is consistent). The atomic loads matter on
// weakly ordered machines: they keep the copy between the two reads of the
// lock word. On amd64 they are plain moves.
func loadValue(dst []byte, p unsafe.Pointer, n int) []byte {
	off := len(dst)
	dst = slices.Grow(dst, n)[:off+n]
	i := 0
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(dst[off+i:], (*atomic.Uint64)(unsafe.Add(p, i)).Load())
	}
	if i < n {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], (*atomic.Uint64)(unsafe.Add(p, i)).Load())
		copy(dst[off+i:], w[:n-i])
	}
	return dst
}

// storeWords writes value at p with 8-byte atomic stores, zero-padding the
// last word. See storeValue.
func storeWords(p unsafe.Pointer, value []byte) {
	var w [8]byte
	for i := 0; i < len(value); i += 8 {
		n := copy(w[:], value[i:])
		clear(w[n:])
		(*atomic.Uint64)(unsafe.Add(p, i)).Store(binary.LittleEndian.Uint64(w[:]))
	}
}

// checksum computes a record's CRC over its info word, lengths, key and value.
// b holds the record from its first byte.
func checksum(b []byte, keyLen, valueLen int) uint32 {
	c := crc32.Update(0, castagnoli, b[0:8])
	vo := RecordHeaderSize + int(align8(uint64(keyLen)))
	if vo == RecordHeaderSize+keyLen {
		// A key of a multiple of 8 bytes: the value follows it at once,
		// so one call covers both (each call costs about 15 ns of set-up).
		return crc32.Update(c, castagnoli, b[16:vo+valueLen])
	}
	c = crc32.Update(c, castagnoli, b[16:RecordHeaderSize+keyLen])
	return crc32.Update(c, castagnoli, b[vo:vo+valueLen])
}

// DiskRecord is a record read back from storage and verified.
type DiskRecord struct {
	Address uint64
	Info    uint64
	Key     []byte
	Value   []byte
	Size    uint64
}

// Tombstone reports whether the record is a deletion.
func (d *DiskRecord) Tombstone() bool { return d.Info&FlagTombstone != 0 }

// Prev returns the address of the previous record in the hash chain.
func (d *DiskRecord) Prev() uint64 { return InfoPrev(d.Info) }

// errTruncatedRecord reports a buffer too short for the record it starts.
var errTruncatedRecord = errors.New("rskv/log: record extends past the data read")

// parseStatus says what parseRecord found.
type parseStatus int

const (
	parsedOK    parseStatus = iota
	parsedEmpty             // zero info word: unused end of page
	parsedShort             // need more bytes
	parsedBad               // not a valid record
)

// notEmpty says why b, the log bytes from addr up to at most the end of its
// page, where parseRecord found no record (parsedEmpty), is not the unused
// end of a page; "" if it is. The unused end of a page is all zeros, and a
// page never starts with one: the first record of a page is written at its
// offset 0 (the page is turned only for a record). So zeros at the start of
// a page, or zeros with data after them, are damage (a lost or zeroed
// block), not padding to skip.
func notEmpty(b []byte, addr, pageMask uint64) string {
	if addr&pageMask == 0 {
		return "a page without a record at its start (zeroed bytes)"
	}
	for i, c := range b {
		if c != 0 {
			return fmt.Sprintf("zeroed bytes followed by data at %#x", addr+uint64(i))
		}
	}
	return ""
}

// verifiedRecord decodes b, a whole record that parseRecord accepted
// before (the read cache holds only such copies): no checks.
func verifiedRecord(b []byte) DiskRecord {
	info := binary.LittleEndian.Uint64(b)
	lengths := binary.LittleEndian.Uint64(b[16:])
	keyLen, valueLen, _ := splitLengths(lengths)
	vo := RecordHeaderSize + int(align8(uint64(keyLen)))
	return DiskRecord{
		Info:  info,
		Key:   b[RecordHeaderSize : RecordHeaderSize+keyLen],
		Value: b[vo : vo+valueLen],
		Size:  uint64(len(b)),
	}
}

// parseRecord decodes the record at the start of b, verifying its marker,
// lengths and checksum. room is the space left in the page from the record's
// start; a record claiming more is invalid.
func parseRecord(b []byte, room uint64) (DiskRecord, parseStatus, string) {
	if len(b) < RecordHeaderSize {
		if len(b) >= 8 && binary.LittleEndian.Uint64(b) == 0 {
			return DiskRecord{}, parsedEmpty, ""
		}
		if room < RecordHeaderSize {
			// Too little room for a header: this can only be page padding.
			return DiskRecord{}, parsedEmpty, ""
		}
		return DiskRecord{}, parsedShort, ""
	}
	info := binary.LittleEndian.Uint64(b)
	if info == 0 {
		return DiskRecord{}, parsedEmpty, ""
	}
	if info>>markerShift != recordMarker {
		return DiskRecord{}, parsedBad, "bad record marker"
	}
	lengths := binary.LittleEndian.Uint64(b[16:])
	keyLen, valueLen, _ := splitLengths(lengths)
	size := sizeFromLengths(lengths)
	if keyLen == 0 || size > room {
		return DiskRecord{}, parsedBad, "record lengths out of range"
	}
	if uint64(len(b)) < size {
		return DiskRecord{}, parsedShort, ""
	}
	want := binary.LittleEndian.Uint32(b[12:])
	if got := checksum(b, keyLen, valueLen); got != want {
		return DiskRecord{}, parsedBad, "checksum mismatch"
	}
	vo := RecordHeaderSize + int(align8(uint64(keyLen)))
	return DiskRecord{
		Info:  info,
		Key:   b[RecordHeaderSize : RecordHeaderSize+keyLen],
		Value: b[vo : vo+valueLen],
		Size:  size,
	}, parsedOK, ""
}
