package rskv

import "github.com/cockroachdb/errors"

// errUnimplemented marks API methods whose engine parts are still being
// built (checkpoints, compaction, background services).
var errUnimplemented = errors.New("rskv: not implemented yet")

// Checkpoint takes a checkpoint.
func (s *Store) Checkpoint() (CheckpointInfo, error) { return CheckpointInfo{}, errUnimplemented }

// Checkpoints lists the checkpoints on disk, oldest first.
func (s *Store) Checkpoints() ([]CheckpointInfo, error) { return nil, errUnimplemented }

// Compact reclaims the space of dead records.
func (s *Store) Compact() (CompactStats, error) { return CompactStats{}, errUnimplemented }

// StartBackground starts the background services.
func (s *Store) StartBackground() error { return errUnimplemented }

// StopBackground stops the background services.
func (s *Store) StopBackground() error { return errUnimplemented }

// BackgroundStats describes the background services.
func (s *Store) BackgroundStats() BackgroundStats { return BackgroundStats{} }

// Services reports the supervision tree.
func (s *Store) Services() []ServiceStatus { return nil }
