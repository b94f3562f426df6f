package errorfs

import (
	"fmt"
	"strconv"
)

// Op is a kind of file-system operation, one for each method of vfs.FS and
// vfs.File (Open and OpenReadWrite share OpOpen).
type Op uint8

const (
	// OpCreate is FS.Create.
	OpCreate Op = iota
	// OpOpen is FS.Open and FS.OpenReadWrite.
	OpOpen
	// OpRead is File.ReadAt.
	OpRead
	// OpWrite is File.WriteAt.
	OpWrite
	// OpSync is File.Sync.
	OpSync
	// OpSyncDir is FS.SyncDir.
	OpSyncDir
	// OpTruncate is File.Truncate.
	OpTruncate
	// OpSize is File.Size.
	OpSize
	// OpRemove is FS.Remove.
	OpRemove
	// OpRename is FS.Rename.
	OpRename
	// OpMkdir is FS.MkdirAll.
	OpMkdir
	// OpList is FS.List.
	OpList
	// OpStat is FS.Stat.
	OpStat
	// OpLock is FS.Lock and FS.LockShared.
	OpLock
	// OpClose is File.Close and the Close of a lock returned by FS.Lock.
	OpClose

	numOps
)

var opNames = [numOps]string{
	OpCreate:   "create",
	OpOpen:     "open",
	OpRead:     "read",
	OpWrite:    "write",
	OpSync:     "sync",
	OpSyncDir:  "syncdir",
	OpTruncate: "truncate",
	OpSize:     "size",
	OpRemove:   "remove",
	OpRename:   "rename",
	OpMkdir:    "mkdir",
	OpList:     "list",
	OpStat:     "stat",
	OpLock:     "lock",
	OpClose:    "close",
}

// String returns the operation's lower-case name, such as "write" or
// "syncdir", or "Op(n)" for a value that names no operation.
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// AllOps returns every operation, in the order of their values.
func AllOps() []Op {
	ops := make([]Op, numOps)
	for i := range ops {
		ops[i] = Op(i)
	}
	return ops
}

// Call describes one operation about to run, as an Injector sees it.
type Call struct {
	// Op is the kind of operation.
	Op Op
	// Path is the name passed to the FS method or, for File methods, the name
	// the file was opened with (unchanged, not cleaned). For OpRename it is
	// the old name.
	Path string
	// NewPath is the new name for OpRename, and empty otherwise.
	NewPath string
	// Off is the offset for OpRead and OpWrite and the new size for
	// OpTruncate; zero otherwise.
	Off int64
	// Len is len(p) for OpRead and OpWrite; zero otherwise.
	Len int
}

// String describes the call, for instance "write db/000001.log [4096, +100)"
// or "rename db/tmp -> db/CURRENT".
func (c Call) String() string {
	switch c.Op {
	case OpRename:
		return fmt.Sprintf("%s %s -> %s", c.Op, c.Path, c.NewPath)
	case OpRead, OpWrite:
		return fmt.Sprintf("%s %s [%d, +%d)", c.Op, c.Path, c.Off, c.Len)
	case OpTruncate:
		return fmt.Sprintf("%s %s to %d", c.Op, c.Path, c.Off)
	default:
		return fmt.Sprintf("%s %s", c.Op, c.Path)
	}
}
