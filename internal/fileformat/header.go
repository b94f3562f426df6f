package fileformat

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/cockroachdb/errors"
)

// BodyOffset is where a kind's own fields start in its header.
const BodyOffset = 24

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrBadHeader marks a header that fails validation (magic, version,
// length, checksum).
var ErrBadHeader = errors.New("rskv: bad file header")

// Kind describes the framed header of one kind of file.
type Kind struct {
	// What names the kind in messages ("STORE file", "segment").
	What string
	// Magic is the eight bytes the file starts with.
	Magic string
	// Version is the format version written; OldestVersion (0: Version) is
	// the oldest one still read. Decode accepts [OldestVersion, Version]
	// and returns which it found.
	Version, OldestVersion uint32
	// Length is the value of the length field: the bytes the header
	// occupies in the file (at least Size; a segment reserves a block).
	Length uint32
	// BodySize is the size of the kind's own fields.
	BodySize int
}

var (
	// Manifest is the STORE file's header (the whole file). Version 2: the
	// log may hold records with an expiry and the records of multi-key
	// commits (batches, transactions), which version-1 code would misread,
	// so a version-1 binary must refuse the store; version 1 is still read
	// and is upgraded by the first read-write open.
	Manifest = Kind{What: "STORE file", Magic: "RSKVSTOR", Version: 2, OldestVersion: 1, Length: 68, BodySize: 40}
	// SegmentHeader is a log segment's header, at the start of a reserved
	// 4096-byte block (the segment's durable mark lives at offset 64 of it).
	SegmentHeader = Kind{What: "segment", Magic: "RSKVSEG\x00", Version: 1, Length: 4096, BodySize: 16}
	// CheckpointHeader is a checkpoint file's header.
	CheckpointHeader = Kind{What: "checkpoint", Magic: "RSKVCKPT", Version: 1, Length: 128, BodySize: 100}
)

// Size is the number of header bytes the frame covers: prefix, body and CRC.
func (k Kind) Size() int { return BodyOffset + k.BodySize + 4 }

// Header is the framed part of a decoded header.
type Header struct {
	Version uint32
	Length  uint32
	StoreID uint64
}

// Seal frames b, whose body (b[BodyOffset:BodyOffset+BodySize]) the caller
// has filled in: it writes the magic, version, length and store id in front
// and the CRC-32C after. len(b) must be at least Size.
func (k Kind) Seal(b []byte, storeID uint64) {
	copy(b, k.Magic)
	binary.LittleEndian.PutUint32(b[8:], k.Version)
	binary.LittleEndian.PutUint32(b[12:], k.Length)
	binary.LittleEndian.PutUint64(b[16:], storeID)
	end := BodyOffset + k.BodySize
	binary.LittleEndian.PutUint32(b[end:], crc32.Checksum(b[:end], castagnoli))
}

// Decode checks the frame of the header in b and returns it; the body is
// b[BodyOffset:BodyOffset+BodySize]. Errors match ErrBadHeader and say what
// is wrong, in this order: magic, version, size and length, checksum.
func (k Kind) Decode(b []byte) (Header, error) {
	if len(b) < 8 || string(b[:8]) != k.Magic {
		return Header{}, errors.Wrapf(ErrBadHeader, "bad magic: not an rskv %s", k.What)
	}
	if len(b) < 12 {
		return Header{}, errors.Wrapf(ErrBadHeader, "%s header is %d bytes, want %d", k.What, len(b), k.Size())
	}
	oldest := k.OldestVersion
	if oldest == 0 {
		oldest = k.Version
	}
	h := Header{Version: binary.LittleEndian.Uint32(b[8:])}
	if h.Version < oldest || h.Version > k.Version {
		return h, errors.Wrapf(ErrBadHeader, "%s format version %d is not supported (want %d)", k.What, h.Version, k.Version)
	}
	if len(b) < k.Size() {
		return h, errors.Wrapf(ErrBadHeader, "%s header is %d bytes, want %d", k.What, len(b), k.Size())
	}
	if h.Length = binary.LittleEndian.Uint32(b[12:]); h.Length != k.Length {
		return h, errors.Wrapf(ErrBadHeader, "%s header says it is %d bytes, want %d", k.What, h.Length, k.Length)
	}
	end := BodyOffset + k.BodySize
	if crc32.Checksum(b[:end], castagnoli) != binary.LittleEndian.Uint32(b[end:]) {
		return h, errors.Wrapf(ErrBadHeader, "%s header checksum mismatch", k.What)
	}
	h.StoreID = binary.LittleEndian.Uint64(b[16:])
	return h, nil
}
