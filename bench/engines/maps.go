package engines

import (
	"hash/maphash"
	"os"
	"sync"

	"github.com/rskv-go/rskv/internal/ycsb"
)

// stderr receives engines' error logs; tests may replace it.
var stderr = os.Stderr

// ShardedMap returns the sharded Go map engine.
func ShardedMap() Engine {
	return Engine{
		Name:       "shardmap",
		Persistent: false,
		Durability: "none: memory only",
		Memory:     "all data on the Go heap; the budget does not apply",
		Operations: "64 shards of map[string][]byte, each under a sync.RWMutex (shard by maphash of the key); " +
			"Read = RLock + copy; Update = Lock + overwrite the value in place when the size matches; " +
			"RMW = Lock + modify in place",
		Open: func(Setup) (ycsb.DB, error) { return newShardedMap(), nil },
	}
}

const mapShards = 64

type shard struct {
	mu sync.RWMutex
	m  map[string][]byte
	_  [32]byte
}

type shardedMap struct {
	seed   maphash.Seed
	shards [mapShards]shard
}

func newShardedMap() *shardedMap {
	s := &shardedMap{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[string][]byte)
	}
	return s
}

func (s *shardedMap) shard(key []byte) *shard {
	return &s.shards[maphash.Bytes(s.seed, key)%mapShards]
}

func (s *shardedMap) Read(key, dst []byte) ([]byte, error) {
	sh := s.shard(key)
	sh.mu.RLock()
	v, ok := sh.m[string(key)]
	if ok {
		dst = append(dst, v...)
	}
	sh.mu.RUnlock()
	if !ok {
		return dst, ycsb.ErrNotFound
	}
	return dst, nil
}

func (s *shardedMap) Update(key, value []byte) error {
	sh := s.shard(key)
	sh.mu.Lock()
	if v, ok := sh.m[string(key)]; ok && len(v) == len(value) {
		copy(v, value)
	} else {
		sh.m[string(key)] = append([]byte(nil), value...)
	}
	sh.mu.Unlock()
	return nil
}

func (s *shardedMap) ReadModifyWrite(key, dst []byte) ([]byte, error) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.m[string(key)]
	if ok && len(v) > 0 {
		ycsb.Modify(v[:0], v) // in place: Modify copies v onto itself, then counts
	} else {
		v = ycsb.Modify(nil, v)
		sh.m[string(key)] = v
	}
	return append(dst, v...), nil
}

func (s *shardedMap) Close() error { return nil }

// SyncMap returns the sync.Map engine.
func SyncMap() Engine {
	return Engine{
		Name:       "syncmap",
		Persistent: false,
		Durability: "none: memory only",
		Memory:     "all data on the Go heap; the budget does not apply",
		Operations: "sync.Map of string keys to immutable string values; Read = Load (the key conversion " +
			"allocates); Update = Store of a new string; RMW = Load + CompareAndSwap loop",
		Open: func(Setup) (ycsb.DB, error) { return &syncMap{}, nil },
	}
}

type syncMap struct{ m sync.Map }

func (s *syncMap) Read(key, dst []byte) ([]byte, error) {
	v, ok := s.m.Load(string(key))
	if !ok {
		return dst, ycsb.ErrNotFound
	}
	return append(dst, v.(string)...), nil
}

func (s *syncMap) Update(key, value []byte) error {
	s.m.Store(string(key), string(value))
	return nil
}

func (s *syncMap) ReadModifyWrite(key, dst []byte) ([]byte, error) {
	k := string(key)
	for {
		old, ok := s.m.Load(k)
		if !ok {
			nv := string(ycsb.Modify(nil, nil))
			if _, loaded := s.m.LoadOrStore(k, nv); !loaded {
				return append(dst, nv...), nil
			}
			continue
		}
		nv := string(ycsb.Modify(nil, []byte(old.(string))))
		if s.m.CompareAndSwap(k, old, nv) {
			return append(dst, nv...), nil
		}
	}
}

func (s *syncMap) Close() error { return nil }
