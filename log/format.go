package log

import "github.com/rskv-go/rskv/internal/hlog"

// The record format (see the package documentation). These are the values
// internal/hlog uses (format_test.go pins that they agree).
const (
	// RecordHeaderSize is the size of a record's fixed header.
	RecordHeaderSize = 24
	// MaxSlack is the most unused value capacity a record can carry.
	MaxSlack = 1<<16 - 1
	// FirstAddress is the address of the first record of a new log. Address
	// 0 means "no record" in hash chains and index entries.
	FirstAddress = 64
	// ExpiryPrefixSize is the size of the expiry that starts the stored
	// value of a record flagged FlagExpiry.
	ExpiryPrefixSize = 8
	// SegmentHeaderSize is the space reserved for a segment's header; data
	// starts after it, aligned for direct I/O.
	SegmentHeaderSize = 4096
)

// The flag bits of a record's info word.
const (
	// FlagTombstone marks a deletion.
	FlagTombstone = uint64(1) << 48
	// FlagInvalid marks a record that was never linked into the index (its
	// insert lost a race); scans skip it.
	FlagInvalid = uint64(1) << 49
	// FlagNewKey marks a record that made its key live: the live-key count
	// rises by one.
	FlagNewKey = uint64(1) << 50
	// FlagDelKey marks a tombstone that removed a live key: the count falls
	// by one.
	FlagDelKey = uint64(1) << 51
	// FlagCopy marks a record copied forward by compaction.
	FlagCopy = uint64(1) << 52
	// FlagExpiry marks a record whose stored value starts with its expiry
	// (Unix nanoseconds, 8 bytes little-endian).
	FlagExpiry = uint64(1) << 53
	// FlagBatch marks a record written by a multi-key commit (a batch or a
	// transaction); recovery applies it only when it meets the commit's
	// FlagCommit record later in the log.
	FlagBatch = uint64(1) << 54
	// FlagCommit marks the record that ends a multi-key commit. Its value is
	// the 8-byte little-endian address of the commit's first FlagBatch
	// record followed by the 8-byte little-endian change the commit made to
	// the live-key count.
	FlagCommit = uint64(1) << 55
)

// Errors the log returns. They are the values package rskv exports under the
// same names, so errors.Is matches either.
var (
	// ErrCorruption marks damage to stored data that recovery cannot explain
	// as a torn write: a bad checksum before the durable end of the log, a
	// segment of another store, a missing segment.
	ErrCorruption = hlog.ErrCorruption
	// ErrReadOnly is returned by every write to a log opened read-only.
	ErrReadOnly = hlog.ErrReadOnly
)

// RecordSize returns the bytes a record with this key length and value
// capacity occupies in the log.
func RecordSize(keyLen, valueCap int) uint64 { return hlog.RecordSize(keyLen, valueCap) }

// InfoPrev returns the previous address (the next older record of the same
// hash chain, 0 for none) in a record's info word.
func InfoPrev(info uint64) uint64 { return hlog.InfoPrev(info) }

// SegmentName returns the file name of segment i in a store directory.
func SegmentName(i uint64) string { return hlog.SegmentName(i) }

// DeltaName returns the file name of delta-log generation gen in a store
// directory.
func DeltaName(gen uint64) string { return hlog.DeltaName(gen) }
