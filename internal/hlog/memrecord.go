package hlog

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/rskv-go/rskv/internal/prefetch"
)

// MemRecord is a record in a page frame. It is valid only while the caller
// holds the epoch protection under which it checked the address against
// Head; the frame is reused after that.
//
// Concurrency: the key and the flags set at creation never change once the
// record is published. Records at or above the safe read-only address may be
// changed in place; such a change holds the record's lock, and readers copy
// the value optimistically under the seqlock it implements.
type MemRecord struct {
	r memRecord
	// l and addr let an in-place update report the record dirty to the
	// log's delta tracking (nil l: a record outside a log, in tests).
	l    *Log
	addr uint64
}

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
			out = seqLoadValue(dst, m.r.valuePtr(k), n)
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
	storeLocked32(lock, (lock.Load()&^lockBit)+versionInc)
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

// LockedValue appends the value to dst; the caller holds the lock, so no
// one changes the value meanwhile and a plain copy is enough.
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
	return append(dst, unsafe.Slice((*byte)(m.r.valuePtr(k)), n)...)
}

// UpdateLocked replaces the value in place if it fits the record's capacity,
// returning false (and changing nothing) if it does not. The caller holds the
// lock.
//
// With writer-side capture on (Config.CaptureImages), an update of a
// record that an earlier delta batch covered appends the record's image to
// the log's capture buffer of its stripe (dirty.go): the record is hot in
// this core's cache, the copy and checksum cost a fraction of the cache
// miss the syncer would take on it later. It does so once per capture
// window (dirtyList.window): a record already captured in this window (a
// hot key) takes the dirty list. Otherwise, or when that buffer is
// full, the first in-place update of a record in a sync window marks it
// dirty (a bit in the lock word, which is never persisted nor checksummed)
// and pushes its address onto the log's striped dirty list, so that the
// next sync copies its image to the delta log. A record already dirty
// costs one load of its own lock word: nothing shared is touched.
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
	storeLocked64(lw, makeLengths(k, len(value), capacity-len(value)))
	if m.l != nil {
		lock := m.r.lockWord()
		v := lock.Load()
		if v&dirtyBit != 0 {
			// Listed already: a copy is pending, taken after this update,
			// so it covers it. Capturing now would be wrong, not just
			// wasted: the image could land in a later batch than that
			// copy (the buffers may have been swapped since the listing)
			// and be applied after the newer value (TestCaptureOrdering/capture-while-dirty).
			return true
		}
		d := &m.l.dirty
		if d.capCap > 0 && m.addr < d.captureBelow.Load() {
			// Once per window (dirtyList.window): a record captured in
			// this window already (a hot key) takes the dirty list, so
			// the sync copies it once more however often it changes.
			if w := d.window.Load() << capturedShift & capturedMask; v&capturedMask != w &&
				d.capture(m.addr, m.r, int(RecordSize(k, capacity))) {
				lock.Store(v&^capturedMask | w)
				return true
			}
		}
		// We hold the lock: nobody else changes the word (the syncer
		// clears the bit only by CAS on an unlocked word).
		lock.Store(v | dirtyBit)
		d.push(m.addr)
	}
	return true
}

// copyImage copies the record at r, size bytes, into dst (len(dst) == size)
// as a consistent image: copied under the seqlock, retried while an
// in-place update overlaps. With clearDirty the record's dirty bit is
// cleared before the copy, so an update that lands after it marks the
// record dirty again (and lists it) for the next sync window. The image's
// lock word is zeroed and its checksum stamped, as a flushed record's. It
// reports whether the record was dirty when copied.
func (r memRecord) copyImage(dst []byte, clearDirty bool) (dirty bool) {
	return r.copyImageIf(dst, clearDirty, false)
}

// copyImageIf is copyImage; with onlyDirty it copies nothing and returns
// false if the record is not dirty: it has not changed since the image that
// cleared its bit (a listed record whose image a truncation already took,
// or a record listed twice).
func (r memRecord) copyImageIf(dst []byte, clearDirty, onlyDirty bool) (dirty bool) {
	lock := r.lockWord()
	// The bit is cleared at most once. Once it is, a writer that updates
	// the record before the copy is consistent sees it clean and captures
	// its image into the next batch or lists the record there (setting the
	// bit again); a retry must neither clear that bit (the next batch's
	// copy, which must follow the captured image, would be skipped) nor
	// skip the copy because the bit is now clear (this batch owes the value
	// the bit stood for).
	cleared := false
	for spins := 0; ; spins++ {
		v := lock.Load()
		if v&lockBit != 0 {
			if spins > 16 {
				runtime.Gosched()
			}
			continue
		}
		dirty = cleared || v&dirtyBit != 0
		if onlyDirty && !dirty {
			return false
		}
		if clearDirty && !cleared && v&dirtyBit != 0 {
			if !lock.CompareAndSwap(v, v&^dirtyBit) {
				continue
			}
			v &^= dirtyBit
			cleared = true
		}
		for i := 0; i+8 <= len(dst); i += 8 {
			binary.LittleEndian.PutUint64(dst[i:], (*atomic.Uint64)(unsafe.Add(r.p, i)).Load())
		}
		if lock.Load() == v {
			break
		}
	}
	stampImage(dst)
	return dirty
}

// clearDirty clears the record's dirty bit (see copyImage).
func (r memRecord) clearDirty() {
	lock := r.lockWord()
	for {
		v := lock.Load()
		if v&dirtyBit == 0 {
			return
		}
		if v&lockBit == 0 && lock.CompareAndSwap(v, v&^dirtyBit) {
			return
		}
		runtime.Gosched()
	}
}

// stampImage zeroes the lock word of the record image in b and stamps its
// checksum (the one checksum computes). b is the caller's copy, so its lock
// and checksum word can hold a copy of the info word meanwhile: then info,
// lengths and key are one run of bytes, and with a key of a multiple of 8
// bytes the value follows at once, so the checksum takes one or two
// crc32.Update calls instead of three (each call costs about 15 ns of
// set-up; truncations stamp every record of the mutable region).
func stampImage(b []byte) {
	k, v, _ := splitLengths(binary.LittleEndian.Uint64(b[16:]))
	copy(b[8:16], b[0:8])
	vo := RecordHeaderSize + int(align8(uint64(k)))
	var c uint32
	if vo == RecordHeaderSize+k {
		c = crc32.Update(0, castagnoli, b[8:vo+v])
	} else {
		c = crc32.Update(crc32.Update(0, castagnoli, b[8:RecordHeaderSize+k]), castagnoli, b[vo:vo+v])
	}
	clear(b[8:12])
	binary.LittleEndian.PutUint32(b[12:], c)
}

// Prefetch starts fetching the record's first three cache lines. A reader
// calls it before it reads the record's header: a record longer than the
// rest of its first line (a 100-byte value makes a 136-byte record, three
// lines) then pays about one memory latency, not the header's and then the
// value's one after the other (the value's address depends on the key
// length in the header). Lines past the page's end are harmless: a
// prefetch never faults and changes nothing.
func (m MemRecord) Prefetch() { prefetch.Lines3(uintptr(m.r.p)) }
