//go:build !race

package hlog

import "unsafe"

// storeValue writes an in-place update's value. The writer holds the
// record's lock: the CAS that took it and the store that releases it order
// these plain stores on every architecture Go supports, and readers detect
// a copy that overlapped them through the lock word's version. So a plain
// copy is correct, and much cheaper than word-sized atomic stores (each an
// XCHG on amd64). The race detector cannot see that protocol, so under
// -race storeValue uses atomic stores (value_race.go).
func storeValue(p unsafe.Pointer, value []byte) {
	copy(unsafe.Slice((*byte)(p), len(value)), value)
}
