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
	return MarkCorruption(errors.Newf(format, args...))
}

// MarkCorruption returns err marked as ErrCorruption, keeping its message.
// The mark is seen by the standard library's errors.Is as well as by
// cockroachdb/errors.Is: a bare errors.Mark is visible only to the latter,
// since its wrapper has no Is method.
func MarkCorruption(err error) error {
	if err == nil {
		return nil
	}
	return &corruptionError{cause: errors.Mark(err, ErrCorruption)}
}

type corruptionError struct{ cause error }

func (e *corruptionError) Error() string        { return e.cause.Error() }
func (e *corruptionError) Unwrap() error        { return e.cause }
func (e *corruptionError) Is(target error) bool { return target == ErrCorruption }
