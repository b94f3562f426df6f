package log

import "github.com/rskv-go/rskv/internal/hlog"

// The record format (see the package documentation). The values are the
// engine's own (internal/hlog), so the format is defined in one place.
const (
	// RecordHeaderSize is the size of a record's fixed header.
	RecordHeaderSize = hlog.RecordHeaderSize
	// MaxSlack is the most unused value capacity a record can carry.
	MaxSlack = hlog.MaxSlack
	// FirstAddress is the address of the first record of a new log. Address
	// 0 means "no record" in hash chains and index entries.
	FirstAddress = hlog.FirstAddress
	// ExpiryPrefixSize is the size of the expiry that starts the stored
	// value of a record flagged FlagExpiry.
	ExpiryPrefixSize = hlog.ExpiryPrefixSize
	// SegmentHeaderSize is the space reserved for a segment's header; data
	// starts after it, aligned for direct I/O.
	SegmentHeaderSize = hlog.SegmentHeaderSize
)

// The flag bits of a record's info word.
const (
	// FlagTombstone marks a deletion.
	FlagTombstone = hlog.FlagTombstone
	// FlagInvalid marks a record that was never linked into the index (its
	// insert lost a race); scans skip it.
	FlagInvalid = hlog.FlagInvalid
	// FlagNewKey marks a record that made its key live: the live-key count
	// rises by one.
	FlagNewKey = hlog.FlagNewKey
	// FlagDelKey marks a tombstone that removed a live key: the count falls
	// by one.
	FlagDelKey = hlog.FlagDelKey
	// FlagCopy marks a record copied forward by compaction.
	FlagCopy = hlog.FlagCopy
	// FlagExpiry marks a record whose stored value starts with its expiry
	// (Unix nanoseconds, 8 bytes little-endian).
	FlagExpiry = hlog.FlagExpiry
	// FlagBatch marks a record written by a multi-key commit (a batch or a
	// transaction); recovery applies it only when it meets the commit's
	// FlagCommit record later in the log.
	FlagBatch = hlog.FlagBatch
	// FlagCommit marks the record that ends a multi-key commit. Its value is
	// the 8-byte little-endian address of the commit's first FlagBatch
	// record followed by the 8-byte little-endian change the commit made to
	// the live-key count.
	FlagCommit = hlog.FlagCommit
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
