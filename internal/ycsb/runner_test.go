package ycsb_test

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/ycsb"
)

// mapDB is an in-memory DB that counts its calls.
type mapDB struct {
	mu                   sync.Mutex
	m                    map[string][]byte
	reads, updates, rmws atomic.Int64
	failUpdates          bool
}

func newMapDB() *mapDB { return &mapDB{m: map[string][]byte{}} }

func (d *mapDB) Read(key, dst []byte) ([]byte, error) {
	d.reads.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.m[string(key)]
	if !ok {
		return dst, ycsb.ErrNotFound
	}
	return append(dst, v...), nil
}

func (d *mapDB) Update(key, value []byte) error {
	d.updates.Add(1)
	if d.failUpdates {
		return errors.New("update refused")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[string(key)] = append([]byte(nil), value...)
	return nil
}

func (d *mapDB) ReadModifyWrite(key, dst []byte) ([]byte, error) {
	d.rmws.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	old, ok := d.m[string(key)]
	if !ok {
		return dst, ycsb.ErrNotFound
	}
	nv := ycsb.Modify(nil, old)
	d.m[string(key)] = nv
	return append(dst, nv...), nil
}

func (d *mapDB) Close() error { return nil }

// batchDB is a mapDB that also takes batches.
type batchDB struct {
	*mapDB
	batches atomic.Int64
}

func (d *batchDB) WriteBatch(keys, values [][]byte) error {
	d.batches.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range keys {
		d.m[string(keys[i])] = append([]byte(nil), values[i]...)
	}
	return nil
}

func load(t *testing.T, db ycsb.DB, records uint64, valueSize int) ycsb.Result {
	t.Helper()
	res, err := ycsb.Load(context.Background(), db, ycsb.LoadConfig{Records: records, ValueSize: valueSize, Threads: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != int64(records) || res.Errors != 0 {
		t.Fatalf("load: %d ops, %d errors (%v); want %d, 0", res.Ops, res.Errors, res.Err, records)
	}
	return res
}

func TestLoadWritesEveryItem(t *testing.T) {
	for _, batched := range []bool{false, true} {
		db := newMapDB()
		var d ycsb.DB = db
		bdb := &batchDB{mapDB: db}
		if batched {
			d = bdb
		}
		res := load(t, d, 2500, 16)
		if len(db.m) != 2500 {
			t.Fatalf("batched=%v: map holds %d keys, want 2500", batched, len(db.m))
		}
		for i := range uint64(2500) {
			v, ok := db.m[string(ycsb.AppendKey(nil, i))]
			if !ok || len(v) != 16 {
				t.Fatalf("item %d: present=%v len=%d", i, ok, len(v))
			}
		}
		if batched && bdb.batches.Load() == 0 {
			t.Error("Load did not use WriteBatch")
		}
		if !batched && db.updates.Load() != 2500 {
			t.Errorf("Load made %d updates, want 2500", db.updates.Load())
		}
		if res.Phase != "load" || res.Latency.Samples == 0 || res.ByOp["insert"].Samples == 0 || res.Counts["insert"] != 2500 {
			t.Errorf("load result lacks latency: %+v", res)
		}
	}
}

func TestRunMixesOperations(t *testing.T) {
	for _, w := range ycsb.Workloads() {
		t.Run(w.Name, func(t *testing.T) {
			db := newMapDB()
			load(t, db, 1000, 100)
			db.updates.Store(0)
			const ops = 20_000
			res, err := ycsb.Run(context.Background(), db, ycsb.RunConfig{
				Workload: w, Distribution: ycsb.DistZipfian, Records: 1000, Threads: 4, Ops: ops, Seed: 9,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops != ops || res.Errors != 0 || res.NotFound != 0 {
				t.Fatalf("%d ops, %d errors, %d not found (%v)", res.Ops, res.Errors, res.NotFound, res.Err)
			}
			got := map[string]float64{
				"read":   float64(db.reads.Load()) / ops,
				"update": float64(db.updates.Load()) / ops,
				"rmw":    float64(db.rmws.Load()) / ops,
			}
			want := map[string]float64{"read": w.Read, "update": w.Update, "rmw": w.ReadModifyWrite}
			for op, share := range want {
				if d := got[op] - share; d > 0.02 || d < -0.02 {
					t.Errorf("%s share %.3f, want %.3f", op, got[op], share)
				}
				if share > 0 && res.ByOp[op].Samples == 0 {
					t.Errorf("no latency samples for %s", op)
				}
				if n := res.Counts[op]; float64(n)/ops != got[op] {
					t.Errorf("Result.Counts[%s] = %d, the DB saw %.0f", op, n, got[op]*ops)
				}
			}
			if res.OpsPerSec <= 0 || res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 || res.Latency.Max < res.Latency.P999 {
				t.Errorf("implausible result: %+v", res)
			}
			// Workload F's read-modify-writes really modify: the counters
			// in the values add up to the number of RMWs.
			if w.ReadModifyWrite > 0 {
				var total, base uint64
				for i := range uint64(1000) {
					total += binary.LittleEndian.Uint64(db.m[string(ycsb.AppendKey(nil, i))])
					base += i // Load stamps item i's value with i
				}
				if total-base != uint64(db.rmws.Load()) {
					t.Errorf("counters grew by %d, want %d RMWs", total-base, db.rmws.Load())
				}
			}
		})
	}
}

func TestRunIsDeterministic(t *testing.T) {
	run := func() map[string][]byte {
		db := newMapDB()
		load(t, db, 500, 8)
		if _, err := ycsb.Run(context.Background(), db, ycsb.RunConfig{
			Workload: ycsb.WorkloadF, Distribution: ycsb.DistZipfian, Records: 500, Threads: 1, Ops: 5000, Seed: 5,
		}); err != nil {
			t.Fatal(err)
		}
		return db.m
	}
	a, b := run(), run()
	for k, v := range a {
		if string(b[k]) != string(v) {
			t.Fatalf("two runs with one seed disagree on key %x", k)
		}
	}
}

func TestRunCountsErrors(t *testing.T) {
	db := newMapDB()
	load(t, db, 100, 8)
	db.failUpdates = true
	// Items beyond the loaded ones are absent: reads of them are NotFound.
	res, err := ycsb.Run(context.Background(), db, ycsb.RunConfig{
		Workload: ycsb.WorkloadA, Chooser: ycsb.Uniform{N: 200}, Records: 200, Ops: 4000, Threads: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.Err == nil || res.ErrText != "update refused" {
		t.Errorf("errors=%d err=%v, want failed updates counted", res.Errors, res.Err)
	}
	if res.NotFound == 0 {
		t.Error("reads of absent items were not counted as NotFound")
	}
	if res.Errors+res.NotFound > res.Ops || res.Ops != 4000 {
		t.Errorf("ops=%d errors=%d notfound=%d", res.Ops, res.Errors, res.NotFound)
	}
}

func TestRunForDurationReportsProgress(t *testing.T) {
	db := newMapDB()
	load(t, db, 100, 8)
	var calls []ycsb.Progress
	var mu sync.Mutex
	res, err := ycsb.Run(context.Background(), db, ycsb.RunConfig{
		Workload: ycsb.WorkloadB, Records: 100, Threads: 2, Duration: 50 * time.Millisecond,
		ProgressInterval: 5 * time.Millisecond,
		Progress: func(p ycsb.Progress) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, p)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 {
		t.Fatal("a 50ms run did no operations")
	}
	if len(calls) == 0 {
		t.Fatal("no progress calls")
	}
	last := calls[len(calls)-1]
	if !last.Final || last.Done != res.Ops || last.Fraction() != 1 || last.Duration != 50*time.Millisecond {
		t.Errorf("last progress %+v, want final with Done=%d", last, res.Ops)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Done < calls[i-1].Done {
			t.Errorf("progress went backwards: %d then %d", calls[i-1].Done, calls[i].Done)
		}
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	db := newMapDB()
	load(t, db, 100, 8)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := ycsb.Run(ctx, db, ycsb.RunConfig{Workload: ycsb.WorkloadC, Records: 100, Duration: time.Hour})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if res.Ops > 0 && res.Phase != "C" {
		t.Errorf("partial result %+v", res)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	db := newMapDB()
	for name, cfg := range map[string]ycsb.RunConfig{
		"no records":       {Workload: ycsb.WorkloadA, Ops: 1},
		"no ops":           {Workload: ycsb.WorkloadA, Records: 1},
		"negative threads": {Workload: ycsb.WorkloadA, Records: 1, Ops: 1, Threads: -1},
		"bad mix":          {Workload: ycsb.Workload{Name: "X", Read: 0.5}, Records: 1, Ops: 1},
	} {
		if _, err := ycsb.Run(context.Background(), db, cfg); err == nil {
			t.Errorf("%s: Run succeeded", name)
		}
	}
	if _, err := ycsb.Load(context.Background(), db, ycsb.LoadConfig{}); err == nil {
		t.Error("Load of 0 records succeeded")
	}
}

func TestProgressFraction(t *testing.T) {
	for _, tc := range []struct {
		p    ycsb.Progress
		want float64
	}{
		{ycsb.Progress{Done: 5, Total: 10}, 0.5},
		{ycsb.Progress{Elapsed: time.Second, Duration: 4 * time.Second}, 0.25},
		{ycsb.Progress{Elapsed: 5 * time.Second, Duration: 4 * time.Second}, 1},
		{ycsb.Progress{Final: true}, 1},
		{ycsb.Progress{}, 0},
	} {
		if got := tc.p.Fraction(); got != tc.want {
			t.Errorf("%+v.Fraction() = %v, want %v", tc.p, got, tc.want)
		}
	}
}
