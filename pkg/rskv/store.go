package rskv

import (
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/hashidx"
	"github.com/rskv-go/rskv/internal/checkpoint"
	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/internal/manifest"
	hlog "github.com/rskv-go/rskv/log"
	"github.com/rskv-go/rskv/log/vfs"
)

// lockFileName is the lock file that keeps a second Store, in this process
// or another, from opening the same directory.
const lockFileName = "LOCK"

// Store is an open rskv store. All methods are safe for concurrent use by
// many goroutines.
type Store struct {
	// Read by every operation, written (almost) never: kept together and
	// away from the counters below.
	em      *epoch.Manager
	log     *hlog.Log
	index   *hashidx.Index
	promote *promoter // nil when read promotion is disabled
	closed  atomic.Bool
	dir     string
	opts    Options
	fs      vfs.FS

	// keys and dead are striped by key hash so that no single counter is
	// touched by every write; each stripe has its own cache line. dead
	// is kept per segment (deadbytes.go); its estimates are exact for the
	// segments from deadExactFrom up (written since Open).
	_             [64]byte
	keys          stripedCounter
	dead          deadBytes
	deadExactFrom uint64
	_             [64]byte

	closeMu sync.Mutex // serialises Close
	lock    io.Closer

	// manifestMu guards man and serialises rewrites of the STORE file.
	manifestMu sync.Mutex
	man        manifest.Manifest

	recovery RecoveryInfo
	buckets  int // index size from the manifest

	// opMu is held by manual operations (Checkpoint, Compact); the
	// background services only TryLock it, and skip their turn if it is
	// taken.
	opMu sync.Mutex
	// keySumAt and keySum (guarded by opMu): the live-key changes of all
	// records below keySumAt sum to keySum. Checkpoints extend it.
	keySumAt       uint64
	keySum         int64
	lastCheckpoint checkpoint.Meta
	checkpoints    atomic.Uint64
	compactions    atomic.Uint64
	// inlineMaintenance counts writers that found memory full and made room
	// themselves (rare when the log shifter keeps up).
	inlineMaintenance atomic.Uint64

	// truncMu is held shared by Scan for its whole run and exclusively by
	// compaction while it moves the begin address, so a scan never finds the
	// segment it is reading deleted.
	truncMu sync.RWMutex

	bg background
}

// RecoveryInfo says what Open did to bring the store back.
type RecoveryInfo struct {
	// Created is true when Open created a new store.
	Created bool
	// CheckpointID is the checkpoint recovery started from (0: none, a full
	// log scan).
	CheckpointID uint64
	// From and To delimit the log replayed; BytesReplayed is its size on
	// disk and Records the number of records replayed.
	From, To      uint64
	BytesReplayed int64
	Records       int64
	// TornAt is the address of a torn tail that was cut off (0: none), and
	// TornBytes its size.
	TornAt    uint64
	TornBytes int64
	// Removed lists debris files deleted (blank segments, segments below
	// begin, unfinished checkpoint files).
	Removed []string
	// SkippedCheckpoints explains each checkpoint that failed to load (newest
	// first); recovery fell back to an older one or to a full log scan.
	SkippedCheckpoints []string
	// Duration is the time recovery took.
	Duration time.Duration
}

// geometry is the resolved shape of a store.
type geometry struct {
	pageBits, segmentBits uint
	buckets               int64
	frames, mutable       int
}

// Open opens (creating if needed) the store in dir and recovers its contents.
// A nil opts means all defaults; zero-valued fields take their documented
// default. Open returns ErrInvalidOptions for bad options, ErrLocked if
// another Store has dir open, and ErrCorruption if the data on disk is
// damaged beyond a torn tail. On error nothing is left running or open.
func Open(dir string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errors.Wrap(ErrInvalidOptions, "directory name is empty")
	}
	start := time.Now()
	if err := o.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, errors.Wrapf(err, "rskv: create directory %s", dir)
	}
	// Make the directory's own entry durable, or a crash could lose the store.
	if err := o.FS.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return nil, errors.Wrapf(err, "rskv: sync parent of %s", dir)
	}
	lock, err := o.FS.Lock(filepath.Join(dir, lockFileName))
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return nil, errors.Wrapf(ErrLocked, "%s is open in another Store (lock file %s)", dir, lockFileName)
		}
		return nil, errors.Wrapf(err, "rskv: lock %s", dir)
	}
	s := &Store{dir: dir, opts: o, fs: o.FS, lock: lock, em: epoch.New()}
	s.bg.pressure = make(chan struct{}, 1)
	if !o.DisableReadPromotion {
		s.promote = newPromoter(o.MemorySize)
	}
	if err := s.open(); err != nil {
		if s.log != nil {
			_ = s.log.Close()
		}
		_ = lock.Close()
		return nil, err
	}
	if !o.DisableBackground {
		if err := s.bg.tree.Start(); err != nil {
			_ = s.bg.tree.Stop()
			_ = s.log.Close()
			_ = lock.Close()
			return nil, errors.Wrap(err, "rskv: start background services")
		}
	}
	s.recovery.Duration = time.Since(start)
	o.Logger.Info("rskv: opened", "dir", dir, "keys", s.Len(), "created", s.recovery.Created,
		"replayed_bytes", s.recovery.BytesReplayed, "took", s.recovery.Duration)
	return s, nil
}

func (s *Store) open() error {
	man, created, err := s.loadManifest()
	if err != nil {
		return err
	}
	g, err := s.resolveGeometry(man)
	if err != nil {
		return err
	}
	s.man = man
	s.buckets = int(g.buckets)
	s.log, err = hlog.Open(hlog.Config{
		FS: s.fs, Dir: s.dir, StoreID: man.StoreID,
		PageBits: g.pageBits, SegmentBits: g.segmentBits,
		MemoryPages: g.frames, MutablePages: g.mutable,
		Epoch: s.em, Logger: s.opts.Logger,
		OnPageTurn:   s.signalPressure,
		BeforeEvict:  s.beforeEvict,
		OnNewSegment: s.wakeCollector,
	})
	if err != nil {
		return errors.Wrapf(err, "rskv: open log in %s", s.dir)
	}
	s.recovery.Created = created
	if err := s.recover(); err != nil {
		return err
	}
	return s.buildBackground()
}

// loadManifest reads the STORE file, or creates it for a new store.
func (s *Store) loadManifest() (manifest.Manifest, bool, error) {
	man, err := manifest.Read(s.fs, s.dir)
	switch {
	case err == nil:
		if man.HashFunction != manifest.HashXXH64 {
			return man, false, hlog.MarkCorruption(errors.Newf("rskv: %s: unknown hash function %d", s.dir, man.HashFunction))
		}
		return man, false, nil
	case errors.Is(err, manifest.ErrBadManifest):
		return man, false, hlog.MarkCorruption(errors.Wrapf(err, "rskv: %s", s.dir))
	case !errors.Is(err, fs.ErrNotExist):
		return man, false, errors.Wrapf(err, "rskv: read %s", manifest.FileName)
	}
	// A new store. Refuse a directory that holds log segments but no STORE
	// file: that is a damaged store, not an empty one.
	names, err := s.fs.List(s.dir)
	if err != nil {
		return man, false, errors.Wrapf(err, "rskv: list %s", s.dir)
	}
	for _, n := range names {
		if filepath.Ext(n) == ".log" {
			return man, false, hlog.MarkCorruption(errors.Newf(
				"rskv: %s holds log segments (%s) but no %s file", s.dir, n, manifest.FileName))
		}
	}
	pageSize := s.opts.PageSize
	if pageSize == 0 {
		pageSize = defaultPageSize(s.opts.MemorySize)
	}
	segSize := s.opts.SegmentSize
	if segSize == 0 {
		segSize = defaultSegmentSize(s.opts.MemorySize, pageSize)
	}
	buckets := s.opts.IndexBuckets
	if buckets == 0 {
		buckets = defaultIndexBuckets(s.opts.MemorySize)
	}
	// Check the shape as resolved from defaults before it is fixed on disk:
	// validate sees only the fields the caller set.
	var problems []string
	if segSize < pageSize {
		problems = append(problems, fmt.Sprintf("SegmentSize %d is smaller than the PageSize %d (allowed: SegmentSize >= PageSize)", segSize, pageSize))
	}
	if s.opts.MemorySize < MinPages*pageSize {
		problems = append(problems, fmt.Sprintf("MemorySize %d holds fewer than %d pages of PageSize %d", s.opts.MemorySize, MinPages, pageSize))
	}
	if len(problems) > 0 {
		return man, false, errors.Wrapf(ErrInvalidOptions, "%s", joinProblems(problems))
	}
	man = manifest.Manifest{
		StoreID:      rand.Uint64() | 1,
		PageBits:     uint32(bits.TrailingZeros64(uint64(pageSize))),
		SegmentBits:  uint32(bits.TrailingZeros64(uint64(segSize))),
		IndexBuckets: uint64(buckets),
		HashFunction: manifest.HashXXH64,
		Begin:        hlog.FirstAddress,
	}
	if err := manifest.Write(s.fs, s.dir, man); err != nil {
		return man, false, errors.Wrap(err, "rskv: create store")
	}
	return man, true, nil
}

// resolveGeometry checks the options against the store's fixed shape and
// derives the memory budget in pages.
func (s *Store) resolveGeometry(man manifest.Manifest) (geometry, error) {
	g := geometry{pageBits: uint(man.PageBits), segmentBits: uint(man.SegmentBits), buckets: int64(man.IndexBuckets)}
	pageSize := int64(1) << g.pageBits
	var problems []string
	check := func(name string, asked, have int64) {
		if asked != 0 && asked != have {
			problems = append(problems, name+" differs from the store's (fixed when it was created)")
		}
	}
	check("PageSize", s.opts.PageSize, pageSize)
	check("SegmentSize", s.opts.SegmentSize, int64(1)<<g.segmentBits)
	check("IndexBuckets", s.opts.IndexBuckets, g.buckets)
	if g.pageBits < 12 || g.pageBits > 30 || g.segmentBits < g.pageBits || g.segmentBits > 40 ||
		!isPow2(g.buckets) || g.buckets < minBuckets || g.buckets > maxBuckets {
		return g, hlog.MarkCorruption(errors.Newf("rskv: %s: STORE file has an impossible geometry (page bits %d, segment bits %d, buckets %d)",
			s.dir, g.pageBits, g.segmentBits, g.buckets))
	}
	if s.opts.MemorySize < MinPages*pageSize {
		problems = append(problems, "MemorySize holds fewer than 4 pages of the store's page size")
	}
	if len(problems) > 0 {
		return g, errors.Wrapf(ErrInvalidOptions, "%s (store: PageSize %d, SegmentSize %d, IndexBuckets %d; asked: PageSize %d, SegmentSize %d, IndexBuckets %d, MemorySize %d)",
			joinProblems(problems), pageSize, int64(1)<<g.segmentBits, g.buckets,
			s.opts.PageSize, s.opts.SegmentSize, s.opts.IndexBuckets, s.opts.MemorySize)
	}
	g.frames = int(s.opts.MemorySize / pageSize)
	g.mutable = min(max(1, int(float64(g.frames)*s.opts.MutableFraction)), g.frames-1)
	return g, nil
}

func joinProblems(p []string) string {
	out := ""
	for i, s := range p {
		if i > 0 {
			out += "; "
		}
		out += s
	}
	return out
}

// Close stops the background services, makes every write durable, and
// releases the directory. It is idempotent: later calls return nil. Every
// other method returns ErrClosed afterwards.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed.Load() {
		return nil
	}
	// Mark the store closed and stop the services: a checkpoint or
	// compaction in progress finishes or aborts cleanly, and none starts
	// after.
	s.bg.mu.Lock()
	s.closed.Store(true)
	bgErr := s.stopBackground()
	s.bg.mu.Unlock()
	// Wait out every operation that was running when closed was set; later
	// ones see it and return ErrClosed.
	s.em.BumpAndWait()
	err := bgErr
	if s.closeCheckpointWorthIt() {
		s.opMu.Lock()
		_, err = s.checkpointLocked()
		s.opMu.Unlock()
	}
	if serr := s.log.SyncAll(); err == nil {
		err = serr
	}
	if cerr := s.log.Close(); err == nil {
		err = cerr
	}
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return errors.Wrapf(err, "rskv: close %s", s.dir)
	}
	s.opts.Logger.Info("rskv: closed", "dir", s.dir)
	return nil
}

// stripedCounter is a counter split over cache-line-padded stripes chosen by
// key hash, so that concurrent writers of different keys rarely share a line.
type stripedCounter struct {
	stripes [counterStripes]struct {
		n atomic.Int64
		_ [56]byte
	}
}

const counterStripes = 32

func (c *stripedCounter) add(hash uint64, n int64) {
	c.stripes[hash>>(64-5)].n.Add(n)
}

func (c *stripedCounter) sum() int64 {
	var t int64
	for i := range c.stripes {
		t += c.stripes[i].n.Load()
	}
	return t
}

func (c *stripedCounter) reset(n int64) {
	for i := range c.stripes {
		c.stripes[i].n.Store(0)
	}
	c.stripes[0].n.Store(n)
}
