// Command interleave compares engines in memory with their runs interleaved:
// every engine is loaded once and kept open, and each cell of the matrix
// (value size, distribution, workload, threads) runs every engine in turn,
// round after round. The ratio of one engine to another is taken within a
// round (the two runs are a few hundred milliseconds apart) and the median
// over the rounds is reported. On a machine shared with other work this is
// much steadier than the main harness, which runs one engine's whole matrix
// before the next engine's, so that a burst of load lands on one engine only.
//
//	cd bench && go run ./interleave -engines rskv,shardmap -records 1000000 -rounds 3
//
// It runs the in-memory mode only (the budget is the harness's: at least
// four times the data) and prints a markdown table of the median ratios of
// the first engine to each of the others, with the first engine's median
// throughput.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/bench/engines"
	"github.com/rskv-go/rskv/bench/harness"
	"github.com/rskv-go/rskv/internal/ycsb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "interleave: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("interleave", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		engineList = fs.String("engines", "rskv,shardmap", "comma-separated engines; ratios are the first to each other")
		workloads  = fs.String("workloads", "A,B,C,F", "comma-separated YCSB workloads")
		dists      = fs.String("distributions", "zipfian,uniform", "comma-separated key distributions")
		valueSizes = fs.String("value-sizes", "8,100", "comma-separated value sizes in bytes")
		threads    = fs.String("threads", "1,2", "comma-separated goroutine counts")
		records    = fs.Uint64("records", 1_000_000, "records to load")
		duration   = fs.Duration("duration", 300*time.Millisecond, "length of each engine's run in a round")
		rounds     = fs.Int("rounds", 3, "rounds per cell (the median is reported)")
		scratch    = fs.String("scratch", "", "parent directory for the engines' files (default: the system's temp directory)")
		seed       = fs.Uint64("seed", 1, "random seed")
		verbose    = fs.Bool("v", false, "print every run on stderr")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	engs, err := engines.Lookup(*engineList)
	if err != nil {
		return err
	}
	if len(engs) < 2 {
		return errors.New("-engines: name at least two engines")
	}
	wls, err := ycsb.ParseWorkloads(*workloads)
	if err != nil {
		return err
	}
	var ds []ycsb.Distribution
	for _, d := range strings.Split(*dists, ",") {
		dist, err := ycsb.ParseDistribution(d)
		if err != nil {
			return err
		}
		ds = append(ds, dist)
	}
	vss, err := ints(*valueSizes)
	if err != nil {
		return errors.Wrap(err, "-value-sizes")
	}
	ths, err := ints(*threads)
	if err != nil {
		return errors.Wrap(err, "-threads")
	}
	if *rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	rings := map[ycsb.Distribution]*ycsb.KeyRing{}
	ringSize := int(min(max(4**records, 1<<20), 1<<24))
	for _, d := range ds {
		c, err := ycsb.NewChooser(d, *records, ycsb.DefaultTheta)
		if err != nil {
			return err
		}
		if rings[d], err = ycsb.NewKeyRing(c, *records, ringSize, *seed); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "Interleaved in-memory runs: %d records, %v per run, median of %d rounds; load average at start %s.\n\n",
		*records, *duration, *rounds, loadAvg())
	fmt.Fprintf(stdout, "Command: `cd bench && go run ./interleave %s`\n\n", strings.Join(args, " "))
	header := "| value | workload | keys | threads | " + engs[0].Name + " ops/s |"
	sep := "|---:|---|---|---:|---:|"
	for _, e := range engs[1:] {
		header += " " + engs[0].Name + "/" + e.Name + " |"
		sep += "---:|"
	}
	fmt.Fprintln(stdout, header)
	fmt.Fprintln(stdout, sep)
	for _, vs := range vss {
		dbs, cleanup, err := loadAll(ctx, engs, *records, vs, *scratch, *seed, stderr)
		if err != nil {
			cleanup()
			return err
		}
		for _, d := range ds {
			for _, w := range wls {
				for _, th := range ths {
					ops := make([][]float64, len(engs))
					ratios := make([][]float64, len(engs))
					for r := 0; r < *rounds; r++ {
						this := make([]float64, len(engs))
						// Alternate the order per round, so neither engine
						// always runs right after the other's writes.
						order := make([]int, len(engs))
						for i := range order {
							order[i] = i
						}
						if r%2 == 1 {
							slices.Reverse(order)
						}
						for _, i := range order {
							res, err := ycsb.Run(ctx, dbs[i], ycsb.RunConfig{
								Workload: w, Ring: rings[d], RingName: d.String(), Records: *records, ValueSize: vs,
								Threads: th, Duration: *duration, Seed: *seed + uint64(r),
							})
							if err != nil {
								cleanup()
								return errors.Wrapf(err, "%s %s %s", engs[i].Name, w.Name, d)
							}
							this[i] = res.OpsPerSec
							ops[i] = append(ops[i], res.OpsPerSec)
							if *verbose {
								fmt.Fprintf(stderr, "v%d %s %s t%d round %d %s: %.0f ops/s\n", vs, w.Name, d, th, r, engs[i].Name, res.OpsPerSec)
							}
						}
						for i := 1; i < len(engs); i++ {
							ratios[i] = append(ratios[i], this[0]/this[i])
						}
					}
					line := fmt.Sprintf("| %d | %s | %s | %d | %s |", vs, w.Name, d, th, human(median(ops[0])))
					for i := 1; i < len(engs); i++ {
						line += fmt.Sprintf(" %.2fx |", median(ratios[i]))
					}
					fmt.Fprintln(stdout, line)
				}
			}
		}
		cleanup()
	}
	fmt.Fprintf(stdout, "\nLoad average at end %s.\n", loadAvg())
	return nil
}

// loadAll opens and loads every engine for one value size.
func loadAll(ctx context.Context, engs []engines.Engine, records uint64, vs int, scratch string, seed uint64,
	stderr io.Writer) ([]ycsb.DB, func(), error) {
	var dbs []ycsb.DB
	var dirs []string
	cleanup := func() {
		for _, db := range dbs {
			if err := db.Close(); err != nil {
				fmt.Fprintf(stderr, "close: %v\n", err)
			}
		}
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
		dbs, dirs = nil, nil
	}
	budget := harness.Budget(harness.InMemory, records, vs)
	for _, e := range engs {
		dir, err := os.MkdirTemp(scratch, "interleave-"+e.Name+"-")
		if err != nil {
			return dbs, cleanup, errors.Wrap(err, "scratch directory")
		}
		dirs = append(dirs, dir)
		db, err := e.Open(engines.Setup{Dir: filepath.Join(dir, "db"), Budget: budget, Records: records, ValueSize: vs})
		if err != nil {
			return dbs, cleanup, errors.Wrapf(err, "open %s", e.Name)
		}
		dbs = append(dbs, db)
		if _, err := ycsb.Load(ctx, db, ycsb.LoadConfig{Records: records, ValueSize: vs, Threads: 2, Seed: seed}); err != nil {
			return dbs, cleanup, errors.Wrapf(err, "load %s", e.Name)
		}
	}
	return dbs, cleanup, nil
}

func ints(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, errors.Newf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
