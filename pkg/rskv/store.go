package rskv

import "github.com/cockroachdb/errors"

// errUnimplemented marks the API scaffold that the engine replaces.
var errUnimplemented = errors.New("rskv: not implemented yet")

// Store is an open rskv store. All methods are safe for concurrent use.
type Store struct{}

// Open opens (creating if needed) the store in dir and recovers its contents.
func Open(dir string, opts *Options) (*Store, error) { return nil, errUnimplemented }

// Get returns a copy of key's value, or ErrNotFound.
func (s *Store) Get(key []byte) ([]byte, error) { return nil, errUnimplemented }

// AppendValue appends key's value to dst and returns the extended slice.
func (s *Store) AppendValue(dst, key []byte) ([]byte, error) { return dst, errUnimplemented }

// Put sets key's value.
func (s *Store) Put(key, value []byte) error { return errUnimplemented }

// Delete removes key.
func (s *Store) Delete(key []byte) error { return errUnimplemented }

// Has reports whether key has a live value.
func (s *Store) Has(key []byte) (bool, error) { return false, errUnimplemented }

// RMW atomically replaces key's value with fn(old, found).
func (s *Store) RMW(key []byte, fn func(old []byte, found bool) []byte) ([]byte, error) {
	return nil, errUnimplemented
}

// Scan calls fn for each live key with the prefix.
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) bool) error { return errUnimplemented }

// Len returns the number of live keys.
func (s *Store) Len() int { return 0 }

// Sync makes every acknowledged write durable.
func (s *Store) Sync() error { return errUnimplemented }

// Checkpoint takes a checkpoint.
func (s *Store) Checkpoint() (CheckpointInfo, error) { return CheckpointInfo{}, errUnimplemented }

// Checkpoints lists the checkpoints on disk, oldest first.
func (s *Store) Checkpoints() ([]CheckpointInfo, error) { return nil, errUnimplemented }

// Compact reclaims the space of dead records.
func (s *Store) Compact() (CompactStats, error) { return CompactStats{}, errUnimplemented }

// Stats returns the store's statistics.
func (s *Store) Stats() Stats { return Stats{} }

// StartBackground starts the background services.
func (s *Store) StartBackground() error { return errUnimplemented }

// StopBackground stops the background services.
func (s *Store) StopBackground() error { return errUnimplemented }

// BackgroundStats describes the background services.
func (s *Store) BackgroundStats() BackgroundStats { return BackgroundStats{} }

// Services reports the supervision tree.
func (s *Store) Services() []ServiceStatus { return nil }

// Close closes the store.
func (s *Store) Close() error { return nil }

// Stats describes the store.
type Stats struct {
	Keys                                                                    int
	BeginAddress, HeadAddress, ReadOnlyAddress, TailAddress, FlushedAddress uint64
	MutableBytes, ReadOnlyBytes, DiskBytes                                  int64
}
