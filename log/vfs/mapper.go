package vfs

// Mapper is implemented by files that can be memory-mapped for reading (the
// OS file system's files on Unix). Callers fall back to ReadAt for files
// that do not implement it, such as MemFS's or errorfs's.
type Mapper interface {
	// MapRead maps the first size bytes of the file read-only. Bytes past
	// the end of the file must not be read. Release the mapping with Unmap.
	MapRead(size int64) ([]byte, error)
}

// Advice is an access-pattern hint for a file's page cache (posix_fadvise)
// or a mapping (madvise).
type Advice int

const (
	// AdviseNormal restores the kernel's default read-ahead.
	AdviseNormal Advice = iota
	// AdviseRandom says reads are scattered point reads: no read-ahead, so
	// a miss brings in only the pages it reads and a limited page cache is
	// not filled with neighbours nobody asked for.
	AdviseRandom
	// AdviseSequential says the file is read in order: aggressive
	// read-ahead.
	AdviseSequential
	// AdviseWillNeed asks the kernel to start reading a range now.
	AdviseWillNeed
	// AdviseDontNeed says a range just written will not be read soon:
	// write it back now (waiting for it; this is not a sync: no metadata,
	// no device cache flush) and drop it from the page cache, where it
	// would otherwise push out pages that are read. For files read only
	// at recovery (checkpoints), in a memory limit that the page cache
	// shares with the process.
	AdviseDontNeed
)

// Advisor is implemented by files that take access-pattern hints. Hints are
// advice: a file system may ignore them, and errors only say the hint was
// not taken.
type Advisor interface {
	// Advise applies advice to length bytes from offset (length 0: to the
	// end of the file).
	Advise(offset, length int64, advice Advice) error
}

// AdviseMapping applies advice to a mapping made by MapRead, where the
// platform supports it.
func AdviseMapping(b []byte, advice Advice) error { return adviseMapping(b, advice) }
