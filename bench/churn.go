package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// The churn mode (issue 11): keys of fixed-size values overwritten at
// random by a few goroutines, with default options and with SyncNone in
// the same run, reporting puts/s, the share of updates done in place, and
// the directory size (peak during the churn and the idle period after it,
// and at the end) over the live data (keys and values):
//
//	cd bench && go run . churn -runs 3
type churnConfig struct {
	keys, valueSize, writers, runs int
	churn, idle                    time.Duration
	scratch                        string
}

type churnRun struct {
	putsPerSec, inPlace, peak, settled float64
	peakAt                             string // when the peak was, and where its bytes were
}

func runChurnMode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench churn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c churnConfig
	fs.IntVar(&c.keys, "keys", 500_000, "keys")
	fs.IntVar(&c.valueSize, "value-size", 100, "value size in bytes")
	fs.IntVar(&c.writers, "writers", 2, "writer goroutines")
	fs.IntVar(&c.runs, "runs", 3, "runs of each configuration (the median is reported)")
	fs.DurationVar(&c.churn, "duration", 30*time.Second, "length of the churn")
	fs.DurationVar(&c.idle, "idle", 15*time.Second, "idle period after the churn")
	fs.StringVar(&c.scratch, "scratch", "", "parent directory for the stores (default: the system's temp directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	configs := []struct {
		name string
		opts func() *rskv.Options
	}{
		{"defaults (SyncPeriodic)", func() *rskv.Options { return &rskv.Options{} }},
		{"SyncNone", func() *rskv.Options { return &rskv.Options{SyncMode: rskv.SyncNone} }},
	}
	results := make([][]churnRun, len(configs))
	for r := 0; r < c.runs; r++ {
		for i, cf := range configs {
			res, err := churnOnce(ctx, c, cf.opts())
			if err != nil {
				return errors.Wrapf(err, "%s run %d", cf.name, r+1)
			}
			fmt.Fprintf(stderr, "%s run %d: %.0f puts/s, %.1f%% in place, peak disk %.2fx live (at %s), settled %.2fx\n",
				cf.name, r+1, res.putsPerSec, res.inPlace*100, res.peak, res.peakAt, res.settled)
			results[i] = append(results[i], res)
		}
	}
	live := float64(c.keys * (12 + c.valueSize))
	fmt.Fprintf(stdout, "churn: %d keys of %d-byte values (%.1f MiB live), %d writers, %v churn, %v idle; medians of %d runs\n\n",
		c.keys, c.valueSize, live/(1<<20), c.writers, c.churn, c.idle, c.runs)
	fmt.Fprintln(stdout, "| | puts/s | updates in place | peak disk / live | disk / live after idle |")
	fmt.Fprintln(stdout, "|---|---:|---:|---:|---:|")
	for i, cf := range configs {
		med := func(f func(churnRun) float64) float64 {
			v := make([]float64, 0, len(results[i]))
			for _, r := range results[i] {
				v = append(v, f(r))
			}
			sort.Float64s(v)
			return v[len(v)/2]
		}
		fmt.Fprintf(stdout, "| %s | %.0f | %.1f%% | %.2fx | %.2fx |\n", cf.name,
			med(func(r churnRun) float64 { return r.putsPerSec }), med(func(r churnRun) float64 { return r.inPlace * 100 }),
			med(func(r churnRun) float64 { return r.peak }), med(func(r churnRun) float64 { return r.settled }))
	}
	return nil
}

func churnOnce(ctx context.Context, c churnConfig, o *rskv.Options) (churnRun, error) {
	dir, err := os.MkdirTemp(c.scratch, "rskv-churn-")
	if err != nil {
		return churnRun{}, err
	}
	defer os.RemoveAll(dir)
	s, err := rskv.Open(dir, o)
	if err != nil {
		return churnRun{}, err
	}
	defer s.Close()
	key := func(b []byte, i int) []byte {
		copy(b, "key-")
		binary.BigEndian.PutUint64(b[4:], uint64(i))
		return b
	}
	kb, val := make([]byte, 12), make([]byte, c.valueSize)
	for i := 0; i < c.keys; i++ {
		if err := s.Put(key(kb, i), val); err != nil {
			return churnRun{}, err
		}
	}
	live := float64(c.keys * (len(kb) + c.valueSize))
	st0 := s.Stats()
	stop := make(chan struct{})
	puts := make([]int64, c.writers)
	errs := make(chan error, c.writers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < c.writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kb, v := make([]byte, 12), make([]byte, c.valueSize)
			x := uint64(w + 1)
			for n := int64(0); ; n++ {
				if n%1024 == 0 {
					select {
					case <-stop:
						puts[w] = n
						return
					default:
					}
				}
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				binary.LittleEndian.PutUint64(v, x)
				if err := s.Put(key(kb, int(x%uint64(c.keys))), v); err != nil {
					errs <- err
					puts[w] = n
					return
				}
			}
		}()
	}
	peak, peakAt := 0.0, ""
	sample := func() float64 {
		n := float64(dirBytes(dir))
		if n > peak {
			peak, peakAt = n, fmt.Sprintf("%.1fs: %s", time.Since(start).Seconds(), dirBreakdown(dir))
		}
		return n
	}
	for time.Since(start) < c.churn && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		sample()
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return churnRun{}, err
	}
	st := s.Stats()
	for t := time.Now(); time.Since(t) < c.idle && ctx.Err() == nil; {
		time.Sleep(100 * time.Millisecond)
		sample()
	}
	settled := sample()
	var total int64
	for _, n := range puts {
		total += n
	}
	return churnRun{
		peakAt:     peakAt,
		putsPerSec: float64(total) / elapsed.Seconds(),
		inPlace:    float64(st.InPlaceUpdates-st0.InPlaceUpdates) / float64(st.Puts-st0.Puts),
		peak:       peak / live,
		settled:    settled / live,
	}, ctx.Err()
}

// dirBreakdown sums the sizes of the files in dir by kind (the name up to
// its first '-': seg, delta, checkpoint), in MiB.
func dirBreakdown(dir string) string {
	sums := map[string]int64{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && !info.IsDir() {
			sums[strings.SplitN(e.Name(), "-", 2)[0]] += info.Size()
		}
	}
	var out []string
	for k, n := range sums {
		if n >= 1<<20 {
			out = append(out, fmt.Sprintf("%s %.1f MiB", k, float64(n)/(1<<20)))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// dirBytes is the total size of the files in dir.
func dirBytes(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if info, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && !info.IsDir() {
			n += info.Size()
		}
	}
	return n
}
