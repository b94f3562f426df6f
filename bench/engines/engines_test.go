package engines_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/bench/engines"
	"github.com/rskv-go/rskv/internal/ycsb"
	"github.com/rskv-go/rskv/internal/ycsb/rskvdb"
)

// TestEveryEngine runs every adapter through load and the four workloads on
// a tiny data set, then checks that the data is what the operations made it,
// and, for persistent engines, that it survives Close and Open.
func TestEveryEngine(t *testing.T) {
	const records = 2000
	for _, e := range append(engines.All(), engines.Extras()...) {
		t.Run(e.Name, func(t *testing.T) {
			// Test binaries carry no dependency versions, so Version may be
			// "unknown" here; the harness binary has them.
			if e.Durability == "" || e.Memory == "" || e.Operations == "" || e.Version() == "" {
				t.Errorf("engine description incomplete: %+v version %q", e, e.Version())
			}
			setup := engines.Setup{Dir: t.TempDir(), Budget: 8 << 20, Records: records, ValueSize: 100}
			db, err := e.Open(setup)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := db.Read([]byte("absent"), nil); !errors.Is(err, ycsb.ErrNotFound) {
				t.Errorf("Read of an absent key: %v, want ycsb.ErrNotFound", err)
			}
			res, err := ycsb.Load(ctx, db, ycsb.LoadConfig{Records: records, ValueSize: 100, Threads: 2, BatchSize: 300})
			if err != nil || res.Ops != records || res.Errors != 0 {
				t.Fatalf("load: %v, %d ops, %d errors (%v)", err, res.Ops, res.Errors, res.Err)
			}
			var rmws int64
			for _, w := range ycsb.Workloads() {
				for _, d := range []ycsb.Distribution{ycsb.DistUniform, ycsb.DistZipfian} {
					res, err := ycsb.Run(ctx, db, ycsb.RunConfig{
						Workload: w, Distribution: d, Records: records, ValueSize: 100, Threads: 2, Ops: 2000, Seed: 3,
					})
					if err != nil || res.Ops != 2000 || res.Errors != 0 || res.NotFound != 0 {
						t.Fatalf("%s %s: %v, %d ops, %d errors, %d not found (%v)", w.Name, d, err, res.Ops, res.Errors, res.NotFound, res.Err)
					}
					rmws += res.Counts["rmw"]
				}
			}
			check := func(db ycsb.DB) {
				t.Helper()
				// Workload F's RMWs add one to the counter in the first
				// 8 bytes; updates overwrite it with small op numbers. So
				// only check every value is there and of the right size.
				for i := range uint64(records) {
					v, err := db.Read(ycsb.AppendKey(nil, i), nil)
					if err != nil || len(v) != 100 {
						t.Fatalf("item %d: %d bytes, %v", i, len(v), err)
					}
				}
			}
			check(db)
			// RMW is atomic: two goroutines RMW one fresh key 500 times each.
			key := []byte("counter!")
			if err := db.Update(key, make([]byte, 8)); err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 2)
			for range 2 {
				go func() {
					for range 500 {
						if _, err := db.ReadModifyWrite(key, nil); err != nil {
							errc <- err
							return
						}
					}
					errc <- nil
				}()
			}
			for range 2 {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			v, err := db.Read(key, nil)
			if err != nil || binary.LittleEndian.Uint64(v) != 1000 {
				t.Errorf("counter after 1000 concurrent RMWs: %v (%v), want 1000", v, err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if !e.Persistent {
				return
			}
			db, err = e.Open(setup)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer db.Close()
			check(db)
			if rmws == 0 {
				t.Error("no RMW ran")
			}
		})
	}
}

func TestLookup(t *testing.T) {
	es, err := engines.Lookup("pebble, rskv")
	if err != nil || len(es) != 2 || es[0].Name != "pebble" || es[1].Name != "rskv" {
		t.Errorf("Lookup = %v, %v", es, err)
	}
	if all, err := engines.Lookup("all"); err != nil || len(all) != len(engines.All()) || all[0].Name != "rskv" {
		t.Errorf("Lookup(all) = %d engines, %v", len(all), err)
	}
	if es, err := engines.Lookup("rskv-nobg"); err != nil || len(es) != 1 || !engines.IsRSKV(es[0].Name) {
		t.Errorf("Lookup(rskv-nobg) = %v, %v", es, err)
	}
	if es, err := engines.Lookup("rskv-grow"); err != nil || len(es) != 1 || !engines.IsRSKV(es[0].Name) {
		t.Errorf("Lookup(rskv-grow) = %v, %v", es, err)
	}
	if _, err := engines.Lookup("leveldb"); err == nil {
		t.Error("Lookup of an unknown engine succeeded")
	}
}

// TestRSKVGrowStartsSmallAndGrows: rskv-grow opens with the smallest index
// and ends a load with one grown for its keys (doubling runs online, a step
// behind the load), where rskv opens with one bucket per four keys at once.
func TestRSKVGrowStartsSmallAndGrows(t *testing.T) {
	const records = 60_000
	for _, c := range []struct {
		name       string
		start, end int
	}{
		{"rskv-grow", 1 << 10, 1 << 13}, // growth runs behind the load: at least 8 keys a bucket
		{"rskv", 1 << 14, 1 << 14},
	} {
		es, err := engines.Lookup(c.name)
		if err != nil {
			t.Fatal(err)
		}
		db, err := es[0].Open(engines.Setup{Dir: t.TempDir(), Budget: 16 << 20, Records: records, ValueSize: 8})
		if err != nil {
			t.Fatal(err)
		}
		s := db.(*rskvdb.DB).Store()
		if got := s.Stats().IndexBuckets; got != c.start {
			t.Errorf("%s: opened with %d buckets, want %d", c.name, got, c.start)
		}
		res, err := ycsb.Load(context.Background(), db, ycsb.LoadConfig{Records: records, ValueSize: 8, Threads: 2, BatchSize: 300})
		if err != nil || res.Ops != records {
			t.Fatalf("%s load: %v, %d ops", c.name, err, res.Ops)
		}
		// The grower is a goroutine a step behind the load: give it time
		// to finish the doubling the last inserts asked for.
		got := s.Stats().IndexBuckets
		for deadline := time.Now().Add(10 * time.Second); got < c.end && time.Now().Before(deadline); got = s.Stats().IndexBuckets {
			time.Sleep(10 * time.Millisecond)
		}
		if got < c.end {
			t.Errorf("%s: %d buckets after %d keys, want at least %d", c.name, got, records, c.end)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
