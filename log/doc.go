// Package log describes rskv's hybrid log and its on-disk format, and exports
// the read-only pieces a reader of a store's files needs: the record format's
// constants, the file names, and the errors the log returns.
//
// The log itself (its page frames, tail allocation, the record seqlock,
// flushing and recovery) is in internal/hlog: its protocol can corrupt a live
// store if misused, so package rskv is its only writer. Package log/vfs, the
// file-system interface below the log, is public: Options.FS takes one, and
// log/vfs/errorfs injects faults into it.
//
// # The hybrid log
//
// The log is one address space (FASTER, SIGMOD 2018) whose tail is in memory
// and mutable, whose middle is in memory and read-only, and whose beginning
// is on disk in segment files:
//
//	begin        head          read-only              tail
//	  |  on disk   |  in memory, read-only  |  in memory, mutable  |
//
// Records at or above the read-only address may be updated in place; below
// it they never change. Every key's versions form a chain through the
// records' previous-address fields, newest first, and the hash index (see
// package hashidx) points at the newest record of each chain. Address 0 means
// "no record"; the first record of a new log is at FirstAddress.
//
// # Records
//
// A record is laid out in the log, in memory and on disk alike, as:
//
//	offset size
//	0      8    info: previous address (48 bits) | flags (8) | marker (8)
//	8      4    lock: seqlock word and dirty bit (not checksummed)
//	12     4    crc: CRC-32C of info, lengths, key and value (set at flush)
//	16     4    value length
//	20     2    key length
//	22     2    slack: value capacity minus value length (at most MaxSlack)
//	24     ...  key, padded to 8 bytes
//	...    ...  value, capacity padded to 8 bytes
//
// RecordHeaderSize is the fixed header; RecordSize gives a record's whole
// size. Records are 8-byte aligned and never span a page. A zero info word
// marks the unused end of a page. All multi-byte fields are little-endian.
// The Flag constants are the info word's flag bits; InfoPrev extracts the
// previous address. A record flagged FlagExpiry stores its expiry (Unix
// nanoseconds, ExpiryPrefixSize bytes) before the user's value.
//
// # Files
//
// The on-disk log is a sequence of segment files (SegmentName), each holding
// a fixed-size, aligned stretch of the address space: segment i holds
// addresses [i<<segmentBits, (i+1)<<segmentBits) at file offset
// SegmentHeaderSize plus the address's offset within the segment. A segment
// starts with a framed header (magic, version, store id, segment index and
// geometry, CRC-32C) and a durable mark with its own checksum, so a file from
// another store or another configuration is refused rather than misread, and
// a torn write of the mark is ignored rather than trusted.
//
// The delta log (DeltaName) makes in-place updates in the mutable region
// durable without flushing it: each sync appends one checksummed batch of
// record images, and recovery writes them back at their addresses before
// replaying the log. docs/durability.md describes its format and rules.
//
// Damage that recovery cannot explain as a torn write is reported as
// ErrCorruption, never returned as data.
//
// The package name hides the standard library's log; importers may name it
// rlog.
package log
