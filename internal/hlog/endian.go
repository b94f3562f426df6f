package hlog

import "unsafe"

// littleEndian reports whether this machine stores integers little-endian.
// The in-memory record words are written natively and flushed as they are,
// and the on-disk format is little-endian, so rskv refuses other machines.
func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}
