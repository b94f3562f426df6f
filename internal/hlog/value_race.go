//go:build race

package hlog

import "unsafe"

// storeValue writes an in-place update's value with word-sized atomic
// stores, which the race detector understands (see value_norace.go).
func storeValue(p unsafe.Pointer, value []byte) { storeWords(p, value) }
