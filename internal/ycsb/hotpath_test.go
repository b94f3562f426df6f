package ycsb_test

import (
	"context"
	"testing"

	"github.com/rskv-go/rskv/internal/ycsb"
)

// nopDB does nothing, so that the runner's own cost shows.
type nopDB struct{}

func (nopDB) Read(key, dst []byte) ([]byte, error)            { return append(dst, key...), nil }
func (nopDB) Update(key, value []byte) error                  { return nil }
func (nopDB) ReadModifyWrite(key, dst []byte) ([]byte, error) { return append(dst, key...), nil }
func (nopDB) Close() error                                    { return nil }

// TestRunDoesNotAllocatePerOp checks that the runner's hot path does not
// allocate: a run's allocations must not grow with its operation count.
func TestRunDoesNotAllocatePerOp(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count test")
	}
	for _, dist := range []ycsb.Distribution{ycsb.DistUniform, ycsb.DistZipfian} {
		allocs := func(ops int64) float64 {
			return testing.AllocsPerRun(3, func() {
				if _, err := ycsb.Run(context.Background(), nopDB{}, ycsb.RunConfig{
					Workload: ycsb.WorkloadF, Distribution: dist, Records: 1000, Ops: ops, Threads: 1, SampleEvery: 1,
				}); err != nil {
					t.Fatal(err)
				}
			})
		}
		small, large := allocs(1000), allocs(100_000)
		if large > small+50 {
			t.Errorf("%v: %v allocations for 1000 ops but %v for 100000", dist, small, large)
		}
	}
}

func BenchmarkRunnerOverhead(b *testing.B) {
	for _, sample := range []int{1, 4} {
		b.Run("sample="+itoa(sample), func(b *testing.B) {
			b.ReportAllocs()
			res, err := ycsb.Run(context.Background(), nopDB{}, ycsb.RunConfig{
				Workload: ycsb.WorkloadA, Distribution: ycsb.DistZipfian, Records: 1 << 20, Ops: int64(b.N), SampleEvery: sample,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.Latency.P50), "p50-ns")
		})
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func BenchmarkRunnerOverheadRing(b *testing.B) {
	z, err := ycsb.NewScrambledZipfian(1<<20, ycsb.DefaultTheta)
	if err != nil {
		b.Fatal(err)
	}
	ring, err := ycsb.NewKeyRing(z, 1<<20, 1<<22, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.ReportAllocs()
	if _, err := ycsb.Run(context.Background(), nopDB{}, ycsb.RunConfig{
		Workload: ycsb.WorkloadA, Ring: ring, Records: 1 << 20, Ops: int64(b.N),
	}); err != nil {
		b.Fatal(err)
	}
}
