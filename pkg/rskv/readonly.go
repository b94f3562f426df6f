package rskv

import (
	"io"
	"io/fs"
	"path/filepath"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/fileformat"
	"github.com/rskv-go/rskv/log/vfs"
)

// Read-only opens (Options.ReadOnly).
//
// A read-only Store takes a shared lock on the LOCK file (flock LOCK_SH; the
// file must exist and is opened for reading only), so any number of them, in
// this process and others, share a store while a writer, which takes the
// lock exclusively, is refused with ErrLocked, and they are refused while a
// writer holds it. Recovery runs in memory only: a torn tail is left on disk
// and not read, debris (segments below begin, a blank newest segment,
// unfinished checkpoint files) is left in place, and no STORE file, durable
// mark or checkpoint is written. Read promotion is off, no background service
// runs, Sync has nothing to do, and Close closes files without writing. Every
// write (Put, Delete, RMW, Checkpoint, Compact, StartBackground) returns
// ErrReadOnly.
//
// A read-only Store sees the store as it was on disk when it opened: writes
// made later by a writer that opens after it closes are not visible to it.

// writable returns ErrReadOnly for a read-only store. Every method that
// changes the store calls it first.
func (s *Store) writable() error {
	if s.opts.ReadOnly {
		return errors.Wrapf(ErrReadOnly, "%s", s.dir)
	}
	return nil
}

// lockShared takes the read-only open's shared lock on dir's LOCK file. It
// creates nothing: a directory without one holds no store that was ever
// opened for writing, which is an error matching fs.ErrNotExist.
func lockShared(fsys vfs.FS, dir string) (io.Closer, error) {
	lock, err := fsys.LockShared(filepath.Join(dir, fileformat.LockFile))
	switch {
	case err == nil:
		return lock, nil
	case errors.Is(err, vfs.ErrLocked):
		return nil, errors.Wrapf(ErrLocked, "%s is open for writing by another Store (lock file %s)", dir, fileformat.LockFile)
	case errors.Is(err, fs.ErrNotExist):
		return nil, errors.Wrapf(err, "rskv: open %s read-only: no store there (no %s file; a read-only open never creates a store)",
			dir, fileformat.LockFile)
	}
	return nil, errors.Wrapf(err, "rskv: lock %s (shared)", dir)
}

// errNoStoreReadOnly is loadManifest's error for a read-only open of a
// directory without a STORE file.
func errNoStoreReadOnly(dir string, cause error) error {
	return errors.Wrapf(cause, "rskv: open %s read-only: no store there (no %s file; a read-only open never creates a store)",
		dir, fileformat.ManifestFile)
}

// closeReadOnly is Close for a read-only store: it waits out running
// operations and closes the files, writing nothing.
func (s *Store) closeReadOnly() error {
	s.bg.mu.Lock()
	s.closed.Store(true)
	s.life.cancel()
	s.bg.mu.Unlock()
	s.life.shutAndWait()
	s.em.BumpAndWait()
	s.index.Close() // drained above (hashidx retire.go)
	err := s.log.Close()
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return errors.Wrapf(err, "rskv: close %s", s.dir)
	}
	s.opts.Logger.Info("rskv: closed", "dir", s.dir, "read_only", true)
	return nil
}
