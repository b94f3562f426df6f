package rskv

import (
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/checkpoint"
	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/internal/fileformat"
	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/rskv-go/rskv/internal/hlog"
	"github.com/rskv-go/rskv/internal/manifest"
	"github.com/rskv-go/rskv/log/vfs"
)

// lockFileName is the lock file that keeps a second Store, in this process
// or another, from opening the same directory.
const lockFileName = fileformat.LockFile

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
	// geo is the store's shape, set by Open and never changed: read it,
	// not man, for page and segment sizes, index size and store id.
	geo geometry

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

	// opMu is held by manual operations (Checkpoint, Compact); the
	// background services only TryLock it, and skip their turn if it is
	// taken.
	opMu sync.Mutex
	// commitMu serialises the commits of batches and transactions: it is
	// held while a commit's records are written and published (commit.go).
	// A checkpoint samples its start under it, and Backup its point, so
	// that no commit straddles them (each is wholly in or out).
	commitMu sync.Mutex
	// commitStart is where the commit in flight began writing (0: none):
	// compaction stops below it, for its records are not linked yet.
	commitStart atomic.Uint64
	// keySumAt and keySum (guarded by opMu): the live-key changes of all
	// records below keySumAt sum to keySum. Checkpoints extend it.
	keySumAt       uint64
	keySum         int64
	lastCheckpoint checkpoint.Meta
	ckptFiles      checkpointFiles // sizes of the checkpoint files (checkpoint.go)
	checkpoints    atomic.Uint64
	compactions    atomic.Uint64
	// inlineMaintenance counts writers that found memory full and made room
	// themselves (rare when the log shifter keeps up).
	inlineMaintenance atomic.Uint64
	// growing is set while an index grower runs; indexGrowths counts the
	// doublings (indexgrowth.go).
	growing      atomic.Bool
	indexGrowths atomic.Uint64

	// life is the gate Close shuts and waits on (lifecycle.go).
	life lifecycle
	// scans defers compaction's truncation while Scans run (scan.go).
	scans scanRegistry
	// expiry is the expirer's cursor (expirer.go); expiring counts the
	// bytes written with an expiry per segment (expiry.go).
	expiry   expirerState
	expiring expiringBytes

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
	var lock io.Closer
	if o.ReadOnly {
		// Create nothing, sync nothing: see readonly.go.
		var err error
		if lock, err = lockShared(o.FS, dir); err != nil {
			return nil, err
		}
	} else {
		if err := o.FS.MkdirAll(dir, 0o755); err != nil {
			return nil, errors.Wrapf(err, "rskv: create directory %s", dir)
		}
		// Make the directory's own entry durable, or a crash could lose the store.
		if err := o.FS.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, errors.Wrapf(err, "rskv: sync parent of %s", dir)
		}
		var err error
		if lock, err = o.FS.Lock(filepath.Join(dir, lockFileName)); err != nil {
			if errors.Is(err, vfs.ErrLocked) {
				return nil, errors.Wrapf(ErrLocked, "%s is open in another Store, for writing or read-only (lock file %s)", dir, lockFileName)
			}
			return nil, errors.Wrapf(err, "rskv: lock %s", dir)
		}
	}
	s := &Store{dir: dir, opts: o, fs: o.FS, lock: lock, em: epoch.New()}
	s.life.init()
	s.bg.pressure = make(chan struct{}, 1)
	// Promotion copies records to the tail: a write, so never read-only.
	if !o.DisableReadPromotion && !o.ReadOnly {
		s.promote = newPromoter(o.MemorySize)
	}
	if err := s.open(); err != nil {
		s.closed.Store(true) // frees a ServiceFaults bound to s
		s.life.cancel()
		if s.log != nil {
			_ = s.log.Close()
		}
		s.index.Close() // nothing runs yet; its tables may be mappings off the Go heap
		_ = lock.Close()
		return nil, err
	}
	if !o.DisableBackground && !o.ReadOnly {
		if err := s.bg.tree.Start(); err != nil {
			s.closed.Store(true)
			s.life.cancel()
			_ = s.bg.tree.Stop()
			_ = s.log.Close()
			s.index.Close() // the services are stopped and no operation began
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
	s.geo = g
	s.log, err = hlog.Open(hlog.Config{
		FS: s.fs, Dir: s.dir, StoreID: g.storeID,
		PageBits: g.pageBits, SegmentBits: g.segmentBits,
		MemoryPages: g.frames, MutablePages: g.mutable,
		ReadCacheBytes:    g.readCache,
		Epoch:             s.em,
		Logger:            s.opts.Logger,
		OnPageTurn:        s.signalPressure,
		BeforeEvict:       s.beforeEvict,
		OnNewSegment:      s.wakeCollector,
		HandOffTruncation: s.handOffTruncation,
		ReadOnly:          s.opts.ReadOnly,
		// Writer-side image capture pays when syncs come often: under
		// SyncNone a window lasts until Sync, Checkpoint or Close, and the
		// buffers would fill with images written again later. (Without
		// the syncer, SyncPeriodic's windows end at the caller's Syncs:
		// still captured, the buffers bound the memory.)
		CaptureImages: s.opts.SyncMode != SyncNone,
	})
	if err != nil {
		return errors.Wrapf(err, "rskv: open log in %s", s.dir)
	}
	s.recovery.Created = created
	if err := s.recover(); err != nil {
		return err
	}
	// Recovery ran alone: no goroutine holds the tables its growths
	// replaced (hashidx retire.go).
	s.index.ReleaseRetired(s.index.Retired())
	return s.buildBackground()
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
	if s.opts.ReadOnly {
		return s.closeReadOnly()
	}
	// Mark the store closed (new operations get ErrClosed), cancel the
	// long-running ones, and stop the services: a checkpoint or compaction
	// in progress finishes or aborts cleanly, and none starts after.
	s.bg.mu.Lock()
	s.closed.Store(true)
	s.life.cancel()
	bgErr := s.stopBackground()
	s.bg.mu.Unlock()
	// Wait out the manual operations (Checkpoint, Compact, Sync...) that
	// were admitted before: after this none of them touches the directory.
	s.life.shutAndWait()
	// Wait out every short operation that was running when closed was set;
	// later ones see it and return ErrClosed.
	s.em.BumpAndWait()
	err := bgErr
	s.opMu.Lock()
	if s.closeCheckpointWorthIt() {
		if _, cerr := s.checkpointLocked(); err == nil {
			err = cerr
		}
	}
	s.opMu.Unlock()
	if serr := s.log.SyncAll(); err == nil {
		err = serr
	}
	if cerr := s.log.Close(); err == nil {
		err = cerr
	}
	// Every operation was drained above and the closing checkpoint has
	// written the index: unmap its tables (hashidx retire.go).
	s.index.Close()
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
