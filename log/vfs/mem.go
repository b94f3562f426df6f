package vfs

import (
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/errors"
)

// MemFS is an in-memory FS that models durability strictly, so that tests can
// simulate a power cut with CrashClone or CrashCloneTorn. It is safe for
// concurrent use. The zero value is not usable; call NewMem.
//
// # Durability model
//
// Every file has current contents, which reads see, and durable contents,
// which survive a crash. File.Sync makes the current contents durable (the
// write-back of a file does not depend on which handle syncs it, as with
// fsync on Linux). Writes and truncations that are not followed by a Sync are
// lost by CrashClone.
//
// Every directory has current entries and durable entries. Entries are added
// by Create (of a new name), Lock (of a new name), MkdirAll and Rename, and
// removed by Remove and Rename. Changes become durable only when SyncDir is
// called on that directory: a file created in a directory that was not synced
// afterwards disappears on a crash, even if the file itself was synced; a
// Rename not followed by SyncDir is undone; a Remove not followed by SyncDir
// is undone (the file comes back with its durable contents). A Rename between
// two directories needs a SyncDir of both. Directories created by MkdirAll are
// entries of their parent like files: MkdirAll("db") followed by SyncDir("db")
// alone does not make "db" itself durable; SyncDir of its parent (here the
// root, "." or "/") does. The root always survives.
//
// This is the strict, POSIX-conservative model of pebble's vfs.MemFS in strict
// mode. Real file systems (ext4 with its journal, for instance) usually
// persist more than this: an fsync often commits earlier metadata changes too.
// What the model does not produce is damage other than loss: unsynced data is
// dropped, or with CrashCloneTorn kept as a prefix, but never reordered within
// a file, replaced by zeros or garbage, or applied to a later write before an
// earlier one.
//
// # Paths
//
// MemFS has a single root. Names are cleaned with filepath.Clean and resolved
// from the root, so "db/x", "/db/x" and "db/../db/x" are the same file and ".."
// cannot climb above the root. The root is ".", "/" or any name that cleans to
// it. The empty name does not exist, as with the OS.
//
// # Differences from the OS
//
// Open of a directory fails with syscall.EISDIR (os.Open would open it);
// SyncDir of a regular file fails with syscall.ENOTDIR (so does Default); a
// trailing separator after a file name is ignored (the OS fails with
// syscall.ENOTDIR). Permission bits are recorded for Stat but never checked.
// Modification times are always the zero time. Writing at a huge offset
// allocates the whole gap, as there are no sparse files.
type MemFS struct {
	mu   sync.Mutex // guards the tree: children, synced and locks
	root *memNode
	// locks holds, for each locked file, -1 for an exclusive holder or the
	// number of shared holders.
	locks map[*memNode]int
}

var _ FS = (*MemFS)(nil)

// NewMem returns an empty in-memory file system whose root directory exists.
// See MemFS for the durability model.
func NewMem() *MemFS {
	return &MemFS{root: newMemDir(0o755), locks: make(map[*memNode]int)}
}

// memNode is a file or a directory. A node may be reachable from several
// directory entries at once (for instance from the current entries of one
// directory and the durable entries of another, after an unsynced rename),
// which is what lets the durable tree differ from the current one.
type memNode struct {
	isDir bool
	perm  os.FileMode

	// Directories, guarded by MemFS.mu.
	children map[string]*memNode // current entries
	synced   map[string]*memNode // entries as of the last SyncDir

	// Files, guarded by mu. Lock order is MemFS.mu before memNode.mu.
	mu      sync.RWMutex
	data    []byte  // current contents
	durable []byte  // contents as of the last Sync
	pending []memOp // changes since the last Sync, oldest first
}

// memOp is one unsynced change to a file: a write of data at off, or (if
// truncate) a truncation to size off.
type memOp struct {
	off      int64
	data     []byte
	truncate bool
}

func newMemDir(perm os.FileMode) *memNode {
	return &memNode{
		isDir:    true,
		perm:     perm & fs.ModePerm,
		children: make(map[string]*memNode),
		synced:   make(map[string]*memNode),
	}
}

func newMemFile() *memNode { return &memNode{perm: 0o644} }

// apply returns b changed by op. It may modify b in place.
func (op memOp) apply(b []byte) []byte {
	if op.truncate {
		return resize(b, op.off)
	}
	if len(op.data) == 0 {
		return b
	}
	end := op.off + int64(len(op.data))
	if end > int64(len(b)) {
		b = resize(b, end)
	}
	copy(b[op.off:], op.data)
	return b
}

// resize returns b with length size, zero-filling any extension. Bytes beyond
// len(b) in its capacity may be stale (from an earlier truncation), so they are
// cleared rather than trusted.
func resize(b []byte, size int64) []byte {
	n := int(size)
	if n <= len(b) {
		return b[:n]
	}
	old := len(b)
	b = slices.Grow(b, n-old)[:n]
	clear(b[old:])
	return b
}

// record applies op to the current contents and remembers it as unsynced.
// n.mu must be held for writing.
func (n *memNode) record(op memOp) {
	n.data = op.apply(n.data)
	n.pending = append(n.pending, op)
}

// sync makes the current contents durable. n.mu must be held for writing.
func (n *memNode) sync() {
	for _, op := range n.pending {
		n.durable = op.apply(n.durable)
	}
	n.pending = nil
}

// crashContents returns what the file holds after a crash: its durable
// contents, plus, if rng is not nil, a random prefix of its unsynced changes
// of which the last may be torn. See CrashCloneTorn.
func (n *memNode) crashContents(rng *rand.Rand) []byte {
	n.mu.RLock()
	defer n.mu.RUnlock()
	b := slices.Clone(n.durable)
	if rng == nil || len(n.pending) == 0 {
		return b
	}
	k := rng.IntN(len(n.pending) + 1)
	for _, op := range n.pending[:k] {
		b = op.apply(b)
	}
	if k < len(n.pending) {
		if op := n.pending[k]; !op.truncate && len(op.data) > 0 {
			op.data = op.data[:rng.IntN(len(op.data))]
			b = op.apply(b)
		}
	}
	return b
}

// pathError returns an *fs.PathError, as the os package would, with a stack.
func pathError(op, name string, err error) error {
	return errors.WithStackDepth(&fs.PathError{Op: op, Path: name, Err: err}, 1)
}

// splitPath returns the components of name below the root; none for the root.
func splitPath(name string) []string {
	sep := string(filepath.Separator)
	clean := strings.TrimPrefix(filepath.Clean(sep+name), sep)
	if clean == "" {
		return nil
	}
	return strings.Split(clean, sep)
}

// memEntry is a resolved name: the directory holding it and the node it
// names, which is nil if the name is absent.
type memEntry struct {
	parent *memNode // nil for the root
	base   string
	node   *memNode
}

// resolve looks name up. It fails, with an error for op, only if the
// directory that would hold name does not exist or is not a directory.
// m.mu must be held.
func (m *MemFS) resolve(op, name string) (memEntry, error) {
	if name == "" {
		return memEntry{}, pathError(op, name, syscall.ENOENT)
	}
	parts := splitPath(name)
	if len(parts) == 0 {
		return memEntry{node: m.root}, nil
	}
	dir := m.root
	for _, p := range parts[:len(parts)-1] {
		c := dir.children[p]
		if c == nil {
			return memEntry{}, pathError(op, name, syscall.ENOENT)
		}
		if !c.isDir {
			return memEntry{}, pathError(op, name, syscall.ENOTDIR)
		}
		dir = c
	}
	base := parts[len(parts)-1]
	return memEntry{parent: dir, base: base, node: dir.children[base]}, nil
}

// lookup resolves name and fails with syscall.ENOENT if it is absent.
// m.mu must be held.
func (m *MemFS) lookup(op, name string) (*memNode, error) {
	e, err := m.resolve(op, name)
	if err != nil {
		return nil, err
	}
	if e.node == nil {
		return nil, pathError(op, name, syscall.ENOENT)
	}
	return e.node, nil
}

// Create creates the named file for reading and writing, truncating it if it
// exists. Truncating an existing file is an unsynced change to its contents;
// adding a new name is an unsynced change to its directory.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	node, created, err := m.openOrCreateLocked(name)
	if err != nil {
		return nil, err
	}
	if !created {
		node.mu.Lock()
		node.record(memOp{truncate: true})
		node.mu.Unlock()
	}
	return &memFile{node: node, name: name, writable: true}, nil
}

// openOrCreateLocked returns the file named name, creating it (as an
// unsynced directory entry) if it does not exist. m.mu must be held.
func (m *MemFS) openOrCreateLocked(name string) (node *memNode, created bool, err error) {
	e, err := m.resolve("open", name)
	if err != nil {
		return nil, false, err
	}
	switch {
	case e.node == nil:
		e.node = newMemFile()
		e.parent.children[e.base] = e.node
		return e.node, true, nil
	case e.node.isDir:
		return nil, false, pathError("open", name, syscall.EISDIR)
	}
	return e.node, false, nil
}

// OpenReadWrite opens an existing file for reading and writing.
func (m *MemFS) OpenReadWrite(name string) (File, error) { return m.open(name, true) }

// Open opens an existing file for reading. Writing to it and truncating it
// fail, as with the OS; syncing it is allowed.
func (m *MemFS) Open(name string) (File, error) { return m.open(name, false) }

func (m *MemFS) open(name string, writable bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.isDir {
		return nil, pathError("open", name, syscall.EISDIR)
	}
	return &memFile{node: n, name: name, writable: writable}, nil
}

// Remove removes the named file or empty directory. Open files stay usable.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.resolve("remove", name)
	if err != nil {
		return err
	}
	switch {
	case e.node == nil:
		return pathError("remove", name, syscall.ENOENT)
	case e.parent == nil:
		return pathError("remove", name, syscall.EBUSY)
	case e.node.isDir && len(e.node.children) > 0:
		return pathError("remove", name, syscall.ENOTEMPTY)
	}
	delete(e.parent.children, e.base)
	return nil
}

// Rename moves oldname to newname, replacing newname if it is a file. As with
// os.Rename on Unix, it fails with syscall.EEXIST if newname is a directory,
// with syscall.ENOTDIR if oldname is a directory and newname a file, and with
// syscall.EINVAL if it would move a directory inside itself. Open files stay
// usable.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	linkErr := func(err error) error {
		return errors.WithStackDepth(&os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}, 1)
	}
	unwrapErrno := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	from, err := m.resolve("rename", oldname)
	if err != nil {
		return linkErr(unwrapErrno(err))
	}
	if from.node == nil {
		return linkErr(syscall.ENOENT)
	}
	if from.parent == nil {
		return linkErr(syscall.EBUSY)
	}
	to, err := m.resolve("rename", newname)
	if err != nil {
		return linkErr(unwrapErrno(err))
	}
	switch {
	case to.node != nil && to.node.isDir:
		return linkErr(syscall.EEXIST)
	case to.node == from.node:
		return nil // a file renamed to itself
	case from.node.isDir && to.node != nil:
		return linkErr(syscall.ENOTDIR)
	case from.node.isDir && m.contains(from.node, newname):
		return linkErr(syscall.EINVAL)
	}
	delete(from.parent.children, from.base)
	to.parent.children[to.base] = from.node
	return nil
}

// contains reports whether the directory dir is one of the directories on
// the way from the root to name (whose own directory exists). m.mu must be
// held.
func (m *MemFS) contains(dir *memNode, name string) bool {
	n := m.root
	parts := splitPath(name)
	for _, p := range parts[:len(parts)-1] {
		n = n.children[p]
		if n == dir {
			return true
		}
	}
	return false
}

// MkdirAll creates a directory and any missing parents, with permission bits
// perm (recorded for Stat only). It fails with syscall.ENOTDIR if a file is in
// the way. Each new directory is an unsynced entry of its parent.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	if dir == "" {
		return pathError("mkdir", dir, syscall.ENOENT)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, p := range splitPath(dir) {
		c := n.children[p]
		if c == nil {
			c = newMemDir(perm)
			n.children[p] = c
		} else if !c.isDir {
			return pathError("mkdir", dir, syscall.ENOTDIR)
		}
		n = c
	}
	return nil
}

// List returns the sorted names of the current entries of dir.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", dir)
	if err != nil {
		return nil, err
	}
	if !n.isDir {
		return nil, pathError("open", dir, syscall.ENOTDIR)
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

// Stat describes the named file or directory: its base name, size (zero for
// directories), mode and whether it is a directory. Sys returns nil.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	fi := &memFileInfo{name: filepath.Base(filepath.Clean(string(filepath.Separator) + name)), mode: n.perm}
	if n.isDir {
		fi.mode |= fs.ModeDir
	} else {
		n.mu.RLock()
		fi.size = int64(len(n.data))
		n.mu.RUnlock()
	}
	return fi, nil
}

// SyncDir makes the current entries of dir durable: entries created or renamed
// into dir since its last SyncDir survive a crash, entries removed or renamed
// away do not come back. It does not sync the contents of any file, nor the
// entry of dir in its own parent. It fails with syscall.ENOTDIR if dir is a
// file.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", dir)
	if err != nil {
		return err
	}
	if !n.isDir {
		return pathError("sync", dir, syscall.ENOTDIR)
	}
	n.synced = maps.Clone(n.children)
	return nil
}

// Lock takes the exclusive lock of the named file, creating the file (as an
// unsynced directory entry) if needed. It fails with an error matching
// ErrLocked while another holder in this MemFS has the lock; closing the
// returned io.Closer releases it. Locks belong to files, not names: a lock
// file that is removed and created again can be locked again. A crash clone
// holds no locks.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	node, _, err := m.openOrCreateLocked(name)
	if err != nil {
		return nil, err
	}
	if m.locks[node] != 0 {
		return nil, errors.Wrapf(ErrLocked, "%s", name)
	}
	m.locks[node] = -1
	return &memLock{fs: m, node: node, name: name}, nil
}

// LockShared takes a shared lock of the named file, which must exist (it is
// not created). Any number of shared holders may have it; it fails with an
// error matching ErrLocked while an exclusive holder (Lock) has it.
func (m *MemFS) LockShared(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	node, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if node.isDir {
		return nil, pathError("open", name, syscall.EISDIR)
	}
	if m.locks[node] < 0 {
		return nil, errors.Wrapf(ErrLocked, "%s", name)
	}
	m.locks[node]++
	return &memLock{fs: m, node: node, name: name, shared: true}, nil
}

// CrashClone returns a new MemFS holding exactly what would survive a power
// cut now: the durable entries of every directory reachable from the root
// through durable entries, and the durable contents of every file. Unsynced
// writes and truncations are all lost; unsynced creations, removals, renames
// and directory creations are all undone. The clone has no open files and
// no locks, and its current state equals its durable state. m is unchanged
// and stays usable.
//
// Two corner cases of partial directory syncs: a file renamed between
// directories of which only the target was synced since appears under both
// names, as one file (like a hard link); a directory that ends up with
// several durable entries, which a real file system would not allow, is kept
// at the shallowest one only (names taken in sorted order), so the clone is
// always a tree.
func (m *MemFS) CrashClone() *MemFS { return m.crashClone(nil) }

// CrashCloneTorn is CrashClone, except that each surviving file also keeps
// part of its unsynced changes, as a disk that wrote some but not all of them
// back before the power cut would. For each file independently it picks k
// uniformly in [0, n], where n is the number of writes and truncations since
// the file's last Sync, applies the first k of them in order to the durable
// contents and, if the next one is a non-empty write, applies a prefix of it
// whose length is uniform in [0, len) (so the kept tail may end mid-write).
// Nothing is reordered, and no bytes other than written ones appear. The
// directory structure is exactly that of CrashClone: a file whose entry is
// not durable is gone however much of it was written.
//
// Files are visited in a deterministic order, so the same rng seed on the
// same history gives the same clone. rng is used by this call only.
func (m *MemFS) CrashCloneTorn(rng *rand.Rand) *MemFS {
	if rng == nil {
		panic("vfs: CrashCloneTorn needs a non-nil *rand.Rand")
	}
	return m.crashClone(rng)
}

func (m *MemFS) crashClone(rng *rand.Rand) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := &MemFS{root: newMemDir(m.root.perm), locks: make(map[*memNode]int)}
	// A file reachable through two durable entries (after a rename between
	// directories of which only the target was synced since) becomes one file
	// reachable from both, like a hard link. A directory reachable through
	// several durable entries, which a real file system would not allow, is
	// kept at the shallowest one only (the first in breadth-first order, names
	// sorted), which also rules out cycles.
	files := make(map[*memNode]*memNode)
	dirs := map[*memNode]bool{m.root: true}
	type pair struct{ src, dst *memNode }
	queue := []pair{{m.root, c.root}}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, name := range slices.Sorted(maps.Keys(p.src.synced)) {
			child := p.src.synced[name]
			var clone *memNode
			if child.isDir {
				if dirs[child] {
					continue
				}
				dirs[child] = true
				clone = newMemDir(child.perm)
				queue = append(queue, pair{child, clone})
			} else if clone = files[child]; clone == nil {
				data := child.crashContents(rng)
				clone = &memNode{perm: child.perm, data: data, durable: slices.Clone(data)}
				files[child] = clone
			}
			p.dst.children[name] = clone
			p.dst.synced[name] = clone
		}
	}
	return c
}

// memFile is an open MemFS file.
type memFile struct {
	node     *memNode
	name     string
	writable bool
	closed   atomic.Bool
}

// ReadAt reads len(p) bytes at off. Like os.File.ReadAt it returns io.EOF,
// with the bytes it could read, when the file ends before p is full.
func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed.Load() {
		return 0, pathError("read", f.name, fs.ErrClosed)
	}
	if off < 0 {
		return 0, pathError("readat", f.name, syscall.EINVAL)
	}
	if len(p) == 0 {
		return 0, nil
	}
	f.node.mu.RLock()
	defer f.node.mu.RUnlock()
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off, extending the file with zeros if off is past its
// end. The written bytes are copied; p may be reused at once.
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if f.closed.Load() {
		return 0, pathError("write", f.name, fs.ErrClosed)
	}
	if !f.writable {
		return 0, pathError("write", f.name, syscall.EBADF)
	}
	if off < 0 || off > maxOffset-int64(len(p)) {
		return 0, pathError("writeat", f.name, syscall.EINVAL)
	}
	if len(p) == 0 {
		return 0, nil
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.record(memOp{off: off, data: slices.Clone(p)})
	return len(p), nil
}

// maxOffset bounds file sizes so that they fit in an int on any platform.
const maxOffset = int64(^uint(0) >> 1)

// Close closes the file. Closing it again, or using it afterwards, fails with
// an error matching fs.ErrClosed. Closing does not sync.
func (f *memFile) Close() error {
	if !f.closed.CompareAndSwap(false, true) {
		return pathError("close", f.name, fs.ErrClosed)
	}
	return nil
}

// Sync makes the file's current contents durable.
func (f *memFile) Sync() error {
	if f.closed.Load() {
		return pathError("sync", f.name, fs.ErrClosed)
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.sync()
	return nil
}

// Truncate changes the file's size, cutting it or extending it with zeros.
func (f *memFile) Truncate(size int64) error {
	if f.closed.Load() {
		return pathError("truncate", f.name, fs.ErrClosed)
	}
	if !f.writable || size < 0 || size > maxOffset {
		return pathError("truncate", f.name, syscall.EINVAL)
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.record(memOp{off: size, truncate: true})
	return nil
}

// Size returns the file's current size.
func (f *memFile) Size() (int64, error) {
	if f.closed.Load() {
		return 0, pathError("stat", f.name, fs.ErrClosed)
	}
	f.node.mu.RLock()
	defer f.node.mu.RUnlock()
	return int64(len(f.node.data)), nil
}

// memLock is a lock held on a MemFS file.
type memLock struct {
	fs     *MemFS
	node   *memNode
	name   string
	shared bool
	closed bool // guarded by fs.mu
}

// Close releases the lock. Closing it again fails with fs.ErrClosed.
func (l *memLock) Close() error {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.closed {
		return pathError("close", l.name, fs.ErrClosed)
	}
	l.closed = true
	if n := l.fs.locks[l.node]; l.shared && n > 1 {
		l.fs.locks[l.node] = n - 1
	} else {
		delete(l.fs.locks, l.node)
	}
	return nil
}

// memFileInfo is the os.FileInfo of a MemFS file or directory.
type memFileInfo struct {
	name string
	size int64
	mode os.FileMode
}

func (fi *memFileInfo) Name() string       { return fi.name }
func (fi *memFileInfo) Size() int64        { return fi.size }
func (fi *memFileInfo) Mode() os.FileMode  { return fi.mode }
func (fi *memFileInfo) ModTime() time.Time { return time.Time{} }
func (fi *memFileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *memFileInfo) Sys() any           { return nil }
