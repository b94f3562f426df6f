package rskv

import (
	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/hlog"
)

// Errors returned by Store methods. Match them with errors.Is: the errors rskv
// returns wrap these with context (the key's length, the option's name, the
// file and address of a damaged record).
var (
	// ErrNotFound is returned by Get and AppendValue when the key has no live
	// value.
	ErrNotFound = errors.New("rskv: key not found")
	// ErrClosed is returned by every method of a closed Store except Close.
	ErrClosed = errors.New("rskv: store is closed")
	// ErrAlreadyRunning is returned by StartBackground when the background
	// services already run.
	ErrAlreadyRunning = errors.New("rskv: background services already running")
	// ErrEmptyKey is returned when a key has length zero.
	ErrEmptyKey = errors.New("rskv: empty key")
	// ErrKeyTooLarge is returned when a key is longer than MaxKeySize.
	ErrKeyTooLarge = errors.New("rskv: key too large")
	// ErrValueTooLarge is returned when a record would not fit in one log page.
	ErrValueTooLarge = errors.New("rskv: value too large")
	// ErrInvalidOptions is returned by Open when an option is out of range or
	// conflicts with the store already on disk.
	ErrInvalidOptions = errors.New("rskv: invalid options")
	// ErrCorruption is returned when stored data fails its checksum or is
	// otherwise damaged in a way recovery cannot explain as a torn write.
	// It is the log package's value, so the standard errors.Is matches the
	// errors the log returns.
	ErrCorruption = hlog.ErrCorruption
	// ErrLocked is returned by Open when the directory is held: by another
	// writer (in this process or another), by read-only opens when a writer
	// opens, or by a writer when a read-only open is attempted.
	ErrLocked = errors.New("rskv: store directory is in use")
	// ErrReadOnly is returned by every write (Put, Delete, RMW, Checkpoint,
	// Compact, StartBackground) to a store opened with Options.ReadOnly.
	// It is the log package's value, like ErrCorruption.
	ErrReadOnly = hlog.ErrReadOnly
	// ErrConflict is returned by Update when its transaction kept
	// conflicting with concurrent writes and it gave up (see MaxTxnAttempts).
	ErrConflict = errors.New("rskv: transaction conflict")
	// ErrInvalidTTL is returned by PutTTL (of the Store, a Batch or a Txn)
	// when the time to live is not positive.
	ErrInvalidTTL = errors.New("rskv: invalid TTL")
)

// MaxKeySize is the largest key, in bytes, that a Store accepts.
const MaxKeySize = 65535
