package fileformat

import (
	"strconv"
	"strings"
)

const (
	// LockFile is the lock file: a writer holds it exclusively, read-only
	// opens share it.
	LockFile = "LOCK"
	// ManifestFile is the manifest: the store's identity, geometry and
	// begin address.
	ManifestFile = "STORE"
	// TempSuffix marks a file being written, to be renamed into place (or
	// removed as debris by recovery).
	TempSuffix = ".tmp"
)

// Numbered is a family of files named prefix, 16 lower-case hex digits of a
// number, and suffix.
type Numbered struct {
	Prefix, Suffix string
}

var (
	// Segment names log segment files: seg-0000000000000001.log.
	Segment = Numbered{Prefix: "seg-", Suffix: ".log"}
	// Checkpoint names checkpoint files: checkpoint-0000000000000001.ckpt.
	Checkpoint = Numbered{Prefix: "checkpoint-", Suffix: ".ckpt"}
)

// Name returns the file name of number i.
func (n Numbered) Name(i uint64) string {
	var b [16]byte
	h := strconv.AppendUint(b[:0], i, 16)
	return n.Prefix + strings.Repeat("0", 16-len(h)) + string(h) + n.Suffix
}

// Parse returns the number in name, if name is exactly a name Name returns
// (so upper-case digits, signs or spaces make it another file).
func (n Numbered) Parse(name string) (uint64, bool) {
	if len(name) != len(n.Prefix)+16+len(n.Suffix) ||
		!strings.HasPrefix(name, n.Prefix) || !strings.HasSuffix(name, n.Suffix) {
		return 0, false
	}
	hex := name[len(n.Prefix) : len(name)-len(n.Suffix)]
	i, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || n.Name(i) != name {
		return 0, false
	}
	return i, true
}

// IsTemp reports whether name is a temporary file of the family: a file of
// it being written, with TempSuffix.
func (n Numbered) IsTemp(name string) bool {
	return strings.HasPrefix(name, n.Prefix) && strings.HasSuffix(name, n.Suffix+TempSuffix)
}
