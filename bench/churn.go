package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/churn"
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
	live := float64(c.keys * (12 + c.valueSize)) // keys are 12 bytes (internal/churn)
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
	r, err := churn.Run(ctx, churn.Config{
		Keys: c.keys, ValueSize: c.valueSize, Writers: c.writers,
		Churn: c.churn, Idle: c.idle, Dir: dir,
	}, o)
	if err != nil {
		return churnRun{}, err
	}
	return churnRun{
		putsPerSec: r.PutsPerSec,
		inPlace:    r.InPlace,
		peak:       r.PeakDisk / r.Live,
		settled:    r.SettledDisk / r.Live,
		peakAt:     r.PeakAt,
	}, nil
}
