package harness

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/dustin/go-humanize"
	"github.com/rskv-go/rskv/bench/engines"
	"github.com/rskv-go/rskv/internal/ycsb"
)

// Row is the result of one load or run.
type Row struct {
	// Engine, Mode and ValueSize say which engine ran on which data.
	Engine    string `json:"engine"`
	Mode      Mode   `json:"mode"`
	ValueSize int    `json:"value_size"`
	// Workload is the YCSB letter, "load", or "open"/"close" for a row
	// that only carries an engine's failure.
	Workload     string `json:"workload"`
	Distribution string `json:"distribution"`
	Threads      int    `json:"threads"`
	Records      uint64 `json:"records"`
	// BudgetBytes is the memory budget the engine was opened with.
	BudgetBytes int64 `json:"budget_bytes"`
	// Ops operations took ElapsedNs: OpsPerSec.
	Ops       int64   `json:"ops"`
	ElapsedNs int64   `json:"elapsed_ns"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// Latency percentiles of the sampled operations, in nanoseconds.
	P50Ns  int64 `json:"p50_ns"`
	P99Ns  int64 `json:"p99_ns"`
	P999Ns int64 `json:"p999_ns"`
	MaxNs  int64 `json:"max_ns"`
	// Errors and NotFound count failed operations; FirstError is the
	// first failure's message.
	Errors     int64  `json:"errors"`
	NotFound   int64  `json:"not_found"`
	FirstError string `json:"first_error,omitempty"`
	// Runs are the throughputs of every repetition of the cell, in run
	// order; the row's other figures are those of the median run.
	Runs []float64 `json:"runs,omitempty"`
	// Mem is the engine's memory at the end of the (median) run, in cgroup
	// mode.
	Mem *MemStats `json:"mem,omitempty"`
}

// EngineInfo describes an engine in the report.
type EngineInfo struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Persistent bool   `json:"persistent"`
	Durability string `json:"durability"`
	Memory     string `json:"memory"`
	Operations string `json:"operations"`
}

// Machine describes where the benchmark ran.
type Machine struct {
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	CPUs       int    `json:"cpus"`
	GoMaxProcs int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	MemoryKiB  int64  `json:"memory_kib,omitempty"`
	GoVersion  string `json:"go_version"`
	// LoadBefore and LoadAfter are the 1-minute load averages when the
	// matrix started and ended: other work on the machine skews results.
	LoadBefore string `json:"load_before,omitempty"`
	LoadAfter  string `json:"load_after,omitempty"`
}

// loadAverage returns the 1, 5 and 15-minute load averages, or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Settings is the Config as recorded in the report.
type Settings struct {
	Records       uint64   `json:"records"`
	KeySize       int      `json:"key_size"`
	ValueSizes    []int    `json:"value_sizes"`
	Workloads     []string `json:"workloads"`
	Distributions []string `json:"distributions"`
	Threads       []int    `json:"threads"`
	Modes         []Mode   `json:"modes"`
	DurationNs    int64    `json:"duration_ns,omitempty"`
	Ops           int64    `json:"ops,omitempty"`
	LoadThreads   int      `json:"load_threads"`
	LoadBatch     int      `json:"load_batch"`
	Seed          uint64   `json:"seed"`
	SampleEvery   int      `json:"latency_sample_every"`
	Command       string   `json:"command,omitempty"`
	// Repeat is the number of runs per cell (the median is reported).
	Repeat int `json:"repeat,omitempty"`
	// BudgetBytes, if set, is the budget every engine had (else the mode's).
	BudgetBytes int64 `json:"budget_bytes,omitempty"`
	// CgroupLimit: 0, engines ran in this process with the page cache
	// unlimited; Unlimited, each in its own cgroup without a limit; else
	// each in its own cgroup of this many bytes (process + page cache).
	CgroupLimit int64 `json:"cgroup_limit,omitempty"`
	RingSize    int   `json:"ring_size,omitempty"`
}

// Report is everything one harness run measured.
type Report struct {
	Started  time.Time    `json:"started"`
	Took     string       `json:"took"`
	Machine  Machine      `json:"machine"`
	Settings Settings     `json:"settings"`
	Engines  []EngineInfo `json:"engines"`
	Rows     []Row        `json:"rows"`
}

// Run runs the matrix in cfg. A failing engine (it cannot open, or a phase
// reports errors) is recorded in the rows and does not stop the others; Run
// returns an error only for a bad Config, a context that ended, or files it
// cannot clean up.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = io.Discard
	}
	loadThreads := cfg.LoadThreads
	if loadThreads <= 0 {
		loadThreads = slices.Max(cfg.Threads)
	}
	loadBatch := cfg.LoadBatch
	if loadBatch <= 0 {
		loadBatch = 10_000
	}
	rep := &Report{
		Started: time.Now(),
		Machine: machine(),
		Settings: Settings{
			Records: cfg.Records, KeySize: ycsb.KeySize, ValueSizes: cfg.ValueSizes, Threads: cfg.Threads,
			Modes: cfg.Modes, DurationNs: int64(cfg.Duration), Ops: cfg.Ops, LoadThreads: loadThreads,
			LoadBatch: loadBatch, Seed: cfg.Seed, SampleEvery: ycsb.DefaultSampleEvery, Command: cfg.Command,
			Repeat: max(cfg.Repeat, 1), BudgetBytes: cfg.Budget, CgroupLimit: cfg.CgroupLimit, RingSize: cfg.ringSize(),
		},
	}
	if cfg.Ops > 0 {
		rep.Settings.DurationNs = 0
	}
	for _, w := range cfg.Workloads {
		rep.Settings.Workloads = append(rep.Settings.Workloads, w.Name)
	}
	for _, d := range cfg.Distributions {
		rep.Settings.Distributions = append(rep.Settings.Distributions, d.String())
	}
	for _, e := range cfg.Engines {
		rep.Engines = append(rep.Engines, EngineInfo{Name: e.Name, Version: e.Version(), Persistent: e.Persistent,
			Durability: e.Durability, Memory: e.Memory, Operations: e.Operations})
	}

	if cfg.CgroupLimit != 0 {
		// Fail early, with the reason, where cgroups cannot be made.
		if _, _, err := cgroupVersion(); err != nil {
			return nil, err
		}
	}
	// Draw each distribution's key sequence once; every engine replays it.
	rings := newRings(cfg, false)
	// Draw every distribution's sequence before the first engine runs, and
	// collect the garbage of drawing them, so that no engine's runs share
	// their time with the draw's page faults or the GC cycles it sets off.
	// (In cgroup mode each child draws its own before its runs.)
	if cfg.CgroupLimit == 0 {
		for _, d := range cfg.Distributions {
			if _, err := rings.get(d); err != nil {
				return nil, err
			}
		}
		runtime.GC()
	}

	total := 0
	for _, m := range cfg.Modes {
		for _, e := range cfg.Engines {
			if m == LargerThanMemory && !e.Persistent {
				continue
			}
			total += len(cfg.ValueSizes) * (1 + len(cfg.Workloads)*len(cfg.Distributions)*len(cfg.Threads))
		}
	}
	step := 0
	for _, m := range cfg.Modes {
		for _, vs := range cfg.ValueSizes {
			budget := cfg.budget(m, vs)
			fmt.Fprintf(log, "== %s, %d-byte values: %s of data, budget %s\n", m.Title(), vs,
				humanize.IBytes(uint64(DataBytes(cfg.Records, vs))), humanize.IBytes(uint64(budget)))
			for _, e := range cfg.Engines {
				if m == LargerThanMemory && !e.Persistent {
					continue
				}
				base := Row{Engine: e.Name, Mode: m, ValueSize: vs, Records: cfg.Records, BudgetBytes: budget}
				done := func(r Row) {
					step++
					fmt.Fprintf(log, "[%d/%d] %-8s %-6s %3dB  %-4s %-10s t%d  %12s ops/s  p50 %-8s p99 %-8s%s%s\n",
						step, total, r.Engine, r.Mode, r.ValueSize, r.Workload, r.Distribution, r.Threads,
						humanize.Comma(int64(r.OpsPerSec)), time.Duration(r.P50Ns), time.Duration(r.P99Ns), memNote(r), errNote(r))
				}
				var rows []Row
				var err error
				if cfg.CgroupLimit != 0 {
					rows, err = runInCgroup(ctx, cfg, e, base, loadThreads, loadBatch, done)
				} else {
					rows, err = runEngine(ctx, cfg, e, base, rings, loadThreads, loadBatch, nil, done)
				}
				rep.Rows = append(rep.Rows, rows...)
				if err != nil {
					if ctx.Err() != nil {
						rep.Took = time.Since(rep.Started).Round(time.Second).String()
						return rep, err
					}
					fmt.Fprintf(log, "%s: %v\n", e.Name, err)
				}
			}
		}
	}
	rep.Took = time.Since(rep.Started).Round(time.Second).String()
	rep.Machine.LoadAfter = loadAverage()
	return rep, nil
}

func memNote(r Row) string {
	if r.Mem == nil {
		return ""
	}
	return fmt.Sprintf("  rss %s cache %s", humanize.IBytes(uint64(r.Mem.RSSBytes)), humanize.IBytes(uint64(r.Mem.PageCacheBytes)))
}

// rings hands out the pre-drawn key sequences, drawing each on first use.
// In cgroup mode (one engine per process) only the current one is kept.
type rings struct {
	cfg  Config
	keep bool
	m    map[ycsb.Distribution]*ycsb.KeyRing
}

// newRings returns the sequences of a matrix; with oneEngine (a cgroup
// mode child, which runs one engine) it keeps only the current one.
func newRings(cfg Config, oneEngine bool) *rings {
	return &rings{cfg: cfg, keep: !oneEngine, m: make(map[ycsb.Distribution]*ycsb.KeyRing)}
}

func (r *rings) get(d ycsb.Distribution) (*ycsb.KeyRing, error) {
	if k, ok := r.m[d]; ok {
		return k, nil
	}
	if !r.keep && len(r.m) > 0 {
		// One engine per process: give the previous sequence back to the
		// OS, so the engine's cgroup is charged for one at a time.
		clear(r.m)
		debug.FreeOSMemory()
	}
	c, err := ycsb.NewChooser(d, r.cfg.Records, ycsb.DefaultTheta)
	if err != nil {
		return nil, err
	}
	k, err := ycsb.NewKeyRing(c, r.cfg.Records, r.cfg.ringSize(), r.cfg.Seed)
	if err != nil {
		return nil, err
	}
	r.m[d] = k
	return k, nil
}

func errNote(r Row) string {
	if r.Errors+r.NotFound == 0 {
		return ""
	}
	return fmt.Sprintf("  %d errors, %d not found: %s", r.Errors, r.NotFound, r.FirstError)
}

// runEngine loads one engine and runs the workloads on it. An engine that
// fails to open or load gets a row carrying the error.
func runEngine(ctx context.Context, cfg Config, e engines.Engine, base Row, rings *rings,
	loadThreads, loadBatch int, sample func() *MemStats, done func(Row)) (rows []Row, err error) {
	dir, err := os.MkdirTemp(cfg.ScratchDir, "ycsb-"+e.Name+"-")
	if err != nil {
		return nil, errors.Wrap(err, "scratch directory")
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = errors.Wrap(rerr, "remove scratch directory")
		}
	}()
	fail := func(phase string, err error) []Row {
		r := base
		r.Workload, r.Errors, r.FirstError = phase, 1, err.Error()
		done(r)
		return append(rows, r)
	}
	db, err := e.Open(engines.Setup{Dir: dir, Budget: base.BudgetBytes, Records: cfg.Records, ValueSize: base.ValueSize})
	if err != nil {
		return fail("open", err), err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			rows = fail("close", cerr)
			err = cerr
		}
	}()
	res, err := ycsb.Load(ctx, db, ycsb.LoadConfig{
		Records: cfg.Records, ValueSize: base.ValueSize, Threads: loadThreads, BatchSize: loadBatch, Seed: cfg.Seed,
	})
	r := rowOf(base, res)
	if sample != nil {
		r.Mem = sample()
	}
	done(r)
	rows = append(rows, r)
	if err != nil {
		return rows, err
	}
	if res.Errors > 0 {
		return rows, errors.Newf("load failed: %s", res.ErrText)
	}
	repeat := max(cfg.Repeat, 1)
	// Every run of a distribution starts at its own place in the ring, the
	// same for every engine: the runs of one distribution (cells and
	// repetitions) times the goroutines split it into disjoint stretches,
	// so a later run does not replay keys an earlier one warmed.
	perDist := len(cfg.Workloads) * len(cfg.Threads) * repeat
	for _, d := range cfg.Distributions {
		k := 0
		ring, err := rings.get(d)
		if err != nil {
			return rows, err
		}
		for _, w := range cfg.Workloads {
			for _, t := range cfg.Threads {
				duration := cfg.Duration
				if cfg.Ops > 0 {
					duration = 0
				}
				var runs []Row
				for i := 0; i < repeat; i++ {
					start := k * (ring.Len() / (perDist * t))
					k++
					res, err := ycsb.Run(ctx, db, ycsb.RunConfig{
						Workload: w, Ring: ring, RingName: d.String(), RingStart: start, Records: cfg.Records,
						ValueSize: base.ValueSize, Threads: t, Ops: cfg.Ops, Duration: duration, Seed: cfg.Seed + uint64(i),
					})
					r := rowOf(base, res)
					if sample != nil {
						r.Mem = sample()
					}
					runs = append(runs, r)
					if err != nil {
						done(r)
						return append(rows, r), err
					}
				}
				r := median(runs)
				done(r)
				rows = append(rows, r)
			}
		}
	}
	writeHeapProfile(e.Name)
	return rows, nil
}

// median returns the run with the median throughput (of an even number,
// the lower middle), carrying every run's throughput in Runs and the sum of
// their errors.
func median(runs []Row) Row {
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b Row) int { return cmp.Compare(a.OpsPerSec, b.OpsPerSec) })
	m := sorted[(len(sorted)-1)/2]
	m.Runs = nil
	var errs, nf int64
	for _, r := range runs {
		m.Runs = append(m.Runs, r.OpsPerSec)
		errs += r.Errors
		nf += r.NotFound
		if m.FirstError == "" {
			m.FirstError = r.FirstError
		}
	}
	m.Errors, m.NotFound = errs, nf
	return m
}

func rowOf(base Row, res ycsb.Result) Row {
	r := base
	r.Workload, r.Distribution, r.Threads = res.Phase, res.Distribution, res.Threads
	r.Ops, r.ElapsedNs, r.OpsPerSec = res.Ops, int64(res.Elapsed), res.OpsPerSec
	r.P50Ns, r.P99Ns, r.P999Ns, r.MaxNs = int64(res.Latency.P50), int64(res.Latency.P99), int64(res.Latency.P999), int64(res.Latency.Max)
	r.Errors, r.NotFound, r.FirstError = res.Errors, res.NotFound, res.ErrText
	return r
}

func machine() Machine {
	m := Machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(),
		GoMaxProcs: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), LoadBefore: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err == nil {
			m.MemoryKiB = kib
		}
	}
	return m
}
