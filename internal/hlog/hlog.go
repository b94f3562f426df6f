package hlog

import (
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/log/vfs"
)

// FirstAddress is the address of the first record of a new log. Address 0
// means "no record" in hash chains and index entries.
const FirstAddress = 64

// Config describes a log's geometry and collaborators.
type Config struct {
	FS          vfs.FS
	Dir         string
	StoreID     uint64 // written into every segment header
	PageBits    uint   // log2 of the page size
	SegmentBits uint   // log2 of the segment size (>= PageBits)
	// MemoryPages is the number of page frames kept in memory.
	MemoryPages int
	// MutablePages is how many of them the background maintenance keeps
	// mutable; the remaining frames but one hold the read-only region.
	MutablePages int
	Epoch        *epoch.Manager
	Logger       *slog.Logger
	// OnPageTurn, if set, is called without blocking whenever the tail moves
	// to a new page or a writer finds memory full: the log shifter's cue.
	OnPageTurn func()
	// BeforeEvict, if set, is called under the maintenance lock, without
	// epoch protection, before the pages in [from, to) leave memory (they
	// are flushed and read-only). It may append to the log but must never
	// wait for room: the store uses it to keep live records in memory.
	BeforeEvict func(from, to uint64)
	// HandOffTruncation, if set, is called without blocking when a sync
	// (WaitDurable) finds a truncation of the delta log due. Returning true
	// says another goroutine will call MaybeTruncate soon (the store's log
	// shifter), so the syncing goroutine does not run it itself: under
	// SyncPeriodic the syncer keeps its interval while a truncation runs.
	HandOffTruncation func() bool
	// OnNewSegment, if set, is called without blocking after the log
	// creates a segment file: the disk grew, the collector's cue.
	OnNewSegment func()
	// ReadCacheBytes is the size of the read cache of records read from
	// the segment files (readcache.go); 0 or too small for one: none. It
	// comes on top of MemoryPages: the caller carves it out of its budget.
	ReadCacheBytes int64
	// ReadOnly opens the segments for reading only. Recover then repairs
	// nothing on disk (a torn tail is left in place and simply not read;
	// debris is left alone), and every write to the files fails with
	// ErrReadOnly. The caller must not append.
	ReadOnly bool
	// CaptureImages turns on writer-side image capture (dirty.go): an
	// in-place update appends the record's image to a buffer the next
	// delta sync writes as it is, instead of leaving the syncer to copy
	// the record later. Worth it when syncs come often (SyncAlways,
	// SyncPeriodic): under SyncNone the buffers would fill long before
	// the next sync and hold images written again later.
	CaptureImages bool
}

// Log is the hybrid log: one address space whose tail is in memory and
// mutable, whose middle is in memory and read-only, and whose beginning is on
// disk.
//
//	begin        head          safeRO/readOnly        tail
//	  |  on disk   |  in memory, read-only  |  in memory, mutable  |
//
// Invariants: head <= flushed <= safeReadOnly <= readOnly <= tail, and
// begin <= head once anything has been evicted (head is page aligned, so on
// a new log it starts at 0, below FirstAddress; nothing below begin is ever
// read either way).
// Records at or above readOnly may be updated in place; below it they never
// change. Records below flushed are on disk; below durable they survive a
// crash: in the segment files, or (the mutable ones) through the delta log.
// Page frames below safeHead are free (zeroed) for reuse.
type Log struct {
	cfg      Config
	pageBits uint
	pageSize uint64
	pageMask uint64
	nFrames  uint64
	// frameMask is nFrames-1 when nFrames is a power of two (the usual
	// case), so that finding a page's frame needs no division; else 0.
	frameMask uint64
	frames    [][]byte
	// slab holds the frames allocated but not yet handed to a page, and
	// framesMade counts those handed out (under allocMu, or in Start).
	slab       []byte
	framesMade int
	// rc caches records read from disk (nil: none). It is set by Start,
	// after recovery, and never changes after.
	rc *readCache
	// sizer guesses the first read of a record below the head from the
	// records read lately (readsize.go).
	sizer readSizer
	// spareChunk is a scanner's read-ahead buffer kept for the next
	// scanner (scan.go).
	spareChunk atomic.Pointer[[]byte]
	em         *epoch.Manager
	dev        *device
	offBits    uint
	offMask    uint64

	// tail packs (page << offBits) | offset. offBits leaves 16 bits above the
	// page size so that failed reservations past the end of a page never
	// carry into the page number. Every append writes it, so it has a cache
	// line of its own: the boundaries below are read by every operation.
	_    [64]byte
	tail atomic.Uint64
	_    [56]byte

	begin        atomic.Uint64
	head         atomic.Uint64
	safeHead     atomic.Uint64
	readOnly     atomic.Uint64
	safeReadOnly atomic.Uint64
	flushed      atomic.Uint64
	durable      atomic.Uint64

	allocMu sync.Mutex // serialises page turns
	maintMu sync.Mutex // serialises maintenance: shifts, flushes, syncs
	// chunkMu is held by a truncation chunk's I/O, which runs without
	// maintMu, and by the truncation's final fsync: a flush (writing final
	// images where the chunk writes older ones) and ShiftBegin (removing
	// segments) take it, after maintMu, to wait for them.
	chunkMu sync.Mutex
	// syncedSegment is the highest segment already synced whole (maintMu).
	syncedSegment uint64

	// Durability of the mutable region (maintMu; see delta_sync.go). The
	// durable address above is the tail the last sync covered.
	//
	// flushSynced: the segment files hold synced final images below it.
	// segDurable: they hold synced images (perhaps from a mutable flush)
	// below it; the durable marks record it. imaged: the highest address a
	// mutable flush wrote (images above flushed exist up to it). syncTail:
	// the tail of the last delta batch; batchFlushed: its flushSynced.
	flushSynced, segDurable, imaged uint64
	syncTail, batchFlushed          uint64
	idleSyncs                       int
	truncating                      bool
	// truncStart and truncHand bound the chunks the running truncation
	// has written into the segments (maintMu): a sync that images a record
	// there adds it to owed (its image is newer than the segment's), and
	// the sync that ends the truncation images the owed records again into
	// the generation that outlives it (see truncate).
	truncStart, truncHand uint64
	owed                  []uint64
	owedBytes             int64 // the owed images' bytes (duplicates too)
	capturedBytes         int64 // see DeltaStats
	delta                 *deltaLog
	// truncMem is the truncation's chunk buffer (maintMu; scratch.go).
	truncMem    scratch
	truncations atomic.Uint64
	// dirty lists the records updated in place since the last delta sync.
	dirty dirtyList

	// ioErr is the first write or sync error. It is sticky: after a failed
	// fsync the page cache may have dropped the data, so retrying could
	// report durability that does not exist.
	ioErr atomic.Pointer[error]

	// captureSeq numbers the delta syncs' capture points (see WaitDurable).
	captureSeq atomic.Uint64
	// commit is the group commit of WaitDurable.
	commit groupCommit
	// captureAt is when the running sync's capture began (maintMu); pace
	// paces SyncPeriodic writers to the syncs (pace.go).
	captureAt time.Time
	pace      pacer
	// deferred, when set (maintMu), collects the fsyncs of the delta
	// batches a sync writes instead of running them (commitDelta).
	deferred *[]func() error
}

// groupCommit is the state of WaitDurable's group commit, under mu: done
// is the capture number of the last sync it completed.
type groupCommit struct {
	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	done    uint64
	// present counts the callers inside WaitDurable; released is how
	// many of them the last sync served, arrived how many came in
	// since it returned, took how long it took (see gather).
	present, released, arrived int
	took                       time.Duration
}

// Open opens the log's segment files and allocates its page frames. The log
// is not usable until Start; between the two the caller may Recover.
func Open(cfg Config) (*Log, error) {
	if !littleEndian() {
		return nil, errors.New("rskv/log: big-endian machines are not supported")
	}
	if cfg.PageBits < 12 || cfg.PageBits > 30 || cfg.SegmentBits < cfg.PageBits || cfg.SegmentBits > 40 {
		return nil, errors.Newf("rskv/log: bad geometry: page bits %d, segment bits %d", cfg.PageBits, cfg.SegmentBits)
	}
	if cfg.MemoryPages < 4 || cfg.MutablePages < 1 || cfg.MutablePages > cfg.MemoryPages-1 {
		return nil, errors.Newf("rskv/log: bad memory budget: %d frames, %d mutable", cfg.MemoryPages, cfg.MutablePages)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{
		cfg:      cfg,
		pageBits: cfg.PageBits,
		pageSize: 1 << cfg.PageBits,
		pageMask: 1<<cfg.PageBits - 1,
		nFrames:  uint64(cfg.MemoryPages),
		em:       cfg.Epoch,
		offBits:  cfg.PageBits + 16,
	}
	l.offMask = 1<<l.offBits - 1
	if l.nFrames&(l.nFrames-1) == 0 {
		l.frameMask = l.nFrames - 1
	}
	l.commit.cond = sync.NewCond(&l.commit.mu)
	if cfg.CaptureImages && !cfg.ReadOnly {
		l.dirty.capCap = captureStripeBytes(uint64(cfg.MutablePages) << cfg.PageBits)
	}
	l.dev = &device{fs: cfg.FS, dir: cfg.Dir, segmentBits: cfg.SegmentBits, pageBits: cfg.PageBits, storeID: cfg.StoreID,
		onCreate: cfg.OnNewSegment, readOnly: cfg.ReadOnly}
	if err := l.dev.openSegments(); err != nil {
		return nil, err
	}
	l.delta = &deltaLog{fs: cfg.FS, dir: cfg.Dir, storeID: cfg.StoreID, pageBits: cfg.PageBits, segmentBits: cfg.SegmentBits}
	// Frames are allocated on first use (TurnPage, Start), so a store whose
	// data is smaller than MemorySize holds only what it uses.
	l.frames = make([][]byte, l.nFrames)
	return l, nil
}

// PageSize returns the page size in bytes.
func (l *Log) PageSize() uint64 { return l.pageSize }

// MaxRecordSize is the largest record the log accepts: one page.
func (l *Log) MaxRecordSize() uint64 { return l.pageSize }

// Start sets the address space after recovery: the log begins at begin and
// its valid data ends at tail. The last pages before tail are read back into
// memory as the read-only region, so recently written data is hot again.
func (l *Log) Start(begin, tail uint64) error {
	l.begin.Store(begin)
	tailPage := tail >> l.pageBits
	roPages := l.nFrames - uint64(l.cfg.MutablePages) - 1
	loadPage := tailPage - min(tailPage, roPages)
	loadPage = max(loadPage, begin>>l.pageBits)
	for p := loadPage; p <= tailPage; p++ {
		from, to := max(p<<l.pageBits, begin), min((p+1)<<l.pageBits, tail)
		if from >= to {
			continue
		}
		frame := l.ensureFrame(p)
		n, err := l.dev.readAt(frame[from&l.pageMask:to-(p<<l.pageBits)], from, to)
		if err != nil {
			return err
		}
		if uint64(n) != to-from {
			return corruptf("log data ends at %#x, before the recovered tail %#x", from+uint64(n), tail)
		}
		// Records in memory are served without checks, and these pages may
		// lie below the point recovery replayed from (a checkpoint's start):
		// verify them as a read from disk would.
		if err := l.verifyLoaded(frame[from&l.pageMask:to-(p<<l.pageBits)], from); err != nil {
			return err
		}
	}
	head := loadPage << l.pageBits
	l.head.Store(head)
	l.safeHead.Store(head)
	for _, a := range []*atomic.Uint64{&l.readOnly, &l.safeReadOnly, &l.flushed, &l.durable} {
		a.Store(tail)
	}
	l.flushSynced, l.segDurable, l.imaged, l.batchFlushed = tail, tail, tail, tail
	l.setSyncTail(tail)
	// The segment holding the last recovered byte may not be synced (after
	// a crash its data may have come from the page cache): the flush that
	// first enters the next segment must sync it, so name it even when tail
	// is exactly at a segment boundary.
	l.syncedSegment = l.dev.segmentOf(tail - 1)
	l.ensureFrame(tailPage)
	l.tail.Store(tailPage<<l.offBits | tail&l.pageMask)
	// Only now: recovery may have cut a torn tail and rewritten it, the
	// one time the files' bytes at an address change (readcache.go).
	l.rc = newReadCache(l.cfg.ReadCacheBytes)
	return nil
}

// verifyLoaded checks the records in b, which holds the log from address
// addr (a record boundary) to the end of b within one page.
func (l *Log) verifyLoaded(b []byte, addr uint64) error {
	for off := uint64(0); off < uint64(len(b)); {
		a := addr + off
		room := l.pageSize - a&l.pageMask
		rec, st, why := parseRecord(b[off:], room)
		switch st {
		case parsedOK:
			off += rec.Size
		case parsedEmpty:
			rest := min(room, uint64(len(b))-off)
			if why = notEmpty(b[off:off+rest], a, l.pageMask); why != "" {
				return corruptf("record at %#x in %s: %s (found loading the log into memory)",
					a, SegmentName(l.dev.segmentOf(a)), why)
			}
			off += room
		default:
			if why == "" {
				why = "record cut short"
			}
			return corruptf("record at %#x in %s: %s (found loading the log into memory)",
				a, SegmentName(l.dev.segmentOf(a)), why)
		}
	}
	return nil
}

func (l *Log) frame(page uint64) []byte { return l.frames[l.frameIndex(page)] }

func (l *Log) frameIndex(page uint64) uint64 {
	if l.frameMask != 0 {
		return page & l.frameMask
	}
	return page % l.nFrames
}

// ensureFrame allocates page's frame if it has none yet. It runs before the
// page becomes reachable (under allocMu in TurnPage, or in Start), so
// readers, who reach a page only through the tail or a published record,
// always find its frame.
func (l *Log) ensureFrame(page uint64) []byte {
	f := &l.frames[l.frameIndex(page)]
	if *f == nil {
		if uint64(len(l.slab)) < l.pageSize {
			// Frames are cut from slabs of about slabBytes (allocFrames
			// aligns them to huge pages), never more than the frames left
			// to allocate.
			n := max(1, min(int(slabBytes/l.pageSize), int(l.nFrames)-l.framesMade))
			l.slab = allocFrames(l.pageSize, n)
		}
		*f = l.slab[:l.pageSize:l.pageSize]
		l.slab = l.slab[l.pageSize:]
		l.framesMade++
	}
	return *f
}

// slabBytes is the size of the allocations frames are cut from: a few
// frames of the default 4 MiB, so that the 2 MiB an aligned allocation
// may add is a small share of it.
const slabBytes = 32 << 20

// Begin returns the lowest valid address.
func (l *Log) Begin() uint64 { return l.begin.Load() }

// Head returns the lowest address held in memory.
func (l *Log) Head() uint64 { return l.head.Load() }

// ReadOnly returns the lowest mutable address.
func (l *Log) ReadOnly() uint64 { return l.readOnly.Load() }

// SafeReadOnly returns the address below which no goroutine can be updating
// a record in place or changing its lock word.
func (l *Log) SafeReadOnly() uint64 { return l.safeReadOnly.Load() }

// Flushed returns the address below which the log is written to its files.
func (l *Log) Flushed() uint64 { return l.flushed.Load() }

// Durable returns the tail the last sync covered: every record below it,
// with the in-place updates made before that sync, survives a crash.
func (l *Log) Durable() uint64 { return l.durable.Load() }

// Tail returns the address the next record will be written at (or past).
func (l *Log) Tail() uint64 {
	w := l.tail.Load()
	return (w>>l.offBits)<<l.pageBits + min(w&l.offMask, l.pageSize)
}

// DiskBytes returns the bytes the segment files occupy.
func (l *Log) DiskBytes() int64 { return l.dev.diskBytes() }

// DeltaStats describes the delta log.
type DeltaStats struct {
	// Bytes is the size of the delta files on disk; Generations their
	// number; Truncations the mutable flushes since Open.
	Bytes       int64
	Generations int
	Truncations uint64
	// CapturedBytes counts the bytes of the images the writers captured
	// (writer-side capture) that syncs and truncations took since Open.
	CapturedBytes int64
}

// DeltaStats returns the delta log's figures (it takes the maintenance
// lock briefly).
func (l *Log) DeltaStats() DeltaStats {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	return DeltaStats{Bytes: l.delta.total, Generations: len(l.delta.gens), Truncations: l.truncations.Load(),
		CapturedBytes: l.capturedBytes}
}

// Err returns the sticky I/O error, if a write or sync has failed.
func (l *Log) Err() error {
	if p := l.ioErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *Log) fail(err error) error {
	l.ioErr.CompareAndSwap(nil, &err)
	return l.Err()
}

// Allocate reserves size bytes (a multiple of 8, at most a page) at the tail
// and returns their address. It fails when the tail page is full; the caller
// then calls TurnPage. The caller must be epoch-protected from Allocate until
// the record is written, so that no flush reads a half-written record.
func (l *Log) Allocate(size uint64) (uint64, bool) {
	if l.tail.Load()&l.offMask+size > l.pageSize {
		return 0, false
	}
	w := l.tail.Add(size)
	if off := w & l.offMask; off <= l.pageSize {
		return (w>>l.offBits)<<l.pageBits | (off - size), true
	}
	return 0, false
}

// TurnPage moves the tail to the next page if the current one cannot take a
// record of size bytes. It returns errNoRoom (test with NeedsRoom) when the
// next page's frame is still in use; the caller must then release its
// protection, call MakeRoom, and retry its operation.
func (l *Log) TurnPage(size uint64) error {
	l.allocMu.Lock()
	defer l.allocMu.Unlock()
	w := l.tail.Load()
	page, off := w>>l.offBits, w&l.offMask
	if off+size <= l.pageSize {
		return nil // someone turned it already, or there is room after all
	}
	next := page + 1
	if next >= l.safeHead.Load()>>l.pageBits+l.nFrames {
		l.signal()
		return errNoRoom
	}
	if next<<l.pageBits >= 1<<48 {
		return errors.New("rskv/log: log address space exhausted")
	}
	// Bytes of the old page past the last reservation stay zero: readers of
	// the page take a zero info word as its end.
	l.ensureFrame(next)
	l.tail.Store(next << l.offBits)
	l.signal()
	return nil
}

// NeedsRoom reports whether err asks the caller to call MakeRoom.
func NeedsRoom(err error) bool { return err == errNoRoom }

func (l *Log) signal() {
	if l.cfg.OnPageTurn != nil {
		l.cfg.OnPageTurn()
	}
}

// Mem returns the in-memory record at addr. The caller must be protected and
// must have checked addr >= Head() under that protection.
func (l *Log) Mem(addr uint64) MemRecord {
	return MemRecord{r: recordAt(l.frame(addr>>l.pageBits), addr&l.pageMask), l: l, addr: addr}
}

// ReadRecord reads the record at addr from disk into buf (grown as needed)
// and verifies it. It returns the record, whose slices alias the returned
// buffer. The caller must be protected and have checked addr >= Begin().
func (l *Log) ReadRecord(addr uint64, buf []byte) (DiskRecord, []byte, error) {
	if l.rc != nil {
		if b, ok := l.rc.get(addr, buf); ok {
			rec := verifiedRecord(b)
			rec.Address = addr
			return rec, b, nil
		}
	}
	room := l.pageSize - addr&l.pageMask
	want := l.sizer.firstRead(l.dev.fileOffset(addr), room, cap(buf))
	for {
		if uint64(cap(buf)) < want {
			buf = make([]byte, want)
		}
		buf = buf[:want]
		n, err := l.dev.readAt(buf, addr, l.Flushed())
		if err != nil {
			return DiskRecord{}, buf, err
		}
		rec, st, why := parseRecord(buf[:n], room)
		switch st {
		case parsedOK:
			rec.Address = addr
			l.sizer.observe(addr, rec.Size)
			if l.rc != nil {
				l.rc.put(addr, buf[:rec.Size])
			}
			return rec, buf, nil
		case parsedShort:
			if uint64(n) < want || want == room {
				return DiskRecord{}, buf, corruptf("record at %#x in %s is cut short (read %d bytes)",
					addr, SegmentName(l.dev.segmentOf(addr)), n)
			}
			if len(buf) >= 24 {
				want = min(room, sizeFromLengths(binary.LittleEndian.Uint64(buf[16:])))
			} else {
				want = room
			}
		default:
			if why == "" {
				why = "no record"
			}
			return DiskRecord{}, buf, corruptf("record at %#x in %s: %s", addr, SegmentName(l.dev.segmentOf(addr)), why)
		}
	}
}

// The first read of a record below the head, whose size is not known
// yet, before the log has a guess from the records read lately
// (readsize.go): at least firstReadMin bytes (most records fit), at most
// firstReadMax (the caller's buffer may be larger), and never across a
// block of the file (fileBlock) unless fewer than firstReadEdge bytes are
// left before it: a read that crosses one touches two pages of the page
// cache, and when the second is not cached it costs a second read from the
// device, for bytes the record usually does not need. A record that does
// cross (its header says how long it is) is read again whole.
const (
	firstReadMin  = 512
	firstReadMax  = 4096
	firstReadEdge = 64
	fileBlock     = 4096
)

// firstReadSize returns how many bytes to read first for a record at file
// offset off with room bytes left in its page, into a buffer of capacity
// bufCap.
func firstReadSize(off int64, room uint64, bufCap int) uint64 {
	want := min(room, uint64(min(max(bufCap, firstReadMin), firstReadMax)))
	if edge := uint64(fileBlock - off%fileBlock); edge >= firstReadEdge && edge < want {
		want = edge
	}
	return want
}

// NewRecord writes a record into space just allocated at addr and returns it.
// The record is not yet visible to anyone: the caller publishes it by
// swapping its address into the index.
func (l *Log) NewRecord(addr uint64, info uint64, key, value []byte, slack int) MemRecord {
	r := l.Mem(addr)
	r.r.writeNew(info, key, value, slack)
	return r
}

// EnableMmap makes reads of records below the head use read-only memory
// mappings of the segment files, where the file system supports them:
// no system call per read when the OS page cache holds the data. The
// trade-off: an I/O error while the kernel reads a mapped page raises
// SIGBUS, which stops the process, where a read would have returned an
// error. Call it after Start.
func (l *Log) EnableMmap() { l.dev.enableMmap() }

// Close releases the segment and delta files. The caller has made the log
// durable and stopped every reader and writer. If the last SyncAll folded
// the delta log into the segments and nothing changed since, the delta
// files go too, so a clean reopen has nothing to redo.
func (l *Log) Close() error {
	l.SetSyncDeadline(0) // stops the pacer's timer, releases paced writers
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	err := l.delta.closeFile()
	if err == nil && l.Err() == nil && !l.delta.imagesInGen && l.syncTail == l.Tail() && l.dirty.empty() && len(l.delta.gens) > 0 {
		err = l.delta.dropBelow(l.delta.gen + 1)
	}
	if cerr := l.dev.close(); err == nil {
		err = cerr
	}
	// No sync or truncation runs after Close: their buffers can go.
	l.delta.mem.free()
	l.delta.buf = nil
	l.truncMem.free()
	return err
}

// captureShare is the part of the mutable region's bytes that the writers'
// capture buffers (dirty.go) may hold, on each side of the swap (so twice
// that in memory). A sync window that captures more falls back to the
// dirty list. (A variable for tests and measurements.)
var captureShare = 4

// captureStripeBytes is the capacity of one stripe's capture buffer for a
// mutable region of mutable bytes.
func captureStripeBytes(mutable uint64) int {
	return int(min(max(mutable/uint64(captureShare)/dirtyStripes, 16<<10), 1<<20))
}
