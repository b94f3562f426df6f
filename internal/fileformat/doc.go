// Package fileformat is the one home of what an rskv store directory holds:
// the names of its files and the framed header each file kind starts with.
//
// Names. A store directory holds
//
//	LOCK                         the lock file (never read or written)
//	STORE                        the manifest (package manifest)
//	STORE.tmp                    a manifest being replaced
//	seg-<16 hex digits>.log      log segment i (internal/hlog)
//	checkpoint-<16 hex>.ckpt     checkpoint id (package checkpoint)
//	checkpoint-<16 hex>.ckpt.tmp a checkpoint being written
//
// A new kind of file (a delta log, a backup) gets its Numbered name and its
// Kind here, next to the others, so that no two kinds can collide and every
// package that lists the directory knows them all.
//
// Framed headers. The manifest, segments and checkpoints start with the same
// frame, all integers little endian:
//
//	[0, 8)      magic: eight bytes naming the file kind
//	[8, 12)     format version
//	[12, 16)    length: the size the header occupies in the file
//	[16, 24)    store id: the store the file belongs to
//	[24, 24+n)  the kind's own fields (n = Kind.BodySize)
//	[24+n, +4)  CRC-32C (Castagnoli) of bytes [0, 24+n)
//
// A file whose magic, version, length or checksum is wrong is refused, never
// misread: the caller decides what a bad header means (corruption, a blank
// segment left by a crash, a checkpoint to skip).
package fileformat
