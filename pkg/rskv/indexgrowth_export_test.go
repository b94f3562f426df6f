package rskv

// IndexMappedBytes returns the bytes of index tables the store holds mapped
// off the Go heap (hashidx.Index.MappedBytes), for the growth tests.
func (s *Store) IndexMappedBytes() int64 { return s.index.MappedBytes() }
