// Package compaction tests that rskv keeps its disk use bounded: compaction
// reclaims dead records while readers and writers run, never loses an update,
// keeps deletes deleted, and survives a reopen.
package compaction
