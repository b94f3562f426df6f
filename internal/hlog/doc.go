// Package hlog is rskv's hybrid log: one address space whose tail is in
// memory and mutable, whose middle is in memory and read-only, and whose
// beginning is on disk in segment files (FASTER, SIGMOD 2018).
//
// The pieces, one file each:
//
//   - hlog.go: the Log, its page frames and address boundaries, latch-free
//     tail allocation and page turns, in-memory and on-disk record access.
//   - record.go, memrecord.go: the record format (info word with the hash
//     chain link and flags, seqlock word, checksum, lengths, key, value) and
//     the in-place update protocol under a record's seqlock.
//   - maint.go: moving the read-only and head addresses under epoch
//     protection, flushing with checksums, the durable mark, group commit,
//     moving the begin address.
//   - segment.go: segment files (header, durable mark, positioned and
//     optionally memory-mapped reads) and their table.
//   - recover.go: the recovery scan and the torn-tail-or-corruption rules.
//   - scan.go: reading a range of the log in order, from memory and disk.
//
// The hash index (internal/hashidx) and the store's operations (package
// rskv) sit on top; package vfs (log/vfs) is the file-system interface
// below.
//
// The package is internal because its protocol (the record seqlock's
// Lock/UpdateLocked/UnlockSealed, Allocate/TurnPage/MakeRoom frame
// management) can corrupt a live store if misused; package rskv is its only
// writer. The public package log (github.com/rskv-go/rskv/log) describes the
// hybrid log and its on-disk format and exports the read-only pieces a
// reader of a store's files needs.
package hlog
