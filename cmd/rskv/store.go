package main

import (
	"os"
	"path/filepath"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/fileformat"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/spf13/cobra"
)

// storeMarker is the metadata file every rskv store directory holds.
const storeMarker = fileformat.ManifestFile

// storeFlags are the flags of the commands that work on a store.
type storeFlags struct {
	dir        string
	memorySize string
}

func (f *storeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.dir, "dir", "d", "", "store directory (required)")
	cmd.Flags().StringVar(&f.memorySize, "memory-size", "", "log memory, e.g. 64MiB (default: the store's default, 1 GiB)")
}

func (f *storeFlags) options(background bool) (*rskv.Options, error) {
	opts := &rskv.Options{DisableBackground: !background}
	if f.memorySize != "" {
		n, err := parseSize("--memory-size", f.memorySize)
		if err != nil {
			return nil, err
		}
		opts.MemorySize = n
	}
	return opts, nil
}

// openRead opens the store in f.dir read-only (rskv.Options.ReadOnly): it
// must exist and hold a store, and the command changes no file in it. Any
// number of readers share a store; a writer holding it makes this fail with
// rskv.ErrLocked.
func (f *storeFlags) openRead() (*rskv.Store, error) {
	opts, err := f.options(false)
	if err != nil {
		return nil, err
	}
	opts.ReadOnly = true
	if err := checkStore(f.dir); err != nil {
		return nil, err
	}
	return f.open(opts)
}

// openExisting opens the store in f.dir for writing; it must exist and hold
// a store, so that maintenance commands never create one by accident.
// background says whether to start the background services.
func (f *storeFlags) openExisting(background bool) (*rskv.Store, error) {
	opts, err := f.options(background)
	if err != nil {
		return nil, err
	}
	if err := checkStore(f.dir); err != nil {
		return nil, err
	}
	return f.open(opts)
}

// openOrCreate opens the store in f.dir, creating the directory and the
// store when there is none. A directory that exists, is not empty and holds
// no store is refused, so that a mistyped path is not filled with segments.
func (f *storeFlags) openOrCreate() (*rskv.Store, error) {
	opts, err := f.options(false)
	if err != nil {
		return nil, err
	}
	err = checkStore(f.dir)
	switch {
	case err == nil:
	case errors.Is(err, errNoDir):
		// Open creates it.
	case errors.Is(err, errNoStore):
		entries, rerr := os.ReadDir(f.dir)
		if rerr != nil {
			return nil, errors.Wrapf(rerr, "read %s", f.dir)
		}
		if len(entries) > 0 {
			return nil, errors.WithHint(
				errors.Newf("%s is not empty and holds no rskv store (no %s file); refusing to create one there", f.dir, storeMarker),
				"pass an empty or new directory to create a store")
		}
	default:
		return nil, err
	}
	return f.open(opts)
}

func (f *storeFlags) open(opts *rskv.Options) (*rskv.Store, error) {
	s, err := rskv.Open(f.dir, opts)
	if err != nil {
		return nil, explainOpenError(err, f.dir)
	}
	return s, nil
}

var (
	errNoDirFlag = errors.New("no store directory given")
	errNoDir     = errors.New("store directory does not exist")
	errNoStore   = errors.New("directory holds no rskv store")
)

// checkStore reports whether dir names an existing store directory.
func checkStore(dir string) error {
	if dir == "" {
		return usageError{errors.WithHint(errNoDirFlag, "pass the store directory with --dir DIR")}
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return errors.WithHint(errors.Mark(errors.Newf("store directory %s does not exist", dir), errNoDir),
			"check the path; 'rskv put --dir DIR KEY VALUE' creates a new store")
	}
	if err != nil {
		return errors.Wrapf(err, "stat store directory")
	}
	if !fi.IsDir() {
		return errors.Newf("%s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, storeMarker)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.WithHintf(errors.Mark(errors.Newf("%s holds no rskv store (no %s file)", dir, storeMarker), errNoStore),
				"an rskv store directory holds %s, %s and %s*%s files", storeMarker, fileformat.LockFile,
				fileformat.Segment.Prefix, fileformat.Segment.Suffix)
		}
		return errors.Wrapf(err, "stat %s", storeMarker)
	}
	return nil
}

// explainOpenError adds what the user can do to the errors of rskv.Open,
// keeping their identity for errors.Is.
func explainOpenError(err error, dir string) error {
	switch {
	case errors.Is(err, rskv.ErrLocked):
		return errors.WithHint(
			errors.Wrapf(err, "cannot open %s: another process (or another open Store) holds the store", dir),
			"a store has one writer, or any number of readers (get, scan, stats, services), at a time; "+
				"stop the other process or wait for it to finish")
	case errors.Is(err, rskv.ErrInvalidOptions):
		return errors.WithHint(errors.Wrapf(err, "cannot open %s", dir),
			"check --memory-size: it must hold at least four log pages of the store")
	case errors.Is(err, rskv.ErrCorruption):
		return errors.Wrapf(err, "cannot open %s: the store is damaged", dir)
	}
	return errors.Wrapf(err, "cannot open %s", dir)
}

// closeStore closes s and keeps the first error.
func closeStore(s *rskv.Store, err *error) {
	if cerr := s.Close(); cerr != nil && *err == nil {
		*err = errors.Wrap(cerr, "close store")
	}
}
