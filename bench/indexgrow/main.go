// Command indexgrow measures rskv's online index growth: it loads the same
// keys (8-byte keys, 8-byte values, YCSB's scattered order) into a store
// opened with the smallest index (1 Ki buckets, which doubles as it fills)
// and into one created with the right size (one bucket per four keys,
// rounded up to a power of two), reports the index of each (buckets,
// overflow buckets, the longest overflow chain, the mean buckets a lookup
// reads) and the load rates, then reads random keys from both stores in
// alternating rounds and reports the median throughput ratio.
//
//	cd bench && go run ./indexgrow -records 50000000
//
// Both stores stay open for the reads (their logs are in memory): give it
// about 100 bytes of RAM per record.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/ycsb"
	"github.com/rskv-go/rskv/pkg/rskv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "indexgrow: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	records := flag.Uint64("records", 50_000_000, "keys to load")
	threads := flag.Int("threads", 2, "goroutines loading and reading")
	rounds := flag.Int("rounds", 5, "read rounds per store (the median ratio is reported)")
	dur := flag.Duration("duration", 2*time.Second, "length of each read round")
	scratch := flag.String("scratch", "", "parent directory of the stores (default: the system's temp directory)")
	flag.Parse()
	n := *records
	memory := int64(1) << (64 - bits.LeadingZeros64(uint64(n*48*2)-1)) // the log in memory, twice over
	right := int64(1) << (64 - bits.LeadingZeros64(max(n/4, 1024)-1))
	fmt.Printf("%d records (8-byte keys and values), %d goroutines, MemorySize %d MiB; load average %s\n\n",
		n, *threads, memory>>20, loadAvg())
	type store struct {
		name string
		s    *rskv.Store
		dir  string
	}
	var stores []store
	defer func() {
		for _, st := range stores {
			_ = st.s.Close()
			_ = os.RemoveAll(st.dir)
		}
	}()
	fmt.Println("| store | initial buckets | load | growths | buckets | overflow buckets | longest overflow chain | buckets read per lookup | index MiB |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range []struct {
		name    string
		buckets int64
	}{{"grown from tiny", 1 << 10}, {"created right-sized", right}} {
		dir, err := os.MkdirTemp(*scratch, "indexgrow-")
		if err != nil {
			return errors.Wrap(err, "scratch directory")
		}
		s, err := rskv.Open(dir, &rskv.Options{MemorySize: memory, IndexBuckets: c.buckets, CheckpointInterval: -1})
		if err != nil {
			return err
		}
		stores = append(stores, store{c.name, s, dir})
		start := time.Now()
		if err := load(s, n, *threads); err != nil {
			return err
		}
		took := time.Since(start)
		for s.Stats().IndexGrowths > 0 && growing(s) {
			time.Sleep(10 * time.Millisecond)
		}
		st, is := s.Stats(), s.IndexStats()
		fmt.Printf("| %s | %d | %.2fM/s | %d | %d | %d | %d | %.4f | %d |\n", c.name, c.buckets,
			float64(n)/took.Seconds()/1e6, st.IndexGrowths, is.Buckets, is.OverflowBuckets, is.LongestOverflow, is.Probes, is.Bytes>>20)
	}
	// Without growth, the tiny index would hold every key in chains of
	// n/1024/7 buckets, and a lookup would read half of one on average.
	fmt.Printf("\n(Without growth the 1 Ki-bucket index would read about %.0f buckets per lookup: %d keys in chains of %.0f buckets.)\n\n",
		(float64(n)/1024/7+1)/2, n, float64(n)/1024/7)
	ratios := make([]float64, 0, *rounds)
	ops := make([][]float64, 2)
	for r := 0; r < *rounds; r++ {
		var this [2]float64
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			got, err := readRound(stores[i].s, n, *threads, *dur, uint64(r))
			if err != nil {
				return err
			}
			this[i] = got
			ops[i] = append(ops[i], got)
		}
		ratios = append(ratios, this[0]/this[1])
	}
	fmt.Println("| random Get, " + fmt.Sprint(*threads) + " goroutines | grown ops/s | right-sized ops/s | grown / right-sized |")
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| median of %d rounds of %v | %.2fM | %.2fM | %.3f |\n", *rounds, *dur, median(ops[0])/1e6, median(ops[1])/1e6, median(ratios))
	fmt.Printf("\nper-round ratios: %.3f; load average at end %s\n", ratios, loadAvg())
	return nil
}

// growing reports whether the store is still doubling its index: the
// overflow count moves while it does. (The grower's flag is internal.)
func growing(s *rskv.Store) bool {
	a := s.Stats().IndexBuckets
	time.Sleep(50 * time.Millisecond)
	return s.Stats().IndexBuckets != a
}

func load(s *rskv.Store, n uint64, threads int) error {
	var wg sync.WaitGroup
	errs := make([]error, threads)
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var k, v [8]byte
			for i := uint64(t); i < n; i += uint64(threads) {
				ycsb.AppendKey(k[:0], i)
				v[0] = byte(i)
				if err := s.Put(k[:], v[:]); err != nil {
					errs[t] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func readRound(s *rskv.Store, n uint64, threads int, d time.Duration, seed uint64) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	counts := make([]int64, threads)
	errs := make([]error, threads)
	start := time.Now()
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(t)))
			var k [8]byte
			buf := make([]byte, 0, 64)
			for ctx.Err() == nil {
				for j := 0; j < 256; j++ {
					ycsb.AppendKey(k[:0], rng.Uint64N(n))
					var err error
					if buf, err = s.AppendValue(buf[:0], k[:]); err != nil {
						errs[t] = err
						return
					}
				}
				counts[t] += 256
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	var total int64
	for _, c := range counts {
		total += c
	}
	return float64(total) / el.Seconds(), errors.Join(errs...)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return string(b[:len(b)-1])
}
