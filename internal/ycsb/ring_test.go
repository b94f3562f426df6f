package ycsb_test

import (
	"context"
	"testing"

	"github.com/rskv-go/rskv/internal/ycsb"
)

func TestKeyRingKeepsSkew(t *testing.T) {
	const n = 50_000
	z, err := ycsb.NewScrambledZipfian(n, ycsb.DefaultTheta)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := ycsb.NewKeyRing(z, n, 4*n, 1)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, n)
	for i := range uint64(ring.Len()) {
		counts[ring.At(i)]++
	}
	if s := topShare(counts, 0.01); s < 0.45 {
		t.Errorf("ring's top 1%% share %.3f, want > 0.45", s)
	}
	again, err := ycsb.NewKeyRing(z, n, 4*n, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(ring.Len()) {
		if ring.At(i) != again.At(i) {
			t.Fatalf("rings with one seed differ at %d", i)
		}
	}
	if ring.At(uint64(ring.Len())) != ring.At(0) {
		t.Error("At does not wrap around")
	}
	if _, err := ycsb.NewKeyRing(z, n, 0, 1); err == nil {
		t.Error("NewKeyRing of size 0 succeeded")
	}
}

func TestRunReplaysRing(t *testing.T) {
	db := newMapDB()
	load(t, db, 300, 8)
	ring, err := ycsb.NewKeyRing(ycsb.Uniform{N: 300}, 300, 1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ycsb.Run(context.Background(), db, ycsb.RunConfig{
		Workload: ycsb.WorkloadC, Ring: ring, RingName: "uniform", Records: 300, Ops: 5000, Threads: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 5000 || res.NotFound != 0 || res.Distribution != "uniform" {
		t.Errorf("result %+v", res)
	}
	if _, err := ycsb.Run(context.Background(), db, ycsb.RunConfig{
		Workload: ycsb.WorkloadC, Ring: ring, Records: 301, Ops: 1,
	}); err == nil {
		t.Error("Run accepted a ring drawn over another item count")
	}
}
