// Package hashidx is rskv's hash index: a latch-free table from key hash to
// the log address of the newest record whose key has that hash, after
// FASTER's design.
//
// The table is an array of 64-byte buckets, one cache line each. A bucket
// holds seven entries and a link to an overflow bucket. An entry is one
// uint64:
//
//	 63    62    61 ........ 48   47 ............... 0
//	+-----+-----+---------------+---------------------+
//	| lck | tnt |   tag (14)    |   address (48)      |
//	+-----+-----+---------------+---------------------+
//
// (lck is the lock bit a multi-key commit holds; see Entry.)
//
// The low bits of a key's 64-bit hash choose the bucket; its top 14 bits are
// the tag, so keys in one bucket are told apart without touching the log. Keys
// with the same bucket and tag share an entry: the entry points at the newest
// of their records and the records chain to older ones through their
// previous-address field. The log resolves such collisions by comparing keys.
//
// All updates are compare-and-swap on single entries; there is no lock on the
// lookup or update path. Creating an entry for a new tag uses FASTER's
// tentative bit (tnt) so that two goroutines inserting the same new tag at
// once cannot both succeed: each inserts its entry tentatively, rescans the
// bucket chain, and backs off if it finds another entry with the tag.
//
// The index grows online (grow.go): Grow doubles the table, splitting each
// bucket by the next hash bit, while operations go on and split the part of
// the table they need themselves. A growth freezes the old table's words as
// it copies them (lck and tnt together mark a moved entry, a high bit in the
// link word a moved bucket), so that no writer still holding an old slot can
// change it unseen.
//
// Buckets hold only integers, so the garbage collector never scans the table.
//
// The package is internal because raw entry access (Load, CompareAndSwap,
// MakeEntry, the entry lock bit) can corrupt a live store if misused; package
// rskv is its only writer. The public package hashidx describes the index and
// exports its read-only pieces (Stats, SnapshotSize).
package hashidx
