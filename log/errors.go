package log

import "github.com/cockroachdb/errors"

// ErrCorruption marks damage to stored data that recovery cannot explain as a
// torn write: a bad checksum before the durable end of the log, a segment of
// another store, a missing segment. Package rskv exports the same value.
var ErrCorruption = errors.New("rskv: data corruption")

// errNoRoom reports that the tail cannot move to a new page until the log
// makes room in memory (flush and evict); the caller must release its epoch
// protection before calling MakeRoom.
var errNoRoom = errors.New("rskv/log: no free page frame")

// corruptf returns an error marked ErrCorruption.
func corruptf(format string, args ...any) error {
	return errors.Mark(errors.Newf(format, args...), ErrCorruption)
}
