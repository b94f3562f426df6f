package checkpoint

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"io"
	"path/filepath"
	"sort"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/fileformat"
	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/rskv-go/rskv/log/vfs"
)

const (
	endMagic = "RSKVEND\x00"
	// headerSize is the header's size in the file (the frame's length).
	headerSize = 128
	tmpSuffix  = fileformat.TempSuffix
)

// kind is a checkpoint's framed header (package fileformat): the store id in
// the frame, then the checkpoint's own fields at offsets 24 to 124.
var kind = fileformat.CheckpointHeader

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxBuckets bounds a header's bucket count before anything else is checked
// (the store's own limit is lower still).
const maxBuckets = 1 << 40

// ErrBad marks a checkpoint file that fails validation.
var ErrBad = errors.New("rskv: bad checkpoint")

// Meta is a checkpoint's header.
type Meta struct {
	StoreID uint64
	ID      uint64
	Time    time.Time
	// Start (T1) and End (T2): see the package comment.
	Start, End uint64
	// Begin is the log's begin address when the checkpoint was taken.
	Begin uint64
	// KeySum is the live-key count contributed by all records below Start.
	KeySum int64
	// DeadBytes is the dead-byte estimate at the checkpoint.
	DeadBytes int64
	// Buckets and Overflow give the index's shape; IndexBytes is the size of
	// its (sparse) snapshot in the file.
	Buckets, Overflow int
	IndexBytes        int64
	// Bytes is the file's size (filled in by List and Read).
	Bytes int64
}

// FileName returns the file name of checkpoint id.
func FileName(id uint64) string { return fileformat.Checkpoint.Name(id) }

func parseName(name string) (uint64, bool) { return fileformat.Checkpoint.Parse(name) }

// isTemp reports whether name is a checkpoint file being written.
func isTemp(name string) bool { return fileformat.Checkpoint.IsTemp(name) }

func (m Meta) encode() []byte {
	b := make([]byte, headerSize)
	binary.LittleEndian.PutUint64(b[24:], m.ID)
	binary.LittleEndian.PutUint64(b[32:], uint64(m.Time.UnixNano()))
	binary.LittleEndian.PutUint64(b[40:], m.Start)
	binary.LittleEndian.PutUint64(b[48:], m.End)
	binary.LittleEndian.PutUint64(b[56:], m.Begin)
	binary.LittleEndian.PutUint64(b[64:], uint64(m.KeySum))
	binary.LittleEndian.PutUint64(b[72:], uint64(m.DeadBytes))
	binary.LittleEndian.PutUint64(b[80:], uint64(m.Buckets))
	binary.LittleEndian.PutUint64(b[88:], uint64(m.Overflow))
	binary.LittleEndian.PutUint64(b[96:], uint64(m.IndexBytes))
	kind.Seal(b, m.StoreID)
	return b
}

func decodeMeta(b []byte) (Meta, error) {
	h, err := kind.Decode(b)
	if err != nil {
		return Meta{}, errors.Wrapf(ErrBad, "%v", err)
	}
	m := Meta{
		StoreID:    h.StoreID,
		ID:         binary.LittleEndian.Uint64(b[24:]),
		Time:       time.Unix(0, int64(binary.LittleEndian.Uint64(b[32:]))),
		Start:      binary.LittleEndian.Uint64(b[40:]),
		End:        binary.LittleEndian.Uint64(b[48:]),
		Begin:      binary.LittleEndian.Uint64(b[56:]),
		KeySum:     int64(binary.LittleEndian.Uint64(b[64:])),
		DeadBytes:  int64(binary.LittleEndian.Uint64(b[72:])),
		Buckets:    int(binary.LittleEndian.Uint64(b[80:])),
		Overflow:   int(binary.LittleEndian.Uint64(b[88:])),
		IndexBytes: int64(binary.LittleEndian.Uint64(b[96:])),
	}
	if m.Buckets <= 0 || m.Buckets > maxBuckets || m.Buckets&(m.Buckets-1) != 0 || m.Overflow < 0 || m.Overflow > 1<<32 || m.Start > m.End {
		return Meta{}, errors.Wrapf(ErrBad, "impossible shape or positions (buckets %d, overflow %d, start %#x, end %#x)",
			m.Buckets, m.Overflow, m.Start, m.End)
	}
	if least, most := hashidx.SnapshotSize(m.Buckets, m.Overflow); m.IndexBytes < least || m.IndexBytes > most {
		return Meta{}, errors.Wrapf(ErrBad, "index of %d bytes cannot hold %d buckets and %d overflow buckets (%d to %d bytes)",
			m.IndexBytes, m.Buckets, m.Overflow, least, most)
	}
	return m, nil
}

// Write writes checkpoint m with the index snapshot taken by snapshot (which
// returns the numbers of main and overflow buckets it wrote: the index may
// have grown since m was filled in) and makes it durable. m's Buckets and
// Overflow are filled in from the snapshot. prepare runs after the snapshot
// and before the file is made visible: it sets End and makes the log durable
// up to it, so a checkpoint never names log data that is not on disk.
func Write(fs vfs.FS, dir string, m Meta, snapshot func(io.Writer) (int, int, int64, error), prepare func(*Meta) error) (Meta, error) {
	path := filepath.Join(dir, FileName(m.ID))
	tmp := path + tmpSuffix
	f, err := fs.Create(tmp)
	if err != nil {
		return m, errors.Wrapf(err, "create %s", tmp)
	}
	fail := func(err error) (Meta, error) {
		_ = f.Close()
		_ = fs.Remove(tmp)
		return m, err
	}
	// The header's Overflow is known only after the snapshot: write the body
	// first, then the header in front of it.
	adv, _ := f.(vfs.Advisor)
	fw := &countingWriter{w: &dropBehind{w: io.NewOffsetWriter(f, headerSize), a: adv, off: headerSize, done: headerSize}, n: headerSize}
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(fw, crc), 1<<20)
	buckets, n, written, err := snapshot(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fail(errors.Wrapf(err, "write %s", tmp))
	}
	m.Buckets, m.Overflow, m.IndexBytes = buckets, n, written
	if err := prepare(&m); err != nil {
		return fail(err)
	}
	if want := headerSize + written; fw.n != want {
		return fail(errors.AssertionFailedf("checkpoint body is %d bytes, want %d", fw.n, want))
	}
	var trailer [12]byte
	binary.LittleEndian.PutUint32(trailer[:], crc.Sum32())
	copy(trailer[4:], endMagic)
	if _, err := fw.Write(trailer[:]); err != nil {
		return fail(errors.Wrapf(err, "write %s", tmp))
	}
	if _, err := f.WriteAt(m.encode(), 0); err != nil {
		return fail(errors.Wrapf(err, "write %s", tmp))
	}
	if err := f.Sync(); err != nil {
		return fail(errors.Wrapf(err, "sync %s", tmp))
	}
	if adv != nil {
		_ = adv.Advise(0, 0, vfs.AdviseDontNeed) // the rest (see dropBehind)
	}
	if err := f.Close(); err != nil {
		_ = fs.Remove(tmp)
		return m, errors.Wrapf(err, "close %s", tmp)
	}
	if err := fs.Rename(tmp, path); err != nil {
		return m, errors.Wrapf(err, "rename %s", tmp)
	}
	if err := fs.SyncDir(dir); err != nil {
		return m, errors.Wrapf(err, "sync directory %s", dir)
	}
	m.Bytes = fw.n
	return m, nil
}

// countingWriter counts the bytes written through it.
// dropBehind passes writes on to w and, every dropChunk bytes, has the
// file write back and drop from the page cache what was written before: a
// checkpoint is read only by recovery, and its index snapshot (64 bytes a
// bucket: 64 MiB for 4M keys) would otherwise pass through the page cache
// every CheckpointInterval and push out pages of the log that reads need,
// in a memory limit (a container's) that the process and its page cache
// share. Writing back is not a sync (Write still syncs the file at the
// end); advice that is not taken changes nothing.
type dropBehind struct {
	w         io.Writer
	a         vfs.Advisor // nil: no advice
	off, done int64       // file offsets: written up to, dropped up to
}

const dropChunk = 8 << 20

func (d *dropBehind) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	d.off += int64(n)
	if d.a != nil && d.off-d.done >= dropChunk {
		_ = d.a.Advise(d.done, d.off-d.done, vfs.AdviseDontNeed)
		d.done = d.off
	}
	return n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Shape is what a reader expects of a checkpoint: the store it belongs to
// and the range of its index's size (the index grows, so a checkpoint may
// hold more buckets than the store was created with). A zero field is not
// checked.
type Shape struct {
	StoreID uint64
	// MinBuckets and MaxBuckets bound the checkpoint's bucket count.
	MinBuckets, MaxBuckets int
}

// Read loads checkpoint id, verifying every checksum, and returns its meta
// and index. Errors for a damaged file, or one whose header does not match
// want, match ErrBad. Nothing is allocated for the index until the header
// has been checked against want and against the file's size, so a damaged
// or forged header costs no more memory than the file is worth.
func Read(fs vfs.FS, dir string, id uint64, want Shape) (Meta, *hashidx.Index, error) {
	path := filepath.Join(dir, FileName(id))
	f, err := fs.Open(path)
	if err != nil {
		return Meta{}, nil, errors.Wrapf(err, "open %s", path)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return Meta{}, nil, errors.Wrapf(err, "size of %s", path)
	}
	hb := make([]byte, headerSize)
	if _, err := f.ReadAt(hb, 0); err != nil {
		return Meta{}, nil, errors.Wrapf(ErrBad, "%s: header: %v", path, err)
	}
	m, err := decodeMeta(hb)
	if err != nil {
		return m, nil, errors.Wrapf(err, "%s", path)
	}
	m.Bytes = size
	if m.ID != id {
		return m, nil, errors.Wrapf(ErrBad, "%s: holds checkpoint %d", path, m.ID)
	}
	if want.StoreID != 0 && m.StoreID != want.StoreID {
		return m, nil, errors.Wrapf(ErrBad, "%s: belongs to another store (store %x; want store %x)", path, m.StoreID, want.StoreID)
	}
	if (want.MinBuckets != 0 && m.Buckets < want.MinBuckets) || (want.MaxBuckets != 0 && m.Buckets > want.MaxBuckets) {
		return m, nil, errors.Wrapf(ErrBad, "%s: an index of %d buckets is outside this store's range (%d to %d)",
			path, m.Buckets, want.MinBuckets, want.MaxBuckets)
	}
	body := m.IndexBytes
	if size != headerSize+body+12 {
		return m, nil, errors.Wrapf(ErrBad, "%s: %d bytes, want %d", path, size, headerSize+body+12)
	}
	var trailer [12]byte
	if _, err := f.ReadAt(trailer[:], headerSize+body); err != nil {
		return m, nil, errors.Wrapf(ErrBad, "%s: trailer: %v", path, err)
	}
	if string(trailer[4:]) != endMagic {
		return m, nil, errors.Wrapf(ErrBad, "%s: bad end magic", path)
	}
	crc := crc32.New(castagnoli)
	r := io.TeeReader(bufio.NewReaderSize(io.NewSectionReader(f, headerSize, body), 1<<20), crc)
	x, err := hashidx.LoadSnapshot(r, m.Buckets, m.Overflow)
	if err != nil {
		return m, nil, errors.Wrapf(ErrBad, "%s: %v", path, err)
	}
	if n, _ := io.Copy(io.Discard, r); n != 0 {
		x.Close() // its table may be a mapping off the Go heap
		return m, nil, errors.Wrapf(ErrBad, "%s: %d stray bytes after the index", path, n)
	}
	if crc.Sum32() != binary.LittleEndian.Uint32(trailer[:]) {
		x.Close()
		return m, nil, errors.Wrapf(ErrBad, "%s: index checksum mismatch", path)
	}
	return m, x, nil
}

// List returns the metas of the checkpoints in dir whose headers are valid,
// oldest first. Files with damaged headers are skipped. Leftover temporary
// files are returned in stale.
func List(fs vfs.FS, dir string) (metas []Meta, stale []string, err error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, nil, errors.Wrapf(err, "list %s", dir)
	}
	for _, n := range names {
		if isTemp(n) {
			stale = append(stale, n)
			continue
		}
		id, ok := parseName(n)
		if !ok {
			continue
		}
		m, err := readMeta(fs, filepath.Join(dir, n))
		if err != nil || m.ID != id {
			continue
		}
		metas = append(metas, m)
	}
	sort.Slice(metas, func(i, j int) bool { return metas[i].ID < metas[j].ID })
	return metas, stale, nil
}

// IDs returns the ids of all checkpoint files in dir, valid or not.
func IDs(fs vfs.FS, dir string) ([]uint64, error) {
	ids, _, err := Files(fs, dir)
	return ids, err
}

// Files returns the ids of all checkpoint files in dir, valid or not, in
// ascending order, and the names of leftover temporary files. It reads no
// file: recovery reads each checkpoint with Read, which says what is wrong
// with a damaged one.
func Files(fs vfs.FS, dir string) (ids []uint64, stale []string, err error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, nil, errors.Wrapf(err, "list %s", dir)
	}
	for _, n := range names {
		if isTemp(n) {
			stale = append(stale, n)
		} else if id, ok := parseName(n); ok {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, stale, nil
}

func readMeta(fs vfs.FS, path string) (Meta, error) {
	f, err := fs.Open(path)
	if err != nil {
		return Meta{}, err
	}
	defer f.Close()
	hb := make([]byte, headerSize)
	if _, err := f.ReadAt(hb, 0); err != nil {
		return Meta{}, err
	}
	m, err := decodeMeta(hb)
	if err != nil {
		return m, err
	}
	m.Bytes, err = f.Size()
	return m, err
}

// Remove deletes checkpoint id (or a stale temporary file by name).
func Remove(fs vfs.FS, dir string, name string) error {
	return errors.Wrapf(fs.Remove(filepath.Join(dir, name)), "remove %s", name)
}
