package rskv

import (
	"io"

	"github.com/rskv-go/rskv/actors"
)

// SetClock makes the store opened with o drive its background services'
// timers from c (a fake clock from actors/actorstest), so that tests step
// time by hand instead of waiting for it. Only in-package tests reach it.
func SetClock(o *Options, c actors.Clock) *Options {
	o.clock = c
	return o
}

// ScanRegistryState reports the running Scans and the deferred truncation.
func (s *Store) ScanRegistryState() (active int, pending uint64) {
	s.scans.mu.Lock()
	defer s.scans.mu.Unlock()
	return s.scans.active, s.scans.pending
}

// CompactionDueForTest is the collector's check, for tests.
func (s *Store) CompactionDueForTest() bool { return s.compactionDue() }

// SweepExpiredForTest runs one step of the expirer and returns how many
// keys the expirer has deleted so far.
func (s *Store) SweepExpiredForTest() (int64, error) {
	_, err := s.sweepExpired(s.life.ctx)
	s.expiry.mu.Lock()
	defer s.expiry.mu.Unlock()
	return s.expiry.expired, err
}

// RestoreWith is Restore into a store opened with o (a MemFS in tests).
func RestoreWith(dir string, r io.Reader, o *Options) (BackupInfo, error) {
	return restore(dir, r, o)
}

// SetSplitHook makes the index grower call f before each chunk it splits
// itself (operations helping split theirs without it), so that a test can
// pause a growth half way.
func (s *Store) SetSplitHook(f func()) { s.index.SetGrowHook(f) }

// IndexGrowing reports whether an index grower is running.
func (s *Store) IndexGrowing() bool { return s.growing.Load() }
