package hashidx

// Entry is one index entry: a log address, the tag of the keys it covers,
// the tentative bit and the lock bit. The zero Entry is an empty slot.
//
// The lock bit is taken by a multi-key commit (a batch or a transaction in
// package rskv) for the duration of its commit: while it is set, no one
// else may change the entry, and readers wait for it to clear, so that no
// reader sees part of a commit. It is never written to a snapshot.
type Entry uint64

const (
	// AddressBits is the width of a log address.
	AddressBits = 48
	// AddressMask selects the address bits of an Entry.
	AddressMask = 1<<AddressBits - 1
	// TagBits is the width of a tag.
	TagBits = 14

	tagShift     = AddressBits
	tagMask      = 1<<TagBits - 1
	tentativeBit = Entry(1) << 62
	lockedBit    = Entry(1) << 63
	// movedBits, both bits at once (never otherwise together: only
	// non-tentative entries are locked), marks an entry of an old table
	// that a growth has frozen and moved to the new one (grow.go). The
	// entry keeps its tag and address, for a snapshot of the old table.
	movedBits = lockedBit | tentativeBit
)

// MakeEntry returns a non-tentative entry for address and tag.
func MakeEntry(address uint64, tag uint16) Entry {
	return Entry(address&AddressMask) | Entry(tag&tagMask)<<tagShift
}

// Address returns the log address the entry points at (0: none yet).
func (e Entry) Address() uint64 { return uint64(e) & AddressMask }

// Tag returns the entry's tag.
func (e Entry) Tag() uint16 { return uint16(e>>tagShift) & tagMask }

// Tentative reports whether the entry is still being inserted.
func (e Entry) Tentative() bool { return e&movedBits == tentativeBit }

// Locked reports whether a commit holds the entry (see Entry).
func (e Entry) Locked() bool { return e&movedBits == lockedBit }

// moved reports whether a growth froze the entry in an old table.
func (e Entry) moved() bool { return e&movedBits == movedBits }

// stored is the entry as a snapshot holds it: no lock, a moved entry's own
// value, and a tentative one as an empty slot.
func (e Entry) stored() Entry {
	if e.Tentative() {
		return 0
	}
	return e &^ movedBits
}

// WithLock returns the entry with its lock bit set.
func (e Entry) WithLock() Entry { return e | lockedBit }

// WithoutLock returns the entry with its lock bit clear.
func (e Entry) WithoutLock() Entry { return e &^ lockedBit }

// IsEmpty reports whether the entry is an empty slot.
func (e Entry) IsEmpty() bool { return e == 0 }

// WithAddress returns the entry with its address replaced.
func (e Entry) WithAddress(address uint64) Entry {
	return e&^AddressMask | Entry(address&AddressMask)
}

// TagOf returns the tag of a 64-bit key hash: its top TagBits bits, except
// that tag 0 is never used (hashes whose top bits are 0 get tag 1). An entry
// with tag 0 and address 0 would be the zero Entry, the empty slot, so the
// entry FindOrCreate makes for such a key would be invisible to Find and free
// for any other inserter to take; two keys sharing a tag is harmless, the
// log tells them apart.
func TagOf(hash uint64) uint16 { return max(1, uint16(hash>>(64-TagBits))&tagMask) }
