package vfs

import (
	"io"
	"os"
)

// FS is the set of file-system operations rskv uses. Implementations must be
// safe for concurrent use.
//
// Both implementations in this package, Default and MemFS, follow the os
// package on Unix: errors match fs.ErrNotExist, fs.ErrExist and fs.ErrClosed
// (and syscall errnos such as syscall.ENOTDIR) under errors.Is, File.ReadAt
// returns io.EOF itself when it reads short, and writing past the end of a
// file fills the gap with zeros.
//
// Durability: File.Sync makes a file's contents durable, and nothing else.
// Creating, removing or renaming an entry (including a directory created by
// MkdirAll, and the file created by Lock) is durable only after SyncDir of the
// directory holding the entry; a rename between directories needs both. MemFS
// models exactly this, and no more, when it simulates a crash.
type FS interface {
	// Create creates the named file for reading and writing, truncating it if
	// it exists. Its directory must exist.
	Create(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing.
	OpenReadWrite(name string) (File, error)
	// Open opens an existing file for reading. Writing to it fails.
	Open(name string) (File, error)
	// Remove removes the named file or empty directory.
	Remove(name string) error
	// Rename atomically replaces newname with oldname. newname must not be a
	// directory.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and any missing parents. It succeeds if
	// the directory exists already.
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names (not paths) of the entries in dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes the named file or directory.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the creation, removal and renaming of entries in dir
	// durable. dir must be a directory.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the named file, creating it if needed.
	// It fails at once, rather than waiting, with an error matching ErrLocked
	// if another holder has it, even in the same process. The lock is
	// released by closing the returned io.Closer. It also fails with ErrLocked
	// while shared holders (LockShared) have the file.
	Lock(name string) (io.Closer, error)
	// LockShared takes a shared lock on the named file, which must exist: it
	// never creates it (an absent file is an error matching fs.ErrNotExist),
	// and it opens the file for reading only, so it changes nothing on disk.
	// Any number of shared holders, in this process or others, may hold it at
	// once; it fails at once with an error matching ErrLocked while an
	// exclusive holder (Lock) has it. Closing the returned io.Closer releases
	// it.
	LockShared(name string) (io.Closer, error)
}

// File is an open file. Reads and writes are positioned, so one File may be
// used by many goroutines at once. Once closed, every method fails with an
// error matching fs.ErrClosed.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Sync makes the file's contents durable (fdatasync or fsync). It does not
	// make the file's directory entry durable; see FS.SyncDir.
	Sync() error
	// Truncate changes the file's size, extending it with zeros if it grows.
	Truncate(size int64) error
	// Size returns the file's current size.
	Size() (int64, error)
}
