package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/errors"
	"github.com/dustin/go-humanize"
	"github.com/rskv-go/rskv/internal/ycsb"
	"github.com/rskv-go/rskv/internal/ycsb/rskvdb"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// benchConfig holds the flags of rskv bench.
type benchConfig struct {
	recordsFlag   int64 // --records as given; records once checked
	records       uint64
	valueSize     int
	workloads     string
	distributions string
	threads       int
	duration      time.Duration
	ops           int64
	memorySize    string
	syncMode      string
	dir           string
	keep          bool
	seed          uint64
	progress      bool
	asJSON        bool
	background    bool
}

// benchReport is what rskv bench prints with --json.
type benchReport struct {
	Records     uint64        `json:"records"`
	KeySize     int           `json:"key_size"`
	ValueSize   int           `json:"value_size"`
	Threads     int           `json:"threads"`
	MemorySize  int64         `json:"memory_size"`
	SyncMode    string        `json:"sync_mode"`
	Dir         string        `json:"dir,omitempty"`
	GoMaxProcs  int           `json:"gomaxprocs"`
	Results     []ycsb.Result `json:"results"`
	Background  bool          `json:"background_running"`
	StoreKeys   int           `json:"store_keys"`
	StoreStats  rskv.Stats    `json:"store_stats"`
	Description string        `json:"description"`
}

func newBenchCmd() *cobra.Command {
	var c benchConfig
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load a fresh store in a temporary directory and run YCSB workloads",
		Long: `Load a fresh rskv store in a new temporary directory with --records records
(8-byte keys, --value-size byte values), then run each YCSB workload for --duration
(or --ops operations) with each key distribution on --threads goroutines, and print
a table of throughput and latency. The store uses default options (background
services on, SyncPeriodic: writes durable within 100ms) with MemorySize large
enough to hold the data set, unless --memory-size says otherwise.

Workloads: A = 50% read, 50% update; B = 95% read, 5% update; C = read only;
F = 50% read, 50% read-modify-write (Store.RMW). Distributions: zipfian (YCSB's
scrambled zipfian, theta 0.99) and uniform. For peer stores (Badger, Pebble,
bbolt, Go maps) see the harness in bench/ of the repository.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, c) },
	}
	f := cmd.Flags()
	f.Int64VarP(&c.recordsFlag, "records", "n", 500_000, "records to load")
	f.IntVar(&c.valueSize, "value-size", 100, "value size in bytes")
	f.StringVarP(&c.workloads, "workloads", "w", "A,B,C,F", "comma-separated YCSB workloads (A, B, C, F)")
	f.StringVar(&c.distributions, "distributions", "zipfian,uniform", "comma-separated key distributions (zipfian, uniform)")
	f.IntVarP(&c.threads, "threads", "t", runtime.GOMAXPROCS(0), "goroutines")
	f.DurationVar(&c.duration, "duration", 2*time.Second, "time per workload and distribution")
	f.Int64Var(&c.ops, "ops", 0, "operations per workload and distribution instead of --duration")
	f.StringVar(&c.memorySize, "memory-size", "", "store MemorySize, e.g. 256MiB (default: a power of two >= 4x the data, at least 64 MiB)")
	f.StringVar(&c.syncMode, "sync", "periodic", "sync mode: none, periodic or always")
	f.StringVar(&c.dir, "dir", "", "parent directory for the temporary store (default: the system's temp directory)")
	f.BoolVar(&c.keep, "keep", false, "keep the store directory instead of removing it")
	f.Uint64Var(&c.seed, "seed", 1, "random seed")
	f.BoolVar(&c.progress, "progress", true, "show progress bars on stderr when it is a terminal")
	f.BoolVar(&c.asJSON, "json", false, "print the results as JSON instead of a table")
	f.BoolVar(&c.background, "background", true, "run the store's background services (syncer, checkpointer, collector, log shifter)")
	return cmd
}

// parseSyncMode parses the --sync flag of serve and bench.
func parseSyncMode(s string) (rskv.SyncMode, error) {
	switch strings.ToLower(s) {
	case "none":
		return rskv.SyncNone, nil
	case "periodic":
		return rskv.SyncPeriodic, nil
	case "always":
		return rskv.SyncAlways, nil
	}
	return 0, usageError{errors.Newf("unknown --sync %q (want none, periodic or always)", s)}
}

// defaultMemorySize is the bench's MemorySize for a data set of dataBytes:
// the next power of two of four times the data (room for record headers and
// the copies RMW makes of read-only records), at least 64 MiB.
func defaultMemorySize(dataBytes int64) int64 {
	want := max(4*dataBytes, 64<<20)
	return 1 << (64 - bits.LeadingZeros64(uint64(want-1)))
}

// check validates the numeric flags, naming the one that is wrong, and sets
// records.
func (c *benchConfig) check() error {
	bad := func(format string, args ...any) error { return usageError{errors.Newf(format, args...)} }
	switch {
	case c.recordsFlag < 0:
		return bad("--records %d is negative: give the number of records to load", c.recordsFlag)
	case c.recordsFlag == 0:
		return bad("--records must be positive")
	case c.valueSize < 0:
		return bad("--value-size %d is negative: give a size in bytes, such as 100", c.valueSize)
	case c.valueSize == 0:
		return bad("--value-size must be positive")
	case c.threads <= 0:
		return bad("--threads %d: must be positive", c.threads)
	case c.ops < 0:
		return bad("--ops %d is negative", c.ops)
	case c.duration < 0:
		return bad("--duration %v is negative", c.duration)
	case c.ops == 0 && c.duration == 0:
		return bad("--duration or --ops must be positive")
	}
	c.records = uint64(c.recordsFlag)
	return nil
}

func runBench(cmd *cobra.Command, c benchConfig) (err error) {
	ctx := cmd.Context()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := c.check(); err != nil {
		return err
	}
	workloads, err := ycsb.ParseWorkloads(c.workloads)
	if err != nil {
		return usageError{err}
	}
	var dists []ycsb.Distribution
	for _, d := range strings.Split(c.distributions, ",") {
		if strings.TrimSpace(d) == "" {
			continue
		}
		dist, err := ycsb.ParseDistribution(d)
		if err != nil {
			return usageError{err}
		}
		dists = append(dists, dist)
	}
	if len(dists) == 0 {
		return usageError{errors.New("no --distributions given")}
	}
	mode, err := parseSyncMode(c.syncMode)
	if err != nil {
		return err
	}
	dataBytes := int64(c.records) * int64(ycsb.KeySize+c.valueSize)
	memSize := defaultMemorySize(dataBytes)
	if c.memorySize != "" {
		if memSize, err = parseSize("--memory-size", c.memorySize); err != nil {
			return err
		}
	}
	duration := c.duration
	if c.ops > 0 {
		duration = 0
	}

	dir, err := os.MkdirTemp(c.dir, "rskv-bench-")
	if err != nil {
		return errors.WithHint(errors.Wrap(err, "create the benchmark directory"), "pass a writable parent directory with --dir")
	}
	defer func() {
		if c.keep {
			fmt.Fprintf(errOut, "rskv bench: kept the store in %s\n", dir)
			return
		}
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = errors.Wrap(rerr, "remove the benchmark directory")
		}
	}()
	opts := (&rskv.Options{MemorySize: memSize, DisableBackground: !c.background}).SetSyncMode(mode)
	db, err := rskvdb.Open(dir, opts)
	if err != nil {
		return explainOpenError(err, dir)
	}
	closed := false
	defer func() {
		if !closed {
			if cerr := db.Close(); cerr != nil && err == nil {
				err = errors.Wrap(cerr, "close store")
			}
		}
	}()

	bars := progressBars{w: errOut, on: c.progress && isTerminal(errOut)}
	report := benchReport{
		Records: c.records, KeySize: ycsb.KeySize, ValueSize: c.valueSize, Threads: c.threads,
		MemorySize: memSize, SyncMode: mode.String(), GoMaxProcs: runtime.GOMAXPROCS(0),
	}
	if c.keep {
		report.Dir = dir
	}
	background := db.Store().BackgroundStats().Running
	report.Background = background
	report.Description = fmt.Sprintf("rskv bench: %s records (%d-byte keys, %d-byte values, %s), %d threads, MemorySize %s, sync %s",
		humanize.Comma(int64(c.records)), ycsb.KeySize, c.valueSize, humanize.IBytes(uint64(dataBytes)), c.threads,
		humanize.IBytes(uint64(memSize)), syncDescription(mode, background))

	load, err := ycsb.Load(ctx, db, ycsb.LoadConfig{
		Records: c.records, ValueSize: c.valueSize, Threads: c.threads, Seed: c.seed,
		Progress: bars.callback("load"),
	})
	bars.done()
	if err != nil {
		return errors.Wrap(err, "load")
	}
	report.Results = append(report.Results, load)

	ringSize := int(min(max(4*c.records, 1<<20), 1<<24))
	for _, d := range dists {
		chooser, err := ycsb.NewChooser(d, c.records, ycsb.DefaultTheta)
		if err != nil {
			return err
		}
		ring, err := ycsb.NewKeyRing(chooser, c.records, ringSize, c.seed)
		if err != nil {
			return err
		}
		for _, w := range workloads {
			res, err := ycsb.Run(ctx, db, ycsb.RunConfig{
				Workload: w, Ring: ring, RingName: d.String(), Records: c.records, ValueSize: c.valueSize,
				Threads: c.threads, Ops: c.ops, Duration: duration, Seed: c.seed,
				Progress: bars.callback(w.Name + " " + d.String()),
			})
			bars.done()
			if err != nil {
				return errors.Wrapf(err, "workload %s %s", w.Name, d)
			}
			report.Results = append(report.Results, res)
		}
	}
	report.StoreKeys = db.Store().Len()
	report.StoreStats = db.Store().Stats()
	closed = true
	if err := db.Close(); err != nil {
		return errors.Wrap(err, "close store")
	}

	if c.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else if err := printBenchTable(out, report); err != nil {
		return err
	}
	var failed int64
	var first string
	for _, r := range report.Results {
		failed += r.Errors + r.NotFound
		if first == "" && r.ErrText != "" {
			first = r.ErrText
		}
	}
	if failed > 0 {
		if first == "" {
			first = "reads of loaded keys found nothing"
		}
		return errors.Newf("%d operations failed; first: %s", failed, first)
	}
	return nil
}

// syncDescription says when writes become durable under m. SyncPeriodic
// relies on a background service: without it writes are durable only at
// Sync, Checkpoint, Close, or when the log flushes pages to make room.
func syncDescription(m rskv.SyncMode, background bool) string {
	switch m {
	case rskv.SyncNone:
		return "none (durable only at Sync, Checkpoint, Close)"
	case rskv.SyncPeriodic:
		if !background {
			return "periodic, but background services are not running (durable only at Sync, Close or page flush)"
		}
		return "periodic (durable within 100ms), background services on"
	case rskv.SyncAlways:
		return "always (durable when each write returns)"
	}
	return m.String()
}

func printBenchTable(w io.Writer, r benchReport) error {
	fmt.Fprintln(w, r.Description)
	fmt.Fprintln(w)
	rows := [][]string{{"workload", "distribution", "threads", "ops/s", "p50", "p99", "p99.9", "errors"}}
	for _, res := range r.Results {
		phase, dist := res.Phase, res.Distribution
		if phase == "load" {
			// Say what the load does: it is no YCSB workload.
			phase, dist = "load (insert)", "each of "+humanize.Comma(int64(r.Records))+" keys once"
		}
		rows = append(rows, []string{phase, dist, strconv.Itoa(res.Threads),
			humanize.Comma(int64(res.OpsPerSec)), fmtLatency(res.Latency.P50), fmtLatency(res.Latency.P99),
			fmtLatency(res.Latency.P999), strconv.FormatInt(res.Errors+res.NotFound, 10)})
	}
	if err := writeTable(w, rows, 2); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nstore after the run: %s live keys, log tail %d, %s in segment files\n",
		humanize.Comma(int64(r.StoreKeys)), r.StoreStats.TailAddress, humanize.IBytes(uint64(max(r.StoreStats.DiskBytes, 0))))
	return err
}

// writeTable prints rows as aligned columns: the first textCols columns
// left-aligned, the rest (numbers) right-aligned.
func writeTable(w io.Writer, rows [][]string, textCols int) error {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < textCols {
				b.WriteString(cell)
				if i < len(row)-1 {
					b.WriteString(pad)
				}
			} else {
				b.WriteString(pad)
				b.WriteString(cell)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtLatency prints d with three significant digits.
func fmtLatency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBars draws one progress bar per phase on w.
type progressBars struct {
	w   io.Writer
	on  bool
	bar *progressbar.ProgressBar
}

// callback returns a ycsb progress callback drawing a bar named name, or
// nil when bars are off.
func (p *progressBars) callback(name string) func(ycsb.Progress) {
	if !p.on {
		return nil
	}
	p.bar = progressbar.NewOptions64(1000,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(fmt.Sprintf("%-12s", name)),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(false),
	)
	bar := p.bar
	return func(pr ycsb.Progress) {
		bar.Describe(fmt.Sprintf("%-12s %12s ops", name, humanize.Comma(pr.Done)))
		_ = bar.Set64(int64(pr.Fraction() * 1000))
	}
}

func (p *progressBars) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
