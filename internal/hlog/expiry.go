package hlog

import "sync/atomic"

// ExpiryPrefixSize is the size of the expiry that starts the stored value
// of a record flagged FlagExpiry.
const ExpiryPrefixSize = 8

// Expiry returns the expiry (Unix nanoseconds) of a record flagged
// FlagExpiry, read from the first eight bytes of its value, or 0 if the
// record has none. Such records are never changed in place, but the load is
// atomic anyway (the value's first word is 8-byte aligned), so that it is
// safe on any record in memory.
func (m MemRecord) Expiry() int64 {
	if m.r.info()&FlagExpiry == 0 {
		return 0
	}
	k, n, _ := splitLengths(m.r.lengthsWord().Load())
	if n < ExpiryPrefixSize {
		return 0
	}
	return int64((*atomic.Uint64)(m.r.valuePtr(k)).Load())
}
