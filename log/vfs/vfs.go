package vfs

import (
	"io"
	"os"
)

// FS is the set of file-system operations rskv uses. Implementations must be
// safe for concurrent use.
type FS interface {
	// Create creates the named file for reading and writing, truncating it if
	// it exists.
	Create(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing.
	OpenReadWrite(name string) (File, error)
	// Open opens an existing file for reading.
	Open(name string) (File, error)
	// Remove removes the named file.
	Remove(name string) error
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and any missing parents.
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names (not paths) of the entries in dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes the named file.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the creation, removal and renaming of entries in dir
	// durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the named file, creating it if needed.
	// It fails at once, rather than waiting, if another holder has it. The lock
	// is released by closing the returned io.Closer.
	Lock(name string) (io.Closer, error)
}

// File is an open file. Reads and writes are positioned, so one File may be
// used by many goroutines at once.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Sync makes the file's contents durable (fdatasync or fsync).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Size returns the file's current size.
	Size() (int64, error)
}
