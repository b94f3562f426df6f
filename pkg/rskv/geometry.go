package rskv

import (
	"fmt"
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"strings"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/fileformat"
	"github.com/rskv-go/rskv/internal/hlog"
	"github.com/rskv-go/rskv/internal/manifest"
)

// A store's geometry is decided here and nowhere else.
//
// Fixed when the store is created, and recorded in its STORE file: the page
// size (a record must fit in one page, and the pages' layout is on disk), the
// segment size (segment files are named by address) and the index's initial
// size (it grows online; a checkpoint records the size it has then). On reopen, zero in these Options
// fields means "as created"; any other value must match.
//
// Chosen at every open: the memory budget (MemorySize) and its mutable share
// (MutableFraction). The only constraint between the two kinds is that
// MemorySize holds MinPages pages of the store's page size. That is why the
// default page size does not grow with MemorySize: a store created with the
// defaults reopens with any MemorySize from MinPages*defaultPageSize (16 MiB)
// up.

// MinPages is the least number of log pages MemorySize must hold: one being
// filled, one being flushed, and room for the regions between.
const MinPages = 4

const (
	minPageSize = 4 << 10
	maxPageSize = 1 << 30
	// defaultPageSize is the page size of a new store when PageSize is 0
	// (smaller only when MemorySize cannot hold MinPages of it). 4 MiB pages
	// admit values up to about 4 MiB, keep page turns rare, and let a
	// default store run in as little as 16 MiB of memory.
	defaultPageSize = 4 << 20
	smallMinPage    = 64 << 10
	minBuckets      = 1 << 10
	maxBuckets      = 1 << 26
	maxSegmentSize  = 1 << 40
	defaultMaxSeg   = 256 << 20
)

// geometry is a store's resolved shape, fixed for the life of an open Store
// (set once by Open, read without locks everywhere). Code reads it rather
// than the manifest, which compaction rewrites under manifestMu.
type geometry struct {
	storeID               uint64
	pageBits, segmentBits uint
	buckets               int
	// frames and mutable are the memory budget of this open, in pages.
	frames, mutable int
	// readCache is the part of MemorySize given to the log's read cache of
	// records read from disk (hlog/readcache.go), in bytes.
	readCache int64
}

// The read cache's share of MemorySize: readCacheShare of the frames of a
// budget of at least readCacheMinFrames pages, in a store that cannot
// promote what it reads from disk (ReadOnly, or DisableReadPromotion).
// Smaller budgets keep every page for the log (it needs frames to overlap
// flushing with writing). A store that promotes keeps every page for the
// log too: promotion copies a record read twice back into the log, so the
// log's frames already hold the hot records, and a cache beside them held
// mostly copies the chains no longer point to while the log, a quarter
// smaller, held fewer hot records (measured: docs/design.md, "Reading below
// the head").
const (
	readCacheMinFrames = 16
	readCacheShare     = 4 // 1/4
)

func (g geometry) pageSize() int64    { return 1 << g.pageBits }
func (g geometry) segmentSize() int64 { return 1 << g.segmentBits }

// floorPow2 returns the largest power of two <= n (n > 0).
func floorPow2(n int64) int64 {
	if n <= 1 {
		return 1
	}
	return 1 << (63 - bits.LeadingZeros64(uint64(n)))
}

func isPow2(n int64) bool { return n > 0 && n&(n-1) == 0 }

func clamp(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }

// newPageSize is the page size a new store gets when PageSize is 0:
// defaultPageSize, or for a small MemorySize (under 128 MiB) MemorySize/32
// (at least 64 KiB, at most MemorySize/MinPages) so that it keeps enough
// frames to overlap flushing with writing. Either way a store created with
// the default page size reopens with any MemorySize from 16 MiB up.
func newPageSize(memorySize int64) int64 {
	p := min(defaultPageSize, clamp(floorPow2(memorySize/32), smallMinPage, defaultPageSize))
	return max(minPageSize, min(p, floorPow2(memorySize/MinPages)))
}

// newSegmentSize is the segment size a new store gets when SegmentSize is 0.
func newSegmentSize(memorySize, pageSize int64) int64 {
	return clamp(floorPow2(memorySize/4), pageSize, max(pageSize, defaultMaxSeg))
}

// newIndexBuckets is the index size a new store gets when IndexBuckets is 0:
// the least, 64 KiB. The index grows with the keys (indexgrowth.go), so it
// is never sized from the memory budget: an index sized for the most keys
// the memory could hold (2 Mi buckets, 128 MiB, for 1 GiB) makes every
// lookup of a store with few keys miss the caches and the TLB.
func newIndexBuckets(int64) int64 { return minBuckets }

// loadManifest reads the STORE file, or creates it for a new store with the
// shape the options ask for (defaults filled in here).
func (s *Store) loadManifest() (manifest.Manifest, bool, error) {
	man, err := manifest.Read(s.fs, s.dir)
	switch {
	case err == nil:
		if man.HashFunction != manifest.HashXXH64 {
			return man, false, hlog.MarkCorruption(errors.Newf("rskv: %s: unknown hash function %d", s.dir, man.HashFunction))
		}
		if man.Version < manifest.CurrentVersion && !s.opts.ReadOnly {
			// An older store: upgrade its STORE file before anything is
			// written in the new format, so older code refuses it from now on.
			if err := manifest.Write(s.fs, s.dir, man); err != nil {
				return man, false, errors.Wrap(err, "rskv: upgrade STORE file")
			}
			man.Version = manifest.CurrentVersion
		}
		return man, false, nil
	case errors.Is(err, manifest.ErrBadManifest):
		return man, false, hlog.MarkCorruption(errors.Wrapf(err, "rskv: %s", s.dir))
	case !errors.Is(err, fs.ErrNotExist):
		return man, false, errors.Wrapf(err, "rskv: read %s", manifest.FileName)
	case s.opts.ReadOnly:
		return man, false, errNoStoreReadOnly(s.dir, err)
	}
	// A new store. Refuse a directory that holds log segments but no STORE
	// file: that is a damaged store, not an empty one.
	names, err := s.fs.List(s.dir)
	if err != nil {
		return man, false, errors.Wrapf(err, "rskv: list %s", s.dir)
	}
	for _, n := range names {
		if strings.HasSuffix(n, fileformat.Segment.Suffix) {
			return man, false, hlog.MarkCorruption(errors.Newf(
				"rskv: %s holds log segments (%s) but no %s file", s.dir, n, manifest.FileName))
		}
	}
	pageSize := s.opts.PageSize
	if pageSize == 0 {
		pageSize = newPageSize(s.opts.MemorySize)
	}
	segSize := s.opts.SegmentSize
	if segSize == 0 {
		segSize = newSegmentSize(s.opts.MemorySize, pageSize)
	}
	buckets := s.opts.IndexBuckets
	if buckets == 0 {
		buckets = newIndexBuckets(s.opts.MemorySize)
	}
	// Check the shape as resolved from defaults before it is fixed on disk:
	// Options.validate sees only the fields the caller set.
	var problems []string
	if segSize < pageSize {
		problems = append(problems, fmt.Sprintf("SegmentSize %d is smaller than the PageSize %d (allowed: SegmentSize >= PageSize)", segSize, pageSize))
	}
	if s.opts.MemorySize < MinPages*pageSize {
		problems = append(problems, fmt.Sprintf("MemorySize %d holds fewer than %d pages of PageSize %d", s.opts.MemorySize, MinPages, pageSize))
	}
	if len(problems) > 0 {
		return man, false, errors.Wrapf(ErrInvalidOptions, "%s", strings.Join(problems, "; "))
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
// derives this open's memory budget in pages.
func (s *Store) resolveGeometry(man manifest.Manifest) (geometry, error) {
	g := geometry{storeID: man.StoreID, pageBits: uint(man.PageBits), segmentBits: uint(man.SegmentBits)}
	if g.pageBits < 12 || g.pageBits > 30 || g.segmentBits < g.pageBits || g.segmentBits > 40 ||
		!isPow2(int64(man.IndexBuckets)) || man.IndexBuckets < minBuckets || man.IndexBuckets > maxBuckets {
		return g, hlog.MarkCorruption(errors.Newf("rskv: %s: STORE file has an impossible geometry (page bits %d, segment bits %d, buckets %d)",
			s.dir, g.pageBits, g.segmentBits, man.IndexBuckets))
	}
	g.buckets = int(man.IndexBuckets)
	var problems []string
	check := func(name string, asked, have int64) {
		if asked != 0 && asked != have {
			problems = append(problems, fmt.Sprintf("%s %d differs from the store's %d (fixed when it was created; 0 means as created)", name, asked, have))
		}
	}
	check("PageSize", s.opts.PageSize, g.pageSize())
	check("SegmentSize", s.opts.SegmentSize, g.segmentSize())
	check("IndexBuckets", s.opts.IndexBuckets, int64(g.buckets))
	if s.opts.MemorySize < MinPages*g.pageSize() {
		problems = append(problems, fmt.Sprintf("MemorySize %d holds fewer than %d pages of the store's PageSize %d (allowed: MemorySize >= %d)",
			s.opts.MemorySize, MinPages, g.pageSize(), MinPages*g.pageSize()))
	}
	if len(problems) > 0 {
		return g, errors.Wrapf(ErrInvalidOptions, "%s", strings.Join(problems, "; "))
	}
	g.frames = int(s.opts.MemorySize / g.pageSize())
	if g.frames >= readCacheMinFrames && (s.opts.ReadOnly || s.opts.DisableReadPromotion) {
		cache := g.frames / readCacheShare
		g.frames -= cache
		g.readCache = int64(cache) * g.pageSize()
	}
	g.mutable = min(max(1, int(float64(g.frames)*s.opts.MutableFraction)), g.frames-1)
	return g, nil
}
