// Package manifest reads and writes the STORE file: the small record of what
// shapes a store on disk (its identity, page and segment geometry, index
// size, hash function) and of the log's begin address, which compaction moves.
//
// The file is replaced atomically: written to a temporary name, synced,
// renamed over the old one, and the directory synced. It carries a magic
// number, a format version and a CRC-32C, so a damaged file is reported as
// corruption instead of being misread.
package manifest
