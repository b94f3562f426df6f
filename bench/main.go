package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/dustin/go-humanize"
	"github.com/rskv-go/rskv/bench/engines"
	"github.com/rskv-go/rskv/bench/harness"
	"github.com/rskv-go/rskv/internal/ycsb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == harness.ChildArg {
		return harness.ChildMain(ctx, os.Stdin, stdout, stderr) // cgroup mode: one engine
	}
	if len(args) > 0 && args[0] == "churn" {
		return runChurnMode(ctx, args[1:], stdout, stderr) // churn.go
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		engineList = fs.String("engines", "all", "comma-separated engines: "+strings.Join(engines.Names(), ", ")+
			", or all (every engine but rskv-nobg)")
		workloads  = fs.String("workloads", "A,B,C,F", "comma-separated YCSB workloads")
		dists      = fs.String("distributions", "zipfian,uniform", "comma-separated key distributions")
		valueSizes = fs.String("value-sizes", "8,100", "comma-separated value sizes in bytes")
		threads    = fs.String("threads", "1,2", "comma-separated goroutine counts")
		modes      = fs.String("modes", "memory,disk", "comma-separated modes: memory (budget >= 4x data), disk (data = 4x budget)")
		records    = fs.Uint64("records", 500_000, "records to load")
		duration   = fs.Duration("duration", time.Second, "length of each run")
		ops        = fs.Int64("ops", 0, "operations per run instead of -duration")
		out        = fs.String("out", "results", "directory for results.md, results.json and throughput.png")
		scratch    = fs.String("scratch", "", "parent directory for the engines' files (default: the system's temp directory)")
		seed       = fs.Uint64("seed", 1, "random seed")
		loadBatch  = fs.Int("load-batch", 10_000, "records per transaction when loading bbolt")
		quiet      = fs.Bool("quiet", false, "do not print a line per run on stderr")
		readme     = fs.String("readme", "", "also put the results into this markdown file, between its results markers")
		from       = fs.String("from", "", "render the outputs from this results.json instead of running the matrix")
		repeat     = fs.Int("repeat", 3, "runs per cell; the median is reported")
		budget     = fs.String("budget", "", "every engine's memory budget (e.g. 128MiB) instead of the mode's")
		cgroup     = fs.String("cgroup", "", "run each engine in a child process in its own memory cgroup of this size "+
			"(process + page cache, e.g. 640MiB), or 'unlimited' (a cgroup without a limit, to measure memory use); needs root")
		ringSize   = fs.Int("ring-size", 0, "length of the pre-drawn key sequences (0: 4 per record in [1M, 16M]; in cgroup mode 1 per record)")
		cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of the whole matrix (loads included) to this file")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.Newf("unexpected arguments %q", fs.Args())
	}
	if *from != "" {
		rep, err := harness.ReadJSON(*from)
		if err != nil {
			return err
		}
		return emit(rep, *out, *readme, stdout)
	}
	cfg := harness.Config{
		Records: *records, Duration: *duration, Ops: *ops, ScratchDir: *scratch, Seed: *seed, LoadBatch: *loadBatch,
		Command: strings.TrimSpace("cd bench && go run . " + strings.Join(args, " ")),
		Repeat:  *repeat, RingSize: *ringSize,
	}
	var err error
	if *repeat <= 0 {
		return errors.Newf("-repeat: %d is not a positive number", *repeat)
	}
	if *budget != "" {
		if cfg.Budget, err = parseSize("-budget", *budget); err != nil {
			return err
		}
	}
	switch *cgroup {
	case "", "off":
	case "unlimited":
		cfg.CgroupLimit = harness.Unlimited
	default:
		if cfg.CgroupLimit, err = parseSize("-cgroup", *cgroup); err != nil {
			return err
		}
	}
	if cfg.Engines, err = engines.Lookup(*engineList); err != nil {
		return err
	}
	if cfg.Workloads, err = ycsb.ParseWorkloads(*workloads); err != nil {
		return err
	}
	for _, d := range strings.Split(*dists, ",") {
		dist, err := ycsb.ParseDistribution(d)
		if err != nil {
			return err
		}
		cfg.Distributions = append(cfg.Distributions, dist)
	}
	if cfg.ValueSizes, err = parseInts("-value-sizes", *valueSizes); err != nil {
		return err
	}
	if cfg.Threads, err = parseInts("-threads", *threads); err != nil {
		return err
	}
	if cfg.Modes, err = harness.ParseModes(*modes); err != nil {
		return err
	}
	if !*quiet {
		cfg.Log = stderr
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return errors.Wrap(err, "-cpuprofile")
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return errors.Wrap(err, "-cpuprofile")
		}
		defer pprof.StopCPUProfile()
	}
	rep, runErr := harness.Run(ctx, cfg)
	if rep == nil {
		return runErr
	}
	if err := emit(rep, *out, *readme, stdout); err != nil {
		return err
	}
	return runErr
}

// emit writes the report's files to out and, if readme is set, embeds the
// results in that markdown file.
func emit(rep *harness.Report, out, readme string, stdout io.Writer) error {
	if err := writeOutputs(rep, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s, %s and %s\n", filepath.Join(out, "results.md"),
		filepath.Join(out, "results.json"), filepath.Join(out, "throughput.png"))
	if readme != "" {
		doc, err := os.ReadFile(readme)
		if err != nil {
			return errors.Wrap(err, "read -readme file")
		}
		doc, err = rep.Embed(doc)
		if err != nil {
			return errors.Wrapf(err, "%s", readme)
		}
		if err := os.WriteFile(readme, doc, 0o644); err != nil {
			return errors.Wrap(err, "write -readme file")
		}
		fmt.Fprintf(stdout, "updated %s\n", readme)
	}
	return nil
}

// parseSize parses a byte count such as 128MiB or 640MB.
func parseSize(flagName, s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > 1<<50 {
		return 0, errors.Newf("%s: %q is not a size (want e.g. 128MiB)", flagName, s)
	}
	return int64(n), nil
}

func parseInts(flagName, list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, errors.Newf("%s: %q is not a positive number", flagName, f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.Newf("%s: no value given", flagName)
	}
	return out, nil
}

func writeOutputs(rep *harness.Report, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errors.Wrap(err, "create output directory")
	}
	for name, write := range map[string]func(io.Writer) error{
		"results.md":     rep.WriteMarkdown,
		"results.json":   rep.WriteJSON,
		"throughput.png": rep.WritePNG,
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return errors.Wrapf(err, "create %s", name)
		}
		werr := write(f)
		cerr := f.Close()
		if werr != nil {
			return errors.Wrapf(werr, "write %s", name)
		}
		if cerr != nil {
			return errors.Wrapf(cerr, "close %s", name)
		}
	}
	return nil
}
