//go:build unix

package engines_test

// BenchmarkHotPath measures one operation of each kind through the ycsb.DB
// adapters the harness uses, on one goroutine, with the harness's data (1M
// records loaded by ycsb.Load, budget as its in-memory mode gives) and its
// pre-drawn key rings, so that per-operation costs and profiles can be
// compared between rskv and the sharded map without the runner around them:
//
//	go test ./engines -run '^$' -bench 'HotPath/.*/v100/zipfian/Read' -benchmem -cpuprofile /tmp/cpu.out
//
// Names: BenchmarkHotPath/{rskv,shardmap}/v{8,100}/{zipfian,uniform,cached}/{Read,Update,RMW}.

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rskv-go/rskv/bench/engines"
	"github.com/rskv-go/rskv/bench/harness"
	"github.com/rskv-go/rskv/internal/ycsb"
)

const hotRecords = 1_000_000

var hot = struct {
	sync.Mutex
	dbs   map[string]ycsb.DB
	dirs  []string
	rings map[ycsb.Distribution]*ycsb.KeyRing
}{dbs: map[string]ycsb.DB{}, rings: map[ycsb.Distribution]*ycsb.KeyRing{}}

func hotDB(b *testing.B, e engines.Engine, valueSize int) ycsb.DB {
	hot.Lock()
	defer hot.Unlock()
	name := fmt.Sprintf("%s/%d", e.Name, valueSize)
	if db, ok := hot.dbs[name]; ok {
		return db
	}
	// One store at a time: close the others (their memory would crowd this one).
	closeHot()
	dir, err := os.MkdirTemp("", "hotpath-")
	if err != nil {
		b.Fatal(err)
	}
	hot.dirs = append(hot.dirs, dir)
	db, err := e.Open(engines.Setup{Dir: dir, Budget: harness.Budget(harness.InMemory, hotRecords, valueSize),
		Records: hotRecords, ValueSize: valueSize})
	if err != nil {
		b.Fatal(err)
	}
	res, err := ycsb.Load(context.Background(), db, ycsb.LoadConfig{Records: hotRecords, ValueSize: valueSize, Threads: 2, Seed: 1})
	if err != nil || res.Errors != 0 {
		b.Fatalf("load: %v, %d errors", err, res.Errors)
	}
	hot.dbs[name] = db
	return db
}

func closeHot() {
	for name, db := range hot.dbs {
		_ = db.Close()
		delete(hot.dbs, name)
	}
	for _, d := range hot.dirs {
		_ = os.RemoveAll(d)
	}
	hot.dirs = nil
}

// hotCached is the pseudo-distribution of the "cached" runs: uniform over
// the first 1024 items, whose records and index entries stay in the CPU's
// caches, so that the operation's instructions show rather than its misses.
const hotCached = ycsb.Distribution(-1)

func hotRing(b *testing.B, d ycsb.Distribution) *ycsb.KeyRing {
	hot.Lock()
	defer hot.Unlock()
	if r, ok := hot.rings[d]; ok {
		return r
	}
	n := uint64(hotRecords)
	if d == hotCached {
		d, n = ycsb.DistUniform, 1024
	}
	c, err := ycsb.NewChooser(d, n, 0)
	if err != nil {
		b.Fatal(err)
	}
	r, err := ycsb.NewKeyRing(c, hotRecords, 4*hotRecords, 1)
	if err != nil {
		b.Fatal(err)
	}
	hot.rings[d] = r
	return r
}

// processCPU returns the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkHotPath(b *testing.B) {
	b.Cleanup(func() { hot.Lock(); closeHot(); hot.Unlock() })
	for _, e := range []engines.Engine{engines.RSKV(), engines.ShardedMap()} {
		for _, vs := range []int{8, 100} {
			for _, d := range []ycsb.Distribution{ycsb.DistZipfian, ycsb.DistUniform, hotCached} {
				dname := d.String()
				if d == hotCached {
					dname = "cached"
				}
				for _, op := range []string{"Read", "Update", "RMW"} {
					b.Run(fmt.Sprintf("%s/v%d/%s/%s", e.Name, vs, dname, op), func(b *testing.B) {
						db := hotDB(b, e, vs)
						ring := hotRing(b, d)
						key := make([]byte, 0, ycsb.KeySize)
						value := make([]byte, vs)
						buf := make([]byte, 0, vs+16)
						var err error
						b.ReportAllocs()
						cpu0 := processCPU()
						b.ResetTimer()
						for i := range b.N {
							key = ycsb.AppendKey(key[:0], ring.At(uint64(i)))
							switch op {
							case "Read":
								buf, err = db.Read(key, buf[:0])
							case "Update":
								value[0] = byte(i)
								err = db.Update(key, value)
							case "RMW":
								buf, err = db.ReadModifyWrite(key, buf[:0])
							}
							if err != nil {
								b.Fatal(err)
							}
						}
						b.StopTimer()
						// The process's CPU time per operation (background
						// goroutines included) is steadier than wall time on
						// a machine shared with other work.
						b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
					})
				}
			}
		}
	}
}
