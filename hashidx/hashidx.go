package hashidx

import "github.com/rskv-go/rskv/internal/hashidx"

// The geometry of an index entry (see the package documentation). These are
// the values internal/hashidx uses (hashidx_test.go pins that they agree).
const (
	// AddressBits is the width of a log address.
	AddressBits = 48
	// AddressMask selects the address bits of an entry.
	AddressMask = 1<<AddressBits - 1
	// TagBits is the width of a tag.
	TagBits = 14
)

// Stats describes an index's occupancy: main buckets, overflow buckets in use,
// non-empty entries and bytes. It is plain data.
type Stats = hashidx.Stats

// TagOf returns the tag of a 64-bit key hash: its top TagBits bits, except
// that tag 0 is never used (hashes whose top bits are 0 get tag 1).
func TagOf(hash uint64) uint16 { return hashidx.TagOf(hash) }

// SnapshotSize returns the least and the greatest size in bytes of a snapshot
// of an index with the given numbers of buckets and overflow buckets (all main
// buckets empty, all full).
func SnapshotSize(buckets, overflow int) (least, most int64) {
	return hashidx.SnapshotSize(buckets, overflow)
}
