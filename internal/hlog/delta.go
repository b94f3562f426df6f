package hlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/log/vfs"
)

// The delta log makes the mutable region durable without making it
// read-only (FASTER's incremental-snapshot delta log, Tsavorite's DeltaLog).
// Each sync appends one batch: the images of the records written since the
// previous sync, as one contiguous byte range laid out as in the log, and
// the images of older mutable records updated in place since then. Recovery
// writes the images back at their addresses in the segment files ("redo")
// before the usual checkpoint-and-replay recovery, which then finds a log
// as if it had been flushed. A truncation ("mutable flush") writes images of
// the whole mutable region into the segment files and lets the older delta
// files go; see docs/durability.md.
//
// A delta file ("delta-<generation>.log") is a header block and a sequence of
// batches (frames):
//
//	file header, deltaHeaderSize bytes:
//	0  8  magic "RSKVDLT\x00"
//	8  4  format version
//	12 4  header size
//	16 8  store id
//	24 8  generation
//	32 4  page bits
//	36 4  segment bits
//	40 4  CRC-32C of bytes [0, 40)
//
//	frame, 8-byte aligned:
//	0  4  frame magic
//	4  4  CRC-32C of bytes [8, end of payload)
//	8  8  payload length
//	16 8  batch sequence number (increasing over all generations)
//	24 8  flushed: the segment files hold synced final images below it
//	32 8  tail: the log is durable below it once this batch is
//	40 8  base: the oldest generation recovery must apply
//	48 .. payload: entries of (address u64, length u64, image bytes),
//	      lengths multiples of 8, each image within one page
//
// An entry's length word has its low 3 bits free (lengths are multiples of
// 8). Format version 2 uses bit 0, entryUnstamped: the image is one whole
// record whose checksum field was left for recovery to fill in. A writer
// captures such images with the record hot in its cache, on the put's own
// path (dirty.go); the record checksum cost it about 70 ns a put, and the
// frame checksum already covers every byte, so redo stamps the record
// (stampImage) before it writes it into its segment. Version 1 files (no
// flag) are still read.
const (
	deltaMagic      = "RSKVDLT\x00"
	deltaVersion    = 2
	deltaMinVersion = 1 // the oldest version redo reads
	deltaHeaderSize = 64
	deltaPrefix     = "delta-"
	deltaSuffix     = ".log"
	frameHeaderSize = 48
	frameMagic      = 0x42544c44 // "DLTB"
	entryHeaderSize = 16
	// entryUnstamped flags an entry (version 2) holding one record whose
	// checksum redo stamps.
	entryUnstamped = 1
	entryFlags     = 7
)

// entrySize returns the bytes an entry whose length word is w takes in a
// batch, header included.
func entrySize(w uint64) int { return entryHeaderSize + int(w&^entryFlags) }

// DeltaName returns the file name of delta generation gen.
func DeltaName(gen uint64) string { return fmt.Sprintf("%s%016x%s", deltaPrefix, gen, deltaSuffix) }

func parseDeltaName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, deltaPrefix) || !strings.HasSuffix(name, deltaSuffix) {
		return 0, false
	}
	var g uint64
	if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(name, deltaPrefix), deltaSuffix), "%016x", &g); err != nil {
		return 0, false
	}
	if DeltaName(g) != name {
		return 0, false
	}
	return g, true
}

// deltaLog writes the delta files. It is used under the log's maintMu.
type deltaLog struct {
	fs                    vfs.FS
	dir                   string
	storeID               uint64
	pageBits, segmentBits uint

	gen  uint64   // current generation
	file vfs.File // current file; nil until its first batch
	size int64    // current file's size
	// dropped is the offset below which the current file's pages were
	// dropped from the page cache (see dropSynced).
	dropped int64
	gens    []uint64 // generations on disk, ascending (the current one last, once created)
	// sizes has each generation's file size.
	sizes map[uint64]int64
	// base is the oldest generation recovery must apply, written in every
	// batch: a completed truncation raises it to its own generation.
	base uint64
	seq  uint64
	// sinceTrunc counts the bytes written since the last truncation; the
	// truncation policy compares it with its threshold.
	sinceTrunc int64
	// total is the size of all delta files on disk; published mirrors it
	// for Stats, which must not wait for maintMu (held across fsyncs).
	total     int64
	published atomic.Int64
	// imagesInGen says the current generation holds images that the
	// segment files may lack (a truncation under writers leaves some).
	imagesInGen bool

	buf []byte // the batch being built: its header and own entries
	// mem holds buf once a batch outgrows deltaBufStep (scratch.go);
	// memUsed says a batch larger than scratchKeep was committed since its
	// memory was last given back (settle).
	mem     scratch
	memUsed bool
	// parts are entries that go between the batch's header and the
	// entries in buf, written from where they are (the writers' capture
	// buffers, dirty.go) rather than copied into buf; partsLen is their
	// total length. They must stay untouched until commit returns.
	parts    [][]byte
	partsLen int

	// truncMu is held by a running truncation (taken before maintMu, never
	// while holding it): one runs at a time.
	truncMu sync.Mutex
}

// begin starts a batch.
func (d *deltaLog) begin() {
	d.buf = append(d.buf[:0], make([]byte, frameHeaderSize)...)
	clear(d.parts)
	d.parts, d.partsLen = d.parts[:0], 0
}

// addPart adds entries (whole, in the batch format) to be written from p
// itself, before the entries added with add.
func (d *deltaLog) addPart(p []byte) {
	d.parts = append(d.parts, p)
	d.partsLen += len(p)
}

// pending is the size of the batch being built.
func (d *deltaLog) pending() int { return len(d.buf) + d.partsLen }

// add appends an entry for an image of n bytes at addr and returns the
// space for the image.
func (d *deltaLog) add(addr uint64, n int) []byte {
	off := len(d.buf)
	if need := off + entryHeaderSize + n; need > cap(d.buf) {
		d.grow(need)
	}
	d.buf = d.buf[:off+entryHeaderSize+n]
	binary.LittleEndian.PutUint64(d.buf[off:], addr)
	binary.LittleEndian.PutUint64(d.buf[off+8:], uint64(n))
	return d.buf[off+entryHeaderSize:]
}

// deltaBufStep is the batch size past which the batch buffer grows to its
// largest size at once.
const deltaBufStep = 1 << 20

// grow makes the batch buffer hold need bytes. A batch spills at about
// deltaBatchBytes, plus at most a page piece or a record: past
// deltaBufStep the buffer gets that size (for pages up to 4 MiB) at once,
// and doubles from there, in a scratch buffer whose memory commit gives
// back after a large batch. Growing it in append's
// steps (1.25x when large) would leave several times its size behind as
// garbage, and in a store whose live heap is mostly page frames and index
// the collector, whose goal is twice the live heap, does not reclaim it for
// a long time: every MiB of it is a MiB the page cache does not get.
func (d *deltaLog) grow(need int) {
	c := max(need, 2*cap(d.buf))
	if c > deltaBufStep && cap(d.buf) < deltaBatchBytes {
		c = max(need, deltaBatchBytes+min(1<<d.pageBits, 4<<20)+deltaBufStep)
	}
	if c <= deltaBufStep {
		d.buf = slices.Grow(d.buf, c-len(d.buf))
		return
	}
	d.buf = d.mem.grow(d.buf, c)
}

// unadd removes the entry just added, of n image bytes.
func (d *deltaLog) unadd(n int) { d.buf = d.buf[:len(d.buf)-entryHeaderSize-n] }

// empty says whether the batch has no entries.
func (d *deltaLog) empty() bool { return len(d.buf) == frameHeaderSize && d.partsLen == 0 }

// commit writes the batch with its flushed and tail addresses and syncs it.
// A chunk batch of a truncation (chunk) holds images the truncation writes
// into the segments too: it does not count as images left in the
// generation once the truncation is done.
func (d *deltaLog) commit(flushed, tail uint64, chunk bool) error {
	sync, err := d.write(flushed, tail, chunk)
	if err != nil {
		return err
	}
	return sync()
}

// write is commit without the fsync: it writes the batch and returns the
// fsync that makes it durable, which may run without maintMu (a truncation
// chunk's does; see truncateChunkLocked). The batch counts as written at
// once, so the next one goes after it; until the fsync returned it is not
// durable. A failed fsync fails the log, so the accounting never matters
// after one.
func (d *deltaLog) write(flushed, tail uint64, chunk bool) (func() error, error) {
	if d.file == nil {
		if err := d.create(); err != nil {
			return nil, err
		}
	}
	// The earlier batches are synced by now (but a truncation chunk's,
	// whose fsync may still be running: dirty pages are not dropped, only
	// written back sooner).
	d.dropSynced()
	d.seq++
	b := d.buf
	n := len(b) + d.partsLen // the frame's size
	binary.LittleEndian.PutUint32(b[0:], frameMagic)
	binary.LittleEndian.PutUint64(b[8:], uint64(n-frameHeaderSize))
	binary.LittleEndian.PutUint64(b[16:], d.seq)
	binary.LittleEndian.PutUint64(b[24:], flushed)
	binary.LittleEndian.PutUint64(b[32:], tail)
	binary.LittleEndian.PutUint64(b[40:], d.base)
	name := DeltaName(d.gen)
	if len(d.parts) == 0 {
		binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
		if _, err := d.file.WriteAt(b, d.size); err != nil {
			return nil, errors.Wrapf(err, "write %d bytes at offset %d of %s", len(b), d.size, name)
		}
	} else {
		// The same bytes as one frame: header, parts, own entries.
		c := crc32.Checksum(b[8:frameHeaderSize], castagnoli)
		for _, p := range d.parts {
			c = crc32.Update(c, castagnoli, p)
		}
		c = crc32.Update(c, castagnoli, b[frameHeaderSize:])
		binary.LittleEndian.PutUint32(b[4:], c)
		off := d.size
		write := func(p []byte) error {
			if _, err := d.file.WriteAt(p, off); err != nil {
				return errors.Wrapf(err, "write %d bytes at offset %d of %s", len(p), off, name)
			}
			off += int64(len(p))
			return nil
		}
		if err := write(b[:frameHeaderSize]); err != nil {
			return nil, err
		}
		for _, p := range d.parts {
			if err := write(p); err != nil {
				return nil, err
			}
		}
		if len(b) > frameHeaderSize {
			if err := write(b[frameHeaderSize:]); err != nil {
				return nil, err
			}
		}
	}
	d.size += int64(n)
	d.sizes[d.gen] = d.size
	d.total += int64(n)
	d.published.Store(d.total)
	if !chunk {
		d.sinceTrunc += int64(n)
		d.imagesInGen = d.imagesInGen || n > frameHeaderSize
	}
	if len(b) > scratchKeep {
		d.memUsed = true
	} else {
		d.settle()
	}
	f := d.file
	return func() error {
		if err := f.Sync(); err != nil {
			return errors.Wrapf(err, "sync %s", name)
		}
		return nil
	}, nil
}

// deltaDropBytes is how much a delta file grows between two drops of its
// synced pages from the page cache: a drop is two system calls, and a
// group commit under SyncAlways commits a small batch per few writers.
const deltaDropBytes = 1 << 20

// dropSynced drops the current file's synced pages from the OS page cache,
// all but the last partial one, which the next batch writes into (were it
// dropped, that write would first read it back from the device). Only
// recovery reads a delta file, so its pages in the cache are dead weight,
// and a bulk load writes every record into it: in a memory limit that the
// page cache shares with the process, they pushed out the segment pages
// that reads below the head need. It runs before a batch is written, when
// the batches before it have been synced.
func (d *deltaLog) dropSynced() {
	if d.size-d.dropped < deltaDropBytes {
		return
	}
	end := d.size &^ (fileBlock - 1)
	if a, ok := d.file.(vfs.Advisor); ok {
		_ = a.Advise(d.dropped, end-d.dropped, vfs.AdviseDontNeed)
	}
	d.dropped = end
}

// settle gives the batch buffer's memory past scratchKeep back to the OS
// once the large batches are over: at the first small batch or idle sync
// after one (so a stream of large ones, a bulk load, does not fault the
// buffer in again for each).
func (d *deltaLog) settle() {
	if d.memUsed {
		d.mem.release()
		d.memUsed = false
	}
}

// create makes the current generation's file with a synced header and a
// synced directory entry.
func (d *deltaLog) create() error {
	path := filepath.Join(d.dir, DeltaName(d.gen))
	f, err := d.fs.Create(path)
	if err != nil {
		return errors.Wrapf(err, "create delta log %s", path)
	}
	h := make([]byte, deltaHeaderSize)
	copy(h, deltaMagic)
	binary.LittleEndian.PutUint32(h[8:], deltaVersion)
	binary.LittleEndian.PutUint32(h[12:], deltaHeaderSize)
	binary.LittleEndian.PutUint64(h[16:], d.storeID)
	binary.LittleEndian.PutUint64(h[24:], d.gen)
	binary.LittleEndian.PutUint32(h[32:], uint32(d.pageBits))
	binary.LittleEndian.PutUint32(h[36:], uint32(d.segmentBits))
	binary.LittleEndian.PutUint32(h[40:], crc32.Checksum(h[:40], castagnoli))
	if _, err := f.WriteAt(h, 0); err != nil {
		_ = f.Close()
		return errors.Wrapf(err, "write header of %s", path)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return errors.Wrapf(err, "sync %s", path)
	}
	if err := d.fs.SyncDir(d.dir); err != nil {
		_ = f.Close()
		return errors.Wrapf(err, "sync directory %s", d.dir)
	}
	d.file, d.size, d.dropped = f, deltaHeaderSize, 0
	if d.sizes == nil {
		d.sizes = map[uint64]int64{}
	}
	d.sizes[d.gen] = d.size
	d.total += deltaHeaderSize
	d.published.Store(d.total)
	d.gens = append(d.gens, d.gen)
	return nil
}

// next closes the current generation (every batch in it is synced) and
// starts the next one, creating its file at once.
func (d *deltaLog) next() error {
	if err := d.closeFile(); err != nil {
		return err
	}
	d.gen++
	d.imagesInGen = false
	return d.create()
}

func (d *deltaLog) closeFile() error {
	if d.file == nil {
		return nil
	}
	f := d.file
	d.file = nil
	return errors.Wrapf(f.Close(), "close %s", DeltaName(d.gen))
}

// dropBelow deletes the generations older than gen. Recovery ignores them
// already: a synced batch of gen carries base = gen.
func (d *deltaLog) dropBelow(gen uint64) error {
	var keep []uint64
	removed := false
	for _, g := range d.gens {
		if g >= gen {
			keep = append(keep, g)
			continue
		}
		path := filepath.Join(d.dir, DeltaName(g))
		if err := d.fs.Remove(path); err != nil {
			return errors.Wrapf(err, "remove delta log %s", path)
		}
		d.total -= d.sizes[g]
		delete(d.sizes, g)
		removed = true
	}
	d.gens = keep
	d.published.Store(d.total)
	if removed {
		if err := d.fs.SyncDir(d.dir); err != nil {
			return errors.Wrapf(err, "sync directory %s", d.dir)
		}
	}
	return nil
}

// deltaFrame is a batch read back.
type deltaFrame struct {
	version                  uint32 // the file's format version
	gen                      uint64
	offset                   int64
	seq, flushed, tail, base uint64
	payload                  []byte
}

// entries calls fn for each image of the frame, with its record checksums
// set. Unstamped images are stamped in the frame's payload.
func (f *deltaFrame) entries(pageSize uint64, fn func(addr uint64, img []byte) error) error {
	p := f.payload
	for len(p) > 0 {
		if len(p) < entryHeaderSize {
			return corruptf("delta log %s: batch at offset %d: entry cut short", DeltaName(f.gen), f.offset)
		}
		addr, w := binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])
		n, flags := w&^entryFlags, w&entryFlags
		if n == 0 || addr%8 != 0 || addr < FirstAddress || n > uint64(len(p)-entryHeaderSize) ||
			addr&(pageSize-1)+n > pageSize || flags&^entryUnstamped != 0 || (flags != 0 && f.version < 2) {
			return corruptf("delta log %s: batch at offset %d: bad entry (address %#x, length word %#x)",
				DeltaName(f.gen), f.offset, addr, w)
		}
		img := p[entryHeaderSize : entryHeaderSize+n]
		if flags&entryUnstamped != 0 {
			if n < RecordHeaderSize || sizeFromLengths(binary.LittleEndian.Uint64(img[16:])) != n {
				return corruptf("delta log %s: batch at offset %d: unstamped entry at address %#x is not one %d-byte record",
					DeltaName(f.gen), f.offset, addr, n)
			}
			stampImage(img)
		}
		if err := fn(addr, img); err != nil {
			return err
		}
		p = p[entryHeaderSize+n:]
	}
	return nil
}

// deltaReader reads one delta file.
type deltaReader struct {
	f       vfs.File
	name    string
	gen     uint64
	version uint32
	size    int64
}

func openDelta(fs vfs.FS, dir string, gen, storeID uint64, pageBits, segmentBits uint) (*deltaReader, error) {
	path := filepath.Join(dir, DeltaName(gen))
	f, err := fs.Open(path)
	if err != nil {
		return nil, errors.Wrapf(err, "open delta log %s", path)
	}
	r := &deltaReader{f: f, name: DeltaName(gen), gen: gen}
	if r.size, err = f.Size(); err != nil {
		_ = f.Close()
		return nil, errors.Wrapf(err, "size of %s", path)
	}
	h := make([]byte, deltaHeaderSize)
	n, err := f.ReadAt(h, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		_ = f.Close()
		return nil, errors.Wrapf(err, "read header of %s", path)
	}
	bad := func(why string) (*deltaReader, error) {
		_ = f.Close()
		return nil, corruptf("delta log %s: %s", path, why)
	}
	r.version = binary.LittleEndian.Uint32(h[8:])
	switch {
	case n < 44 || string(h[:8]) != deltaMagic:
		return bad("not an rskv delta log (bad magic or short header)")
	case r.version < deltaMinVersion || r.version > deltaVersion:
		return bad(fmt.Sprintf("format version %d is not supported (want %d to %d)", r.version, deltaMinVersion, deltaVersion))
	case crc32.Checksum(h[:40], castagnoli) != binary.LittleEndian.Uint32(h[40:]):
		return bad("header checksum mismatch")
	case binary.LittleEndian.Uint64(h[16:]) != storeID || binary.LittleEndian.Uint64(h[24:]) != gen ||
		binary.LittleEndian.Uint32(h[32:]) != uint32(pageBits) || binary.LittleEndian.Uint32(h[36:]) != uint32(segmentBits):
		return bad(fmt.Sprintf("belongs to another store, generation or geometry (store %x generation %d page bits %d segment bits %d)",
			binary.LittleEndian.Uint64(h[16:]), binary.LittleEndian.Uint64(h[24:]),
			binary.LittleEndian.Uint32(h[32:]), binary.LittleEndian.Uint32(h[36:])))
	}
	return r, nil
}

// frameAt reads and verifies the frame at off into buf. ok is false, with
// why, when the bytes there are not a whole valid frame.
func (r *deltaReader) frameAt(off int64, buf []byte) (f deltaFrame, _ []byte, why string, err error) {
	var h [frameHeaderSize]byte
	if r.size-off < frameHeaderSize {
		return f, buf, "batch header cut short", nil
	}
	if _, err := r.f.ReadAt(h[:], off); err != nil {
		return f, buf, "", errors.Wrapf(err, "read %s at offset %d", r.name, off)
	}
	if binary.LittleEndian.Uint32(h[0:]) != frameMagic {
		return f, buf, "bad batch magic", nil
	}
	n := binary.LittleEndian.Uint64(h[8:])
	if n%8 != 0 || n > uint64(r.size-off-frameHeaderSize) {
		return f, buf, "batch cut short or bad length", nil
	}
	buf = slices.Grow(buf[:0], int(n))[:n]
	if n > 0 {
		if _, err := r.f.ReadAt(buf, off+frameHeaderSize); err != nil && !errors.Is(err, io.EOF) {
			return f, buf, "", errors.Wrapf(err, "read %s at offset %d", r.name, off)
		}
	}
	c := crc32.Update(crc32.Checksum(h[8:], castagnoli), castagnoli, buf)
	if c != binary.LittleEndian.Uint32(h[4:]) {
		return f, buf, "batch checksum mismatch", nil
	}
	return deltaFrame{
		version: r.version, gen: r.gen, offset: off,
		seq: binary.LittleEndian.Uint64(h[16:]), flushed: binary.LittleEndian.Uint64(h[24:]),
		tail: binary.LittleEndian.Uint64(h[32:]), base: binary.LittleEndian.Uint64(h[40:]),
		payload: buf,
	}, buf, "", nil
}

// validAfter reports whether a valid frame starts at any 8-byte aligned
// offset after off: evidence that damage at off is not a torn tail.
func (r *deltaReader) validAfter(off int64) (int64, bool, error) {
	var buf []byte
	var m [4]byte
	for o := off + 8; o+frameHeaderSize <= r.size; o += 8 {
		if _, err := r.f.ReadAt(m[:], o); err != nil {
			return 0, false, errors.Wrapf(err, "read %s at offset %d", r.name, o)
		}
		if binary.LittleEndian.Uint32(m[:]) != frameMagic {
			continue
		}
		_, b, why, err := r.frameAt(o, buf)
		buf = b
		if err != nil {
			return 0, false, err
		}
		if why == "" {
			return o, true, nil
		}
	}
	return 0, false, nil
}

// deltaGens lists the delta generations in dir, ascending.
func deltaGens(fs vfs.FS, dir string) ([]uint64, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, errors.Wrapf(err, "list %s", dir)
	}
	var gens []uint64
	for _, n := range names {
		if g, ok := parseDeltaName(n); ok {
			gens = append(gens, g)
		}
	}
	slices.Sort(gens)
	return gens, nil
}

// DeltaBytes is the size of the delta files on disk. Unlike DeltaStats it
// does not wait for a sync or truncation in progress, so Stats can call it.
func (l *Log) DeltaBytes() int64 { return l.delta.published.Load() }
