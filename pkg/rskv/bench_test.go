package rskv_test

// Benchmarks of the in-memory hot paths, against an in-process peer: a Go
// map sharded 64 ways, each shard behind a sync.RWMutex, which also keeps its
// own copy of every value and updates it in place when the size allows.
//
// Each benchmark preloads benchKeys 8-byte keys (once per value size, shared
// by the sub-benchmarks) into a store whose memory holds them all in the
// mutable region, then runs Get (AppendValue into a reused buffer), Put (same
// size: an in-place update) or RMW (increment of the value's first 8 bytes,
// in place) on keys drawn uniformly or from a scrambled zipfian
// distribution, with one goroutine or with GOMAXPROCS goroutines
// (b.RunParallel). Run, for example:
//
//	go test ./pkg/rskv -run '^$' -bench . -benchtime=1s -count=1
//
// Names: Benchmark{Store,Map}/{Get,Put,RMW}/v{8,100}/{uniform,zipf}/{1,par}.

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rskv-go/rskv/pkg/rskv"
)

const benchKeys = 1 << 20

func benchKey(dst []byte, i uint64) []byte { return binary.BigEndian.AppendUint64(dst[:0], i) }

// zipfian draws ranks in [0, n) with P(rank i) proportional to 1/(i+1)^theta,
// by the method of Gray et al., "Quickly generating billion-record synthetic
// databases" (SIGMOD 1994), as YCSB's ZipfianGenerator does. math/rand's
// Zipf needs an exponent s > 1, so it cannot give YCSB's theta 0.99.
type zipfian struct {
	n                        uint64
	theta, alpha, zetan, eta float64
	halfPowTheta             float64
}

func newZipfian(n uint64, theta float64) *zipfian {
	zeta := func(n uint64) float64 {
		s := 0.0
		for i := uint64(1); i <= n; i++ {
			s += 1 / math.Pow(float64(i), theta)
		}
		return s
	}
	z := &zipfian{n: n, theta: theta, alpha: 1 / (1 - theta), zetan: zeta(n)}
	z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta(2)/z.zetan)
	z.halfPowTheta = 1 + math.Pow(0.5, theta)
	return z
}

func (z *zipfian) rank(u float64) uint64 {
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < z.halfPowTheta {
		return 1
	}
	return uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
}

// scramble spreads the popular ranks over the key space (YCSB's scrambled
// zipfian: FNV-1a of the rank, modulo n), so that hot keys are not
// neighbours in the log or the index.
func scramble(rank, n uint64) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < 8; i++ {
		h ^= rank & 0xff
		h *= 1099511628211
		rank >>= 8
	}
	return h % n
}

var benchZipf = sync.OnceValue(func() *zipfian { return newZipfian(benchKeys, 0.99) })

// keyChooser returns the next key index; one per goroutine.
type keyChooser func() uint64

func newChooser(dist string, seed uint64) keyChooser {
	rng := rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1))
	switch dist {
	case "uniform":
		return func() uint64 { return rng.Uint64N(benchKeys) }
	case "zipf":
		z := benchZipf()
		return func() uint64 { return scramble(z.rank(rng.Float64()), benchKeys) }
	}
	panic(dist)
}

// TestZipfianSkew checks the generator: with theta 0.99 over 2^20 keys the
// most popular key draws about 7% of the requests, the top 1% of keys about
// 60%, and every rank is in range.
func TestZipfianSkew(t *testing.T) {
	z := newZipfian(benchKeys, 0.99)
	rng := rand.New(rand.NewPCG(1, 2))
	const draws = 200_000
	counts := map[uint64]int{}
	top1pct := 0
	for range draws {
		r := z.rank(rng.Float64())
		if r >= benchKeys {
			t.Fatalf("rank %d out of range", r)
		}
		counts[r]++
		if r < benchKeys/100 {
			top1pct++
		}
	}
	if p := float64(counts[0]) / draws; p < 0.05 || p > 0.09 {
		t.Fatalf("P(rank 0) = %.3f, want about 0.07", p)
	}
	if p := float64(top1pct) / draws; p < 0.5 || p > 0.7 {
		t.Fatalf("P(top 1%%) = %.3f, want about 0.6", p)
	}
	if scramble(0, benchKeys) == scramble(1, benchKeys) {
		t.Fatal("scramble maps ranks 0 and 1 together")
	}
}

// kv is what the benchmarks need from a store.
type kv interface {
	AppendValue(dst, key []byte) ([]byte, error)
	Put(key, value []byte) error
	RMW(key []byte, fn func(old []byte, found bool) []byte) ([]byte, error)
}

// shardedMap is the in-process peer.
type shardedMap struct {
	seed   maphash.Seed
	shards [64]struct {
		mu sync.RWMutex
		m  map[string][]byte
		_  [32]byte // keep shards' locks off each other's cache lines
	}
}

func newShardedMap() *shardedMap {
	m := &shardedMap{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = make(map[string][]byte, benchKeys/64)
	}
	return m
}

func (m *shardedMap) shard(key []byte) int { return int(maphash.Bytes(m.seed, key) & 63) }

func (m *shardedMap) AppendValue(dst, key []byte) ([]byte, error) {
	sh := &m.shards[m.shard(key)]
	sh.mu.RLock()
	v, ok := sh.m[string(key)]
	if ok {
		dst = append(dst, v...)
	}
	sh.mu.RUnlock()
	if !ok {
		return dst, rskv.ErrNotFound
	}
	return dst, nil
}

// setLocked stores a copy of value, in place when the old copy has the same
// length (like the store's in-place update; reassigning the map entry would
// allocate the key string). The caller holds the shard's lock.
func setLocked(m map[string][]byte, key, value []byte) {
	if old, ok := m[string(key)]; ok && len(old) == len(value) {
		copy(old, value)
		return
	}
	m[string(key)] = append([]byte(nil), value...)
}

func (m *shardedMap) Put(key, value []byte) error {
	sh := &m.shards[m.shard(key)]
	sh.mu.Lock()
	setLocked(sh.m, key, value)
	sh.mu.Unlock()
	return nil
}

func (m *shardedMap) RMW(key []byte, fn func(old []byte, found bool) []byte) ([]byte, error) {
	sh := &m.shards[m.shard(key)]
	sh.mu.Lock()
	old, ok := sh.m[string(key)]
	v := fn(old, ok)
	setLocked(sh.m, key, v)
	sh.mu.Unlock()
	return v, nil
}

// benchStores are preloaded once per kind and value size and shared by the
// sub-benchmarks (preloading a million keys takes a while).
var benchStores = struct {
	sync.Mutex
	m    map[string]kv
	dirs []string
}{m: map[string]kv{}}

func preloaded(b *testing.B, kind string, valueLen int) kv {
	benchStores.Lock()
	defer benchStores.Unlock()
	name := fmt.Sprintf("%s/%d", kind, valueLen)
	if s, ok := benchStores.m[name]; ok {
		return s
	}
	var s kv
	switch kind {
	case "store":
		dir, err := os.MkdirTemp("", "rskv-bench-")
		if err != nil {
			b.Fatal(err)
		}
		// Room for every record in the mutable region (0.9 of memory).
		memory := int64(2 * benchKeys * (24 + 8 + (valueLen+7)&^7))
		st, err := rskv.Open(dir, &rskv.Options{MemorySize: memory, DisableBackground: true})
		if err != nil {
			b.Fatal(err)
		}
		s = st
		benchStores.dirs = append(benchStores.dirs, dir)
	case "map":
		s = newShardedMap()
	}
	value := make([]byte, valueLen)
	var k []byte
	for i := uint64(0); i < benchKeys; i++ {
		k = benchKey(k, i)
		binary.LittleEndian.PutUint64(value, i)
		if err := s.Put(k, value); err != nil {
			b.Fatal(err)
		}
	}
	if st, ok := s.(*rskv.Store); ok {
		for st.IndexGrowing() { // let the index finish doubling
			time.Sleep(time.Millisecond)
		}
		if got := st.Stats(); got.Keys != benchKeys || got.ReadOnlyAddress > 64 {
			b.Fatalf("preload: %d keys, read-only address %#x: not all in the mutable region", got.Keys, got.ReadOnlyAddress)
		}
	}
	benchStores.m[name] = s
	return s
}

// closeBenchStores closes the shared stores; TestMain's leak check runs after
// the benchmarks, so nothing may stay open.
func closeBenchStores() {
	benchStores.Lock()
	defer benchStores.Unlock()
	for name, s := range benchStores.m {
		if st, ok := s.(*rskv.Store); ok {
			_ = st.Close()
		}
		delete(benchStores.m, name)
	}
	for _, d := range benchStores.dirs {
		_ = os.RemoveAll(d)
	}
	benchStores.dirs = nil
}

// worker runs one goroutine's share of a benchmark: op on keys from next.
type worker func(next keyChooser, n func() bool) error

func benchOp(op string, s kv, valueLen int) func() worker {
	return func() worker {
		var k, buf []byte
		buf = make([]byte, 0, 256)
		value := make([]byte, valueLen)
		scratch := make([]byte, valueLen)
		incr := func(old []byte, found bool) []byte {
			copy(scratch, old)
			binary.LittleEndian.PutUint64(scratch, binary.LittleEndian.Uint64(old)+1)
			return scratch
		}
		switch op {
		case "Get":
			return func(next keyChooser, more func() bool) error {
				for more() {
					var err error
					k = benchKey(k, next())
					if buf, err = s.AppendValue(buf[:0], k); err != nil {
						return err
					}
				}
				return nil
			}
		case "Put":
			return func(next keyChooser, more func() bool) error {
				for more() {
					i := next()
					k = benchKey(k, i)
					binary.LittleEndian.PutUint64(value, i)
					if err := s.Put(k, value); err != nil {
						return err
					}
				}
				return nil
			}
		case "RMW":
			return func(next keyChooser, more func() bool) error {
				for more() {
					k = benchKey(k, next())
					if _, err := s.RMW(k, incr); err != nil {
						return err
					}
				}
				return nil
			}
		}
		panic(op)
	}
}

func runBench(b *testing.B, kind string) {
	b.Cleanup(closeBenchStores)
	for _, op := range []string{"Get", "Put", "RMW"} {
		for _, valueLen := range []int{8, 100} {
			for _, dist := range []string{"uniform", "zipf"} {
				for _, par := range []string{"1", "par"} {
					b.Run(fmt.Sprintf("%s/v%d/%s/%s", op, valueLen, dist, par), func(b *testing.B) {
						s := preloaded(b, kind, valueLen)
						newWorker := benchOp(op, s, valueLen)
						var before rskv.Stats
						st, isStore := s.(*rskv.Store)
						if isStore {
							before = st.Stats()
						}
						b.ReportAllocs()
						b.ResetTimer()
						if par == "1" {
							n := 0
							if err := newWorker()(newChooser(dist, 1), func() bool { n++; return n <= b.N }); err != nil {
								b.Fatal(err)
							}
						} else {
							var seed uint64
							var mu sync.Mutex
							b.RunParallel(func(pb *testing.PB) {
								mu.Lock()
								seed++
								w, next := newWorker(), newChooser(dist, seed+1)
								mu.Unlock()
								if err := w(next, pb.Next); err != nil {
									b.Error(err)
								}
							})
						}
						b.StopTimer()
						b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
						if isStore && op != "Get" {
							after := st.Stats()
							if after.Appends != before.Appends {
								b.Fatalf("%d updates appended: the benchmark must measure in-place updates", after.Appends-before.Appends)
							}
						}
					})
				}
			}
		}
	}
}

func BenchmarkStore(b *testing.B) { runBench(b, "store") }

func BenchmarkMap(b *testing.B) { runBench(b, "map") }
