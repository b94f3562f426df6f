package hlog

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/fileformat"
	"github.com/rskv-go/rskv/log/vfs"
)

// The on-disk log is a sequence of segment files, each holding a fixed-size,
// aligned stretch of the address space: segment i holds addresses
// [i<<segmentBits, (i+1)<<segmentBits) at file offset SegmentHeaderSize plus
// the address's offset within the segment. A segment starts with a header
// naming the store, the segment and the geometry, so a file from another
// store or another configuration is refused rather than misread.
const (
	// SegmentHeaderSize is the space reserved for a segment's header; data
	// starts after it, aligned for direct I/O.
	SegmentHeaderSize = 4096

	// The durable mark lives at a fixed offset in the header block: an
	// address below which the segment's data was synced, with its own
	// checksum so a torn write of the mark is ignored rather than trusted.
	markOffset = 64
	markSize   = 16
	// markContinues, set in a durable mark, says that the segment was
	// sealed when the log moved on into the next one, which was created
	// (durably) before the mark was written: recovery must find it.
	markContinues = uint64(1) << 63
)

// segKind is a segment's framed header (package fileformat): the store id in
// the frame, then the segment's index and geometry. Its length field is the
// reserved block, SegmentHeaderSize.
var segKind = fileformat.SegmentHeader

// segHeaderUsed is the part of the header block the frame covers.
var segHeaderUsed = segKind.Size()

// SegmentName returns the file name of segment i.
func SegmentName(i uint64) string { return fileformat.Segment.Name(i) }

// parseSegmentName returns the index in a segment file name.
func parseSegmentName(name string) (uint64, bool) { return fileformat.Segment.Parse(name) }

type segmentHeader struct {
	storeID     uint64
	index       uint64
	segmentBits uint32
	pageBits    uint32
}

func (h segmentHeader) encode() []byte {
	b := make([]byte, SegmentHeaderSize)
	binary.LittleEndian.PutUint64(b[24:], h.index)
	binary.LittleEndian.PutUint32(b[32:], h.segmentBits)
	binary.LittleEndian.PutUint32(b[36:], h.pageBits)
	segKind.Seal(b, h.storeID)
	return b
}

func decodeSegmentHeader(b []byte) (segmentHeader, error) {
	fh, err := segKind.Decode(b)
	if err != nil {
		return segmentHeader{}, err
	}
	return segmentHeader{
		storeID:     fh.StoreID,
		index:       binary.LittleEndian.Uint64(b[24:]),
		segmentBits: binary.LittleEndian.Uint32(b[32:]),
		pageBits:    binary.LittleEndian.Uint32(b[36:]),
	}, nil
}

// segmentTable is an immutable snapshot of the open segment files; readers
// load it atomically and never lock.
type segmentTable struct {
	first uint64     // index of files[0]
	files []vfs.File // nil where a segment does not exist
	sizes []int64    // file sizes at the time of the snapshot (disk usage)
	maps  [][]byte   // read-only mappings (nil: read with ReadAt)
}

// clone returns a copy of t that can be changed and published.
func (t *segmentTable) clone() *segmentTable {
	n := &segmentTable{
		first: t.first,
		files: append([]vfs.File(nil), t.files...),
		sizes: append([]int64(nil), t.sizes...),
		maps:  append([][]byte(nil), t.maps...),
	}
	if len(n.maps) < len(n.files) {
		n.maps = append(n.maps, make([][]byte, len(n.files)-len(n.maps))...)
	}
	return n
}

// mapping returns segment i's read-only mapping, if it has one.
func (t *segmentTable) mapping(i uint64) []byte {
	if i < t.first || i-t.first >= uint64(len(t.maps)) {
		return nil
	}
	return t.maps[i-t.first]
}

func (t *segmentTable) get(i uint64) vfs.File {
	if i < t.first || i-t.first >= uint64(len(t.files)) {
		return nil
	}
	return t.files[i-t.first]
}

// device stores the log's flushed bytes in segment files.
type device struct {
	fs          vfs.FS
	dir         string
	segmentBits uint
	pageBits    uint
	storeID     uint64

	table atomic.Pointer[segmentTable]
	mu    sync.Mutex // serialises changes to the table
	// blank lists segment files found without data or a valid header at
	// open; recovery removes them.
	blank []string
	// mmap says to map segments for reading (Options.MmapReads); set by
	// EnableMmap after recovery.
	mmap bool
	// onCreate is called after a segment is created (Config.OnNewSegment).
	onCreate func()
	// readOnly (Config.ReadOnly): files are opened for reading only and
	// every change to them fails with ErrReadOnly.
	readOnly bool
}

// refuseWrite returns ErrReadOnly, naming what was attempted, on a read-only
// device: the last line of defence that keeps a read-only store's directory
// unchanged.
func (d *device) refuseWrite(what string) error {
	if d.readOnly {
		return errors.Wrapf(ErrReadOnly, "rskv/log: %s", what)
	}
	return nil
}

func (d *device) segmentOf(addr uint64) uint64 { return addr >> d.segmentBits }

func (d *device) fileOffset(addr uint64) int64 {
	return SegmentHeaderSize + int64(addr&(1<<d.segmentBits-1))
}

// openSegments opens every segment file in the directory, checking headers.
func (d *device) openSegments() error {
	names, err := d.fs.List(d.dir)
	if err != nil {
		return errors.Wrapf(err, "list %s", d.dir)
	}
	var idx []uint64
	for _, n := range names {
		if i, ok := parseSegmentName(n); ok {
			idx = append(idx, i)
		}
	}
	t := &segmentTable{}
	if len(idx) > 0 {
		t.first = idx[0]
		n := idx[len(idx)-1] - idx[0] + 1
		t.files = make([]vfs.File, n)
		t.sizes = make([]int64, n)
	}
	fail := func(err error) error {
		for _, f := range t.files {
			if f != nil {
				_ = f.Close()
			}
		}
		return err
	}
	for _, i := range idx {
		path := filepath.Join(d.dir, SegmentName(i))
		open := d.fs.OpenReadWrite
		if d.readOnly {
			open = d.fs.Open
		}
		f, err := open(path)
		if err != nil {
			return fail(errors.Wrapf(err, "open segment %s", path))
		}
		t.files[i-t.first] = f
		adviseRandom(f)
		size, err := f.Size()
		if err != nil {
			return fail(errors.Wrapf(err, "size of segment %s", path))
		}
		t.sizes[i-t.first] = size
		hb := make([]byte, segHeaderUsed)
		if n, err := f.ReadAt(hb, 0); err != nil && !(errors.Is(err, io.EOF) && size < int64(segHeaderUsed)) {
			return fail(errors.Wrapf(err, "read header of %s (%d bytes read)", path, n))
		}
		h, err := decodeSegmentHeader(hb)
		if err != nil {
			if size <= SegmentHeaderSize && i == idx[len(idx)-1] {
				// The newest segment has no data and no valid header: a
				// crash between creating it and syncing its header. The
				// previous segment was synced whole before this one was
				// created, so nothing is lost by removing it.
				d.blank = append(d.blank, path)
				t.files[i-t.first] = nil
				t.sizes[i-t.first] = 0
				if err := f.Close(); err != nil {
					return fail(errors.Wrapf(err, "close %s", path))
				}
				continue
			}
			return fail(MarkCorruption(errors.Wrapf(err, "segment %s", path)))
		}
		if h.storeID != d.storeID || h.index != i || uint(h.segmentBits) != d.segmentBits || uint(h.pageBits) != d.pageBits {
			return fail(MarkCorruption(errors.Newf(
				"segment %s belongs to another store or geometry (store %x index %d segment bits %d page bits %d; want store %x index %d segment bits %d page bits %d)",
				path, h.storeID, h.index, h.segmentBits, h.pageBits, d.storeID, i, d.segmentBits, d.pageBits)))
		}
	}
	d.table.Store(t)
	return nil
}

// segmentsPresent returns the indices of existing segments and their sizes.
func (d *device) segmentsPresent() (idx []uint64, sizes []int64) {
	t := d.table.Load()
	for i, f := range t.files {
		if f != nil {
			idx = append(idx, t.first+uint64(i))
			sizes = append(sizes, t.sizes[i])
		}
	}
	return idx, sizes
}

// create makes segment i, writes and syncs its header, and syncs the
// directory so the file survives a crash.
func (d *device) create(i uint64) (vfs.File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.table.Load()
	if f := t.get(i); f != nil {
		return f, nil
	}
	if err := d.refuseWrite("create segment " + SegmentName(i)); err != nil {
		return nil, err
	}
	path := filepath.Join(d.dir, SegmentName(i))
	f, err := d.fs.Create(path)
	if err != nil {
		return nil, errors.Wrapf(err, "create segment %s", path)
	}
	hdr := segmentHeader{storeID: d.storeID, index: i, segmentBits: uint32(d.segmentBits), pageBits: uint32(d.pageBits)}
	if _, err := f.WriteAt(hdr.encode(), 0); err != nil {
		_ = f.Close()
		return nil, errors.Wrapf(err, "write header of %s", path)
	}
	adviseRandom(f)
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, errors.Wrapf(err, "sync %s", path)
	}
	if err := d.fs.SyncDir(d.dir); err != nil {
		_ = f.Close()
		return nil, errors.Wrapf(err, "sync directory %s", d.dir)
	}
	n := t.with(i, f, SegmentHeaderSize)
	if d.mmap {
		if m, ok := d.mapFile(f); ok {
			n.maps[i-n.first] = m
		}
	}
	d.table.Store(n)
	if d.onCreate != nil {
		d.onCreate()
	}
	return f, nil
}

// unblank forgets segment i as debris found at open: recovery's redo of the
// delta log has just created it anew.
func (d *device) unblank(i uint64) {
	path := filepath.Join(d.dir, SegmentName(i))
	keep := d.blank[:0]
	for _, p := range d.blank {
		if p != path {
			keep = append(keep, p)
		}
	}
	d.blank = keep
}

// mapFile maps a segment file for reading, if the file system can.
func (d *device) mapFile(f vfs.File) ([]byte, bool) {
	mf, ok := f.(vfs.Mapper)
	if !ok {
		return nil, false
	}
	m, err := mf.MapRead(SegmentHeaderSize + 1<<d.segmentBits)
	if err != nil {
		return nil, false // reads fall back to ReadAt
	}
	// Point reads: a fault brings in the page it touches, not the
	// kernel's read-around window (8 MiB on some devices), which in a
	// limited page cache would evict pages that are read for neighbours
	// that are not.
	_ = vfs.AdviseMapping(m, vfs.AdviseRandom)
	return m, true
}

// adviseRandom tells the kernel that f is read by point reads (the point
// reads of records below the head are the reads that go through the page
// cache one by one; sequential readers ask for their next chunk with
// prefetch). A file system that takes no advice is left alone.
func adviseRandom(f vfs.File) {
	if a, ok := f.(vfs.Advisor); ok {
		_ = a.Advise(0, 0, vfs.AdviseRandom)
	}
}

// prefetch asks the kernel to start reading n bytes of the log from addr
// (within one segment), for a sequential reader about to need them: with
// read-ahead off for point reads, this is how scans, compaction and
// recovery overlap their reads with their work.
func (d *device) prefetch(addr, n uint64) {
	if n == 0 {
		return
	}
	f := d.table.Load().get(d.segmentOf(addr))
	if a, ok := f.(vfs.Advisor); ok {
		_ = a.Advise(d.fileOffset(addr), int64(n), vfs.AdviseWillNeed)
	}
}

// dropCache drops [from, to) of the log from the OS page cache, after
// writing back whatever of it is dirty (see vfs.AdviseDontNeed). Only
// whole file pages inside the range go. It is for images of records that
// are still in memory: reads find them there, so their file pages only
// take room that, in a memory limit the page cache shares with the
// process, the records below the head need. A file system that takes no
// advice is left alone; advice that fails only leaves the pages cached.
func (d *device) dropCache(from, to uint64) {
	t := d.table.Load()
	for a := from; a < to; {
		i := d.segmentOf(a)
		end := min(to, (i+1)<<d.segmentBits)
		if adv, ok := t.get(i).(vfs.Advisor); ok {
			_ = adv.Advise(d.fileOffset(a), int64(end-a), vfs.AdviseDontNeed)
		}
		a = end
	}
}

// enableMmap maps every segment for reading and maps new ones as they are
// created. It runs after recovery, which may still truncate segments.
func (d *device) enableMmap() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mmap = true
	n := d.table.Load().clone()
	for k, f := range n.files {
		if f != nil && n.maps[k] == nil {
			if m, ok := d.mapFile(f); ok {
				n.maps[k] = m
			}
		}
	}
	d.table.Store(n)
}

// with returns a copy of t with file f as segment i.
func (t *segmentTable) with(i uint64, f vfs.File, size int64) *segmentTable {
	if len(t.files) == 0 {
		return &segmentTable{first: i, files: []vfs.File{f}, sizes: []int64{size}, maps: make([][]byte, 1)}
	}
	lo, hi := min(t.first, i), max(t.first+uint64(len(t.files))-1, i)
	n := &segmentTable{first: lo, files: make([]vfs.File, hi-lo+1), sizes: make([]int64, hi-lo+1), maps: make([][]byte, hi-lo+1)}
	copy(n.files[t.first-lo:], t.files)
	copy(n.sizes[t.first-lo:], t.sizes)
	copy(n.maps[t.first-lo:], t.maps)
	n.files[i-lo] = f
	n.sizes[i-lo] = size
	return n
}

// writeAt writes b at log address addr. b must not cross a segment boundary.
func (d *device) writeAt(b []byte, addr uint64) error {
	if err := d.refuseWrite("write"); err != nil {
		return err
	}
	i := d.segmentOf(addr)
	f := d.table.Load().get(i)
	if f == nil {
		var err error
		if f, err = d.create(i); err != nil {
			return err
		}
	}
	off := d.fileOffset(addr)
	if _, err := f.WriteAt(b, off); err != nil {
		return errors.Wrapf(err, "write %d bytes at address %#x to %s", len(b), addr, SegmentName(i))
	}
	d.noteSize(i, off+int64(len(b)))
	return nil
}

// noteSize records a segment's new size in the table (for disk usage).
func (d *device) noteSize(i uint64, end int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.table.Load()
	if i < t.first || i-t.first >= uint64(len(t.sizes)) || t.sizes[i-t.first] >= end {
		return
	}
	n := t.clone()
	n.sizes[i-t.first] = end
	d.table.Store(n)
}

// readAt reads from log address addr into b and returns the bytes read. A
// short count with a nil error means the data ends (end of file). limit is
// the end of the data known to be in the files (the flushed address): a
// mapped segment is never read past it.
func (d *device) readAt(b []byte, addr, limit uint64) (int, error) {
	i := d.segmentOf(addr)
	t := d.table.Load()
	if m := t.mapping(i); m != nil && addr < limit {
		off := d.fileOffset(addr)
		n := min(uint64(len(b)), limit-addr, uint64(int64(len(m))-off))
		if err := copyMapped(b[:n], m[off:off+int64(n)]); err != nil {
			return 0, errors.Wrapf(err, "read %d bytes at address %#x from the mapping of %s", n, addr, SegmentName(i))
		}
		return int(n), nil
	}
	f := t.get(i)
	if f == nil {
		return 0, nil
	}
	n, err := f.ReadAt(b, d.fileOffset(addr))
	if err == io.EOF {
		err = nil
	}
	if err != nil {
		return n, errors.Wrapf(err, "read %d bytes at address %#x from %s", len(b), addr, SegmentName(i))
	}
	return n, nil
}

// writeMark records in segment i's header that the log was durable below
// addr. It becomes durable with the segment's next sync.
func (d *device) writeMark(i uint64, addr uint64) error {
	if err := d.refuseWrite("write durable mark"); err != nil {
		return err
	}
	f := d.table.Load().get(i)
	if f == nil {
		return nil
	}
	var b [markSize]byte
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	if _, err := f.WriteAt(b[:], markOffset); err != nil {
		return errors.Wrapf(err, "write durable mark of %s", SegmentName(i))
	}
	return nil
}

// readMark returns segment i's durable mark, or 0 if it has none or it is
// torn. A read error is returned, not taken for a missing mark: recovery
// would then call damage below the durable point a torn tail and cut it off.
func (d *device) readMark(i uint64) (uint64, error) {
	f := d.table.Load().get(i)
	if f == nil {
		return 0, nil
	}
	var b [markSize]byte
	n, err := f.ReadAt(b[:], markOffset)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, errors.Wrapf(err, "read durable mark of %s", SegmentName(i))
	}
	if n < markSize {
		return 0, nil
	}
	if crc32.Checksum(b[:8], castagnoli) != binary.LittleEndian.Uint32(b[8:]) {
		return 0, nil
	}
	return binary.LittleEndian.Uint64(b[0:]), nil
}

// sync makes segment i's contents durable.
func (d *device) sync(i uint64) error {
	if err := d.refuseWrite("sync"); err != nil {
		return err
	}
	f := d.table.Load().get(i)
	if f == nil {
		return nil
	}
	if err := f.Sync(); err != nil {
		return errors.Wrapf(err, "sync %s", SegmentName(i))
	}
	return nil
}

// truncate cuts segment i at log address addr (a torn tail) and removes every
// later segment, syncing the result.
func (d *device) truncate(addr uint64) error {
	if err := d.refuseWrite("truncate"); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.table.Load()
	cut := d.segmentOf(addr)
	n := t.clone()
	for k, f := range t.files {
		i := t.first + uint64(k)
		if f == nil || i < cut {
			continue
		}
		if m := n.maps[k]; m != nil {
			if err := vfs.Unmap(m); err != nil {
				return errors.Wrapf(err, "unmap %s", SegmentName(i))
			}
			n.maps[k] = nil
		}
		path := filepath.Join(d.dir, SegmentName(i))
		if i == cut {
			off := d.fileOffset(addr)
			if err := f.Truncate(off); err != nil {
				return errors.Wrapf(err, "truncate %s at %d", path, off)
			}
			if err := f.Sync(); err != nil {
				return errors.Wrapf(err, "sync %s", path)
			}
			n.sizes[k] = off
			continue
		}
		if err := f.Close(); err != nil {
			return errors.Wrapf(err, "close %s", path)
		}
		if err := d.fs.Remove(path); err != nil {
			return errors.Wrapf(err, "remove %s", path)
		}
		n.files[k], n.sizes[k] = nil, 0
	}
	d.table.Store(n)
	return errors.Wrapf(d.fs.SyncDir(d.dir), "sync directory %s", d.dir)
}

// detachedSegment is a segment removed from the table but not yet closed.
type detachedSegment struct {
	index uint64
	file  vfs.File
	size  int64
	mmap  []byte
}

// detachBelow removes every segment wholly below addr from the table, so no
// new reader finds it, and returns them. The caller closes and deletes them
// with removeDetached once no reader can still be using them.
func (d *device) detachBelow(addr uint64) []detachedSegment {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.table.Load()
	limit := d.segmentOf(addr) // segments < limit are wholly below addr
	var gone []detachedSegment
	n := t.clone()
	for k, f := range t.files {
		if i := t.first + uint64(k); f != nil && i < limit {
			gone = append(gone, detachedSegment{index: i, file: f, size: t.sizes[k], mmap: n.maps[k]})
			n.files[k], n.sizes[k], n.maps[k] = nil, 0, nil
		}
	}
	d.table.Store(n)
	return gone
}

// removeDetached closes and deletes detached segments and returns the bytes
// freed.
func (d *device) removeDetached(gone []detachedSegment) (int64, error) {
	var freed int64
	for _, g := range gone {
		path := filepath.Join(d.dir, SegmentName(g.index))
		if g.mmap != nil {
			if err := vfs.Unmap(g.mmap); err != nil {
				return freed, errors.Wrapf(err, "unmap %s", path)
			}
		}
		if err := g.file.Close(); err != nil {
			return freed, errors.Wrapf(err, "close %s", path)
		}
		if d.readOnly {
			continue // closed, left on disk
		}
		if err := d.fs.Remove(path); err != nil {
			return freed, errors.Wrapf(err, "remove %s", path)
		}
		freed += g.size
	}
	if len(gone) == 0 || d.readOnly {
		return 0, nil
	}
	return freed, errors.Wrapf(d.fs.SyncDir(d.dir), "sync directory %s", d.dir)
}

// diskBytes returns the total size of the segment files.
func (d *device) diskBytes() int64 {
	var sum int64
	for _, s := range d.table.Load().sizes {
		sum += s
	}
	return sum
}

// close closes every segment file.
func (d *device) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var first error
	t := d.table.Load()
	for k, f := range t.files {
		if f == nil {
			continue
		}
		if m := t.mapping(t.first + uint64(k)); m != nil {
			if err := vfs.Unmap(m); err != nil && first == nil {
				first = errors.Wrapf(err, "unmap %s", SegmentName(t.first+uint64(k)))
			}
		}
		if err := f.Close(); err != nil && first == nil {
			first = errors.Wrapf(err, "close %s", SegmentName(t.first+uint64(k)))
		}
	}
	d.table.Store(&segmentTable{})
	return first
}
