package hlog

import "github.com/cockroachdb/errors"

// ErrCorruption marks damage to stored data that recovery cannot explain as a
// torn write: a bad checksum before the durable end of the log, a segment of
// another store, a missing segment. Package rskv exports the same value.
var ErrCorruption = errors.New("rskv: data corruption")

// ErrReadOnly is returned by every write to a log opened with
// Config.ReadOnly (a bug in the caller: a read-only store never appends).
// Package rskv exports the same value for writes to a ReadOnly store.
var ErrReadOnly = errors.New("rskv: store is open read-only")

// errNoRoom reports that the tail cannot move to a new page until the log
// makes room in memory (flush and evict); the caller must release its epoch
// protection before calling MakeRoom.
var errNoRoom = errors.New("rskv/log: no free page frame")

// corruptionError marks its cause as ErrCorruption. errors.Mark alone is not
// enough: its mark is visible to cockroachdb's errors.Is only, while users
// test with the standard errors.Is, which sees the Is method below.
type corruptionError struct{ cause error }

func (e *corruptionError) Error() string { return e.cause.Error() }

// Unwrap keeps the cause (an I/O error, a checksum report) reachable.
func (e *corruptionError) Unwrap() error { return e.cause }

// Is reports that the error is ErrCorruption, for both errors packages.
func (e *corruptionError) Is(target error) bool { return target == ErrCorruption }

// MarkCorruption returns err marked as ErrCorruption, for the standard
// errors.Is as well as cockroachdb's. It returns nil for nil.
func MarkCorruption(err error) error {
	if err == nil {
		return nil
	}
	return &corruptionError{cause: err}
}

// corruptf returns an error marked ErrCorruption.
func corruptf(format string, args ...any) error {
	return MarkCorruption(errors.NewWithDepthf(1, format, args...))
}
