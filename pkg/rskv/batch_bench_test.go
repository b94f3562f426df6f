package rskv_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// BenchmarkBatchCommit commits batches of n 100-byte puts over a key space
// that fits in memory; records/s is the figure to compare (bench/multikey
// runs the same against Badger and Pebble).
func BenchmarkBatchCommit(b *testing.B) {
	for _, n := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, err := rskv.Open("db", &rskv.Options{FS: vfs.NewMem(), MemorySize: 256 << 20, DisableBackground: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			value := make([]byte, 100)
			r := rand.New(rand.NewPCG(1, 2))
			batch := s.NewBatch()
			k := make([]byte, 8)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch.Reset()
				for j := 0; j < n; j++ {
					binary.BigEndian.PutUint64(k, r.Uint64N(1<<18))
					batch.Put(k, value)
				}
				if err := batch.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
