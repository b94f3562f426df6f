package vfs

// Mapper is implemented by files that can be memory-mapped for reading (the
// OS file system's files on Unix). Callers fall back to ReadAt for files
// that do not implement it, such as MemFS's or errorfs's.
type Mapper interface {
	// MapRead maps the first size bytes of the file read-only. Bytes past
	// the end of the file must not be read. Release the mapping with Unmap.
	MapRead(size int64) ([]byte, error)
}
