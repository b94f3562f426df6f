package rskv

// Minimal versions of the expiry helpers of expiry.go (branch v2), so that
// Batch.PutTTL and Txn.PutTTL build on this branch. The lead deletes this
// file when the branches merge; expiry.go has the real ones.

import (
	"encoding/binary"
	"time"

	"github.com/cockroachdb/errors"
)

// checkTTL validates a time to live.
func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return errors.Wrapf(ErrInvalidTTL, "ttl %v is not positive", ttl)
	}
	return nil
}

// deadline is the expiry, in Unix nanoseconds, of a record written now with ttl.
func (s *Store) deadline(ttl time.Duration) int64 { return time.Now().Add(ttl).UnixNano() }

// withExpiry appends the stored form of value with expiry expireAt to dst.
func withExpiry(dst, value []byte, expireAt int64) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(expireAt))
	return append(dst, value...)
}
