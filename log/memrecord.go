package log

import (
	"bytes"
	"runtime"
	"unsafe"
)

// MemRecord is a record in a page frame. It is valid only while the caller
// holds the epoch protection under which it checked the address against
// Head; the frame is reused after that.
//
// Concurrency: the key and the flags set at creation never change once the
// record is published. Records at or above the safe read-only address may be
// changed in place; such a change holds the record's lock, and readers copy
// the value optimistically under the seqlock it implements.
type MemRecord struct{ r memRecord }

// Info returns the record's info word.
func (m MemRecord) Info() uint64 { return m.r.info() }

// Prev returns the address of the previous record in the hash chain.
func (m MemRecord) Prev() uint64 { return InfoPrev(m.r.info()) }

// Tombstone reports whether the record marks a deletion.
func (m MemRecord) Tombstone() bool { return m.r.info()&FlagTombstone != 0 }

// Key returns the record's key, aliasing the page frame.
func (m MemRecord) Key() []byte {
	k, _, _ := splitLengths(m.r.lengthsWord().Load())
	return m.r.key(k)
}

// KeyEquals reports whether the record's key is key.
func (m MemRecord) KeyEquals(key []byte) bool {
	k, _, _ := splitLengths(m.r.lengthsWord().Load())
	return k == len(key) && bytes.Equal(m.r.key(k), key)
}

// Size returns the bytes the record occupies in the log.
func (m MemRecord) Size() uint64 { return sizeFromLengths(m.r.lengthsWord().Load()) }

// ValueLen returns the current value length.
func (m MemRecord) ValueLen() int {
	_, v, _ := splitLengths(m.r.lengthsWord().Load())
	return v
}

// MarkInvalid flags a record whose insertion into the index failed.
func (m MemRecord) MarkInvalid() { m.r.infoWord().Or(FlagInvalid) }

// AppendValue appends the record's value to dst. stable says the record is
// below the safe read-only address, so no one can be changing it and a plain
// copy is enough; otherwise the copy is retried until it is consistent.
func (m MemRecord) AppendValue(dst []byte, stable bool) []byte {
	if stable {
		k, v, _ := splitLengths(m.r.lengthsWord().Load())
		if v == 0 {
			// An empty value may end exactly at the page's end, where even
			// forming the pointer is invalid (checkptr).
			return dst
		}
		return append(dst, unsafe.Slice((*byte)(m.r.valuePtr(k)), v)...)
	}
	lock := m.r.lockWord()
	for spins := 0; ; spins++ {
		v1 := lock.Load()
		if v1&lockBit != 0 {
			if spins > 16 {
				runtime.Gosched()
			}
			continue
		}
		k, n, _ := splitLengths(m.r.lengthsWord().Load())
		out := dst
		if n > 0 {
			out = loadValue(dst, m.r.valuePtr(k), n)
		}
		if lock.Load() == v1 {
			return out
		}
	}
}

// Lock takes the record's exclusive lock for an in-place change. It returns
// false, without the lock, if the record is sealed: a newer version of it
// exists or is being written, and the caller must retry from the index.
func (m MemRecord) Lock() bool {
	lock := m.r.lockWord()
	for spins := 0; ; spins++ {
		v := lock.Load()
		if v&sealBit != 0 {
			return false
		}
		if v&lockBit == 0 && lock.CompareAndSwap(v, v|lockBit) {
			return true
		}
		if spins > 16 {
			runtime.Gosched()
		}
	}
}

// Unlock releases the lock, publishing a new version to readers.
func (m MemRecord) Unlock() {
	lock := m.r.lockWord()
	lock.Store((lock.Load() &^ lockBit) + versionInc)
}

// UnlockSealed releases the lock and seals the record: from now on it is
// never changed in place, so a copy of its value can safely replace it.
func (m MemRecord) UnlockSealed() {
	lock := m.r.lockWord()
	lock.Store((lock.Load() &^ lockBit) + versionInc | sealBit)
}

// Seal seals an unlocked record. It returns false if it was already sealed.
func (m MemRecord) Seal() bool {
	if !m.Lock() {
		return false
	}
	m.UnlockSealed()
	return true
}

// LockedValue appends the value to dst; the caller holds the lock.
//
// An empty value's pointer is never formed: for a record with no value
// capacity at the very end of its page (a tombstone, say) it would point
// one past the end of the page frame, which Go forbids (checkptr aborts;
// the collector could take it for a pointer into the next object).
func (m MemRecord) LockedValue(dst []byte) []byte {
	k, n, _ := splitLengths(m.r.lengthsWord().Load())
	if n == 0 {
		return dst
	}
	return loadValue(dst, m.r.valuePtr(k), n)
}

// UpdateLocked replaces the value in place if it fits the record's capacity,
// returning false (and changing nothing) if it does not. The caller holds the
// lock.
func (m MemRecord) UpdateLocked(value []byte) bool {
	lw := m.r.lengthsWord()
	k, n, s := splitLengths(lw.Load())
	capacity := n + s
	if len(value) > capacity || capacity-len(value) > MaxSlack {
		return false
	}
	if len(value) > 0 {
		storeValue(m.r.valuePtr(k), value)
	}
	lw.Store(makeLengths(k, len(value), capacity-len(value)))
	return true
}
