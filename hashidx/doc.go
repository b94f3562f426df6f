// Package hashidx describes rskv's hash index and exports its read-only
// pieces: the entry geometry, the tag of a key hash, the occupancy figures and
// the size bounds of an index snapshot.
//
// The index itself is in internal/hashidx: raw entry access (load,
// compare-and-swap, the entry lock bit) can corrupt a live store if misused,
// so package rskv is its only writer.
//
// # The index
//
// The index is a latch-free table from key hash to the log address of the
// newest record whose key has that hash, after FASTER's design (SIGMOD 2018).
// It is an array of 64-byte buckets, one cache line each. A bucket holds seven
// entries and a link to an overflow bucket. An entry is one uint64:
//
//	 63    62    61 ........ 48   47 ............... 0
//	+-----+-----+---------------+---------------------+
//	| lck | tnt |   tag (14)    |   address (48)      |
//	+-----+-----+---------------+---------------------+
//
// The low bits of a key's 64-bit hash choose the bucket; its top TagBits bits
// are the tag (TagOf), so keys in one bucket are told apart without touching
// the log. Keys with the same bucket and tag share an entry: the entry points
// at the newest of their records and the records chain to older ones through
// their previous-address field (see package log). All updates are
// compare-and-swap on single entries. The tentative bit (tnt) makes two
// goroutines inserting the same new tag at once unable to both succeed; the
// lock bit (lck) is held by a multi-key commit (a batch or a transaction)
// while it installs its records, so that no reader sees part of a commit.
//
// # Snapshots
//
// A checkpoint holds a snapshot of the index: little-endian words, sparse.
// The main buckets come in groups of 64, each group a 64-bit mask of its
// non-empty buckets followed by those buckets (64 bytes each); then every
// overflow bucket. Tentative entries and lock bits are never written.
// SnapshotSize bounds a snapshot's size from its shape, so that a reader can
// refuse a damaged or forged shape before allocating for it.
package hashidx
