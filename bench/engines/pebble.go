package engines

import (
	"hash/maphash"
	"io"
	"sync"

	"github.com/cockroachdb/errors"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/rskv-go/rskv/internal/ycsb"
)

// Pebble returns the Pebble v2 engine.
func Pebble() Engine {
	return Engine{
		Name:       "pebble",
		Module:     "github.com/cockroachdb/pebble/v2",
		Persistent: true,
		Durability: "writes with pebble.NoSync: the WAL is written but not fsynced per write",
		Memory: "block cache of budget/2 + memtables of budget/4 (writes stall at 2 queued memtables); " +
			"bloom filters of 10 bits per key in every level (cached in the block cache); compression off (the values are random)",
		Operations: "Read = Get (value copied, closer released); Update = Set with NoSync; " +
			"RMW = Get+Set under one of 1024 key-striped mutexes in the adapter (Pebble has no RMW: " +
			"atomic against other RMWs, not against a concurrent blind Set, which workload F does not issue)",
		Open: openPebble,
	}
}

const pebbleStripes = 1024

type pebbleDB struct {
	db      *pebble.DB
	cache   interface{ Unref() }
	seed    maphash.Seed
	stripes [pebbleStripes]struct {
		sync.Mutex
		_ [56]byte
	}
}

// quietLogger drops pebble's informational lines and keeps its errors.
type quietLogger struct{ w io.Writer }

func (quietLogger) Infof(string, ...any) {}
func (l quietLogger) Errorf(format string, args ...any) {
	_, _ = io.WriteString(l.w, "pebble: "+errors.Newf(format, args...).Error()+"\n")
}
func (quietLogger) Fatalf(format string, args ...any) { panic(errors.Newf("pebble: "+format, args...)) }

func openPebble(s Setup) (ycsb.DB, error) {
	cache := pebble.NewCache(s.Budget / 2)
	opts := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                uint64(max(s.Budget/4, 1<<20)),
		MemTableStopWritesThreshold: 2,
		Logger:                      quietLogger{w: stderr},
	}
	opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	// Bloom filters of 10 bits per key in every level (set on L0, the other
	// levels inherit it), as CockroachDB configures Pebble: without them a
	// Get of a key that lives in L6 searches an index and a data block of
	// every level above it. The filters (about 5 MiB for 4M keys) are
	// cached in the block cache, inside the budget.
	opts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err := pebble.Open(s.Dir, opts)
	if err != nil {
		cache.Unref()
		return nil, errors.Wrap(err, "pebble: open")
	}
	return &pebbleDB{db: db, cache: cache, seed: maphash.MakeSeed()}, nil
}

func (p *pebbleDB) Read(key, dst []byte) ([]byte, error) {
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst, ycsb.ErrNotFound
	}
	if err != nil {
		return dst, err
	}
	dst = append(dst, v...)
	return dst, closer.Close()
}

func (p *pebbleDB) Update(key, value []byte) error { return p.db.Set(key, value, pebble.NoSync) }

func (p *pebbleDB) ReadModifyWrite(key, dst []byte) ([]byte, error) {
	mu := &p.stripes[maphash.Bytes(p.seed, key)%pebbleStripes]
	mu.Lock()
	defer mu.Unlock()
	old, closer, err := p.db.Get(key)
	var nv []byte
	switch {
	case err == nil:
		nv = ycsb.Modify(nil, old)
		if err := closer.Close(); err != nil {
			return dst, err
		}
	case errors.Is(err, pebble.ErrNotFound):
		nv = ycsb.Modify(nil, nil)
	default:
		return dst, err
	}
	if err := p.db.Set(key, nv, pebble.NoSync); err != nil {
		return dst, err
	}
	return append(dst, nv...), nil
}

func (p *pebbleDB) Close() error {
	err := p.db.Close()
	p.cache.Unref()
	return err
}
