package test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// treeState describes every entry under dir: name, mode, size, modification
// time and a hash of the contents, plus the directory's own modification
// time (which creating, removing or renaming an entry changes).
func treeState(t testing.TB, dir string) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(&sb, "%s %v %d %d", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if !d.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			sb.WriteString(" " + hex.EncodeToString(sum[:]))
		}
		sb.WriteByte('\n')
		return nil
	})
	require.NoError(t, err)
	return sb.String()
}

func readOnlyOptions() *rskv.Options {
	o := recoveryOptions()
	o.ReadOnly = true
	return o
}

// fillForReadOnly writes a store with data on disk and in several segments,
// and returns what it holds.
func fillForReadOnly(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	s, err := rskv.Open(dir, recoveryOptions())
	require.NoError(t, err)
	want := map[string][]byte{}
	for i := range 1500 {
		k := key(i)
		v := versioned(k, uint64(i%3), 60)
		require.NoError(t, s.Put(k, v))
		want[string(k)] = v
	}
	for i := range 100 {
		require.NoError(t, s.Delete(key(i*7)))
		delete(want, string(key(i*7)))
	}
	require.NoError(t, s.Close())
	return want
}

func TestReadOnlySharedAndUnchanged(t *testing.T) {
	dir := t.TempDir()
	want := fillForReadOnly(t, dir)
	before := treeState(t, dir)

	// Two read-only opens at once, read from concurrently.
	a, err := rskv.Open(dir, readOnlyOptions())
	require.NoError(t, err)
	b, err := rskv.Open(dir, readOnlyOptions())
	require.NoError(t, err)
	var wg sync.WaitGroup
	for _, s := range []*rskv.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			requireContents(t, s, want)
		}()
	}
	wg.Wait()
	require.Equal(t, len(want), a.Len())
	require.False(t, a.Stats().Recovery.Created)
	require.Empty(t, a.Stats().Recovery.Removed)

	// A writer is refused while they hold it.
	_, err = rskv.Open(dir, recoveryOptions())
	require.ErrorIs(t, err, rskv.ErrLocked)

	// Every write is refused.
	requireWritesRefused(t, a)
	require.NoError(t, a.Sync(), "nothing to make durable")

	require.NoError(t, a.Close())
	_, err = rskv.Open(dir, recoveryOptions())
	require.ErrorIs(t, err, rskv.ErrLocked, "one read-only open still holds it")
	require.NoError(t, b.Close())
	require.NoError(t, a.Close(), "Close is idempotent")
	_, err = a.Get(key(1))
	require.ErrorIs(t, err, rskv.ErrClosed)

	require.Equal(t, before, treeState(t, dir), "a read-only open changed the directory")

	// Once they are gone, a writer opens; while it holds the store, a
	// read-only open is refused.
	w, err := rskv.Open(dir, recoveryOptions())
	require.NoError(t, err)
	_, err = rskv.Open(dir, readOnlyOptions())
	require.ErrorIs(t, err, rskv.ErrLocked)
	require.NoError(t, w.Close())
}

func requireWritesRefused(t *testing.T, s *rskv.Store) {
	t.Helper()
	require.ErrorIs(t, s.Put([]byte("k"), []byte("v")), rskv.ErrReadOnly)
	require.ErrorIs(t, s.Delete(key(1)), rskv.ErrReadOnly)
	_, err := s.RMW(key(1), func(old []byte, found bool) []byte { return old })
	require.ErrorIs(t, err, rskv.ErrReadOnly)
	_, err = s.Checkpoint()
	require.ErrorIs(t, err, rskv.ErrReadOnly)
	_, err = s.Compact()
	require.ErrorIs(t, err, rskv.ErrReadOnly)
	require.ErrorIs(t, s.StartBackground(), rskv.ErrReadOnly)
	require.NotContains(t, s.Put(nil, nil).Error(), "rskv: rskv:")
	for _, st := range s.Services() {
		require.False(t, st.Running, "service %s runs in a read-only store", st.Name)
	}
}

// TestReadOnlyRepairsNothing opens read-only a store with a torn tail, a
// stale checkpoint file and a blank newest segment: it reads what is valid,
// and leaves every file as it was; the next read-write open repairs.
func TestReadOnlyRepairsNothing(t *testing.T) {
	dir := t.TempDir()
	want := fillForReadOnly(t, dir)
	torn := []byte("torn-key")
	s, err := rskv.Open(dir, recoveryOptions())
	require.NoError(t, err)
	require.NoError(t, s.Put(torn, make([]byte, 500)))
	require.NoError(t, s.Close())
	tearLastRecord(t, dir, 200)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "checkpoint-00000000000000ff.ckpt.tmp"), []byte("half"), 0o644))
	// A blank newest segment: a crash while creating it.
	segs := segmentFiles(t, dir)
	var last uint64
	_, err = fmt.Sscanf(filepath.Base(segs[len(segs)-1]), "seg-%016x.log", &last)
	require.NoError(t, err)
	blank := fmt.Sprintf("seg-%016x.log", last+1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, blank), nil, 0o644))
	before := treeState(t, dir)

	ro, err := rskv.Open(dir, readOnlyOptions())
	require.NoError(t, err)
	rec := ro.Stats().Recovery
	require.NotZero(t, rec.TornAt, "the torn tail is found")
	require.Empty(t, rec.Removed)
	_, err = ro.Get(torn)
	require.ErrorIs(t, err, rskv.ErrNotFound, "the torn record is not read")
	requireContents(t, ro, want)
	require.NoError(t, ro.Close())
	require.Equal(t, before, treeState(t, dir))

	rw, err := rskv.Open(dir, recoveryOptions())
	require.NoError(t, err)
	require.NotZero(t, rw.Stats().Recovery.TornAt, "the writer cuts the tail the reader left")
	require.Contains(t, rw.Stats().Recovery.Removed, "checkpoint-00000000000000ff.ckpt.tmp")
	require.Contains(t, rw.Stats().Recovery.Removed, blank)
	requireContents(t, rw, want)
	require.NoError(t, rw.Close())
}

func TestReadOnlyNoStore(t *testing.T) {
	parent := t.TempDir()
	missing := filepath.Join(parent, "absent")
	_, err := rskv.Open(missing, readOnlyOptions())
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, "read-only")
	require.NotContains(t, err.Error(), "rskv: rskv:")
	_, serr := os.Stat(missing)
	require.ErrorIs(t, serr, fs.ErrNotExist, "a read-only open created the directory")

	empty := filepath.Join(parent, "empty")
	require.NoError(t, os.Mkdir(empty, 0o755))
	_, err = rskv.Open(empty, readOnlyOptions())
	require.ErrorIs(t, err, fs.ErrNotExist)
	names, rerr := os.ReadDir(empty)
	require.NoError(t, rerr)
	require.Empty(t, names, "a read-only open created files")

	// A LOCK file alone (a writer that crashed before writing STORE).
	require.NoError(t, os.WriteFile(filepath.Join(empty, "LOCK"), nil, 0o644))
	_, err = rskv.Open(empty, readOnlyOptions())
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, "STORE")
}

// TestReadOnlyMmap reads a read-only store through memory maps of its
// read-only files.
func TestReadOnlyMmap(t *testing.T) {
	dir := t.TempDir()
	want := fillForReadOnly(t, dir)
	before := treeState(t, dir)
	o := readOnlyOptions()
	o.MmapReads = true
	s, err := rskv.Open(dir, o)
	require.NoError(t, err)
	requireContents(t, s, want)
	require.NoError(t, s.Close())
	require.Equal(t, before, treeState(t, dir))
}

// TestReadOnlyMemFS checks the lock rules through the in-memory file system.
func TestReadOnlyMemFS(t *testing.T) {
	mfs := vfs.NewMem()
	o := recoveryOptions()
	o.FS = mfs
	s, err := rskv.Open("db", o)
	require.NoError(t, err)
	require.NoError(t, s.Put([]byte("a"), []byte("1")))
	ro := *o
	ro.ReadOnly = true
	_, err = rskv.Open("db", &ro)
	require.ErrorIs(t, err, rskv.ErrLocked)
	require.NoError(t, s.Close())

	r1, err := rskv.Open("db", &ro)
	require.NoError(t, err)
	r2, err := rskv.Open("db", &ro)
	require.NoError(t, err)
	v, err := r2.Get([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, []byte("1"), v)
	_, err = rskv.Open("db", o)
	require.ErrorIs(t, err, rskv.ErrLocked)
	require.NoError(t, r1.Close())
	require.NoError(t, r2.Close())
	s, err = rskv.Open("db", o)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// The read-only child: a test binary started with envROChild opens the store
// in envRODir (read-only when envROMode is "ro") and prints what happened.
const (
	envROChild = "RSKV_RO_CHILD"
	envRODir   = "RSKV_RO_DIR"
	envROMode  = "RSKV_RO_MODE"
)

func init() {
	if os.Getenv(envROChild) != "1" {
		return
	}
	o := recoveryOptions()
	o.ReadOnly = os.Getenv(envROMode) == "ro"
	s, err := rskv.Open(os.Getenv(envRODir), o)
	switch {
	case errors.Is(err, rskv.ErrLocked):
		fmt.Println("locked")
	case err != nil:
		fmt.Println("error:", err)
	default:
		n := s.Len()
		if err := s.Close(); err != nil {
			fmt.Println("error:", err)
		} else {
			fmt.Println("opened", n)
		}
	}
	os.Exit(0)
}

func runROChild(t *testing.T, dir, mode string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envROChild+"=1", envRODir+"="+dir, envROMode+"="+mode)
	out, err := cmd.Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// TestReadOnlyAcrossProcesses checks the lock rules against another process.
func TestReadOnlyAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	want := fillForReadOnly(t, dir)
	opened := fmt.Sprintf("opened %d", len(want))

	w, err := rskv.Open(dir, recoveryOptions())
	require.NoError(t, err)
	require.Equal(t, "locked", runROChild(t, dir, "ro"), "a reader while this process writes")
	require.NoError(t, w.Close())

	before := treeState(t, dir)
	r, err := rskv.Open(dir, readOnlyOptions())
	require.NoError(t, err)
	require.Equal(t, opened, runROChild(t, dir, "ro"), "two readers in two processes")
	require.Equal(t, "locked", runROChild(t, dir, "rw"), "a writer while this process reads")
	require.NoError(t, r.Close())
	require.Equal(t, before, treeState(t, dir))
	require.Equal(t, opened, runROChild(t, dir, "rw"))
}
