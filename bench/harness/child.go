package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/dustin/go-humanize"
	"github.com/rskv-go/rskv/bench/engines"
	"github.com/rskv-go/rskv/internal/ycsb"
)

// ChildArg is the first argument that makes the bench binary run one
// engine's part of the matrix as a child process (cgroup mode): main calls
// ChildMain when it sees it.
const ChildArg = "__cgroup-child"

// ChildProfileEnv names an environment variable: when set, every engine
// writes its heap profile (pprof "heap": what is live, and with
// -sample_index=alloc_space everything allocated) after its last run,
// before it is closed, to the path it names suffixed with ".<engine>.heap".
// A debugging aid for where an engine's memory goes.
const ChildProfileEnv = "BENCH_CHILD_PROFILE"

// writeHeapProfile writes the heap profile for engine if ChildProfileEnv
// asks for one; a failure is reported on stderr (a debugging aid must not
// fail the run).
func writeHeapProfile(engine string) {
	prefix := os.Getenv(ChildProfileEnv)
	if prefix == "" {
		return
	}
	runtime.GC() // the profile shows the heap as of the last collection
	path := prefix + "." + engine + ".heap"
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: heap profile %s: %v\n", path, err)
	}
}

// ChildStderrEnv names an environment variable: when set, every child
// process's stderr is appended to the file it names as well.
const ChildStderrEnv = "BENCH_CHILD_STDERR"

// childSpec is what a child process runs: one engine on one data set, every
// workload, distribution and thread count, each Repeat times. The parent
// writes it as JSON to the child's stdin; the child writes one Row per line
// of JSON to its stdout.
type childSpec struct {
	Engine        string   `json:"engine"`
	Mode          Mode     `json:"mode"`
	ValueSize     int      `json:"value_size"`
	Budget        int64    `json:"budget"`
	Records       uint64   `json:"records"`
	DurationNs    int64    `json:"duration_ns"`
	Ops           int64    `json:"ops"`
	Seed          uint64   `json:"seed"`
	LoadThreads   int      `json:"load_threads"`
	LoadBatch     int      `json:"load_batch"`
	Workloads     []string `json:"workloads"`
	Distributions []string `json:"distributions"`
	Threads       []int    `json:"threads"`
	Repeat        int      `json:"repeat"`
	RingSize      int      `json:"ring_size"`
	ScratchDir    string   `json:"scratch_dir"`
	Cgroup        string   `json:"cgroup"`
	CgroupV2      bool     `json:"cgroup_v2"`
}

// ChildMain runs a child process's part of the matrix: it joins the cgroup
// named in the spec read from stdin before doing anything else, then loads
// and runs the engine, writing rows to stdout.
func ChildMain(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	var spec childSpec
	if err := json.NewDecoder(stdin).Decode(&spec); err != nil {
		return errors.Wrap(err, "cgroup child: read spec")
	}
	if spec.Cgroup != "" {
		if err := joinCgroup(spec.Cgroup); err != nil {
			return err
		}
	}
	list, err := engines.Lookup(spec.Engine)
	if err != nil {
		return err
	}
	cfg := Config{
		Engines: list, Records: spec.Records, Duration: time.Duration(spec.DurationNs), Ops: spec.Ops,
		Seed: spec.Seed, LoadThreads: spec.LoadThreads, LoadBatch: spec.LoadBatch, Threads: spec.Threads,
		Repeat: spec.Repeat, RingSize: spec.RingSize, ScratchDir: spec.ScratchDir,
		ValueSizes: []int{spec.ValueSize}, Modes: []Mode{spec.Mode},
	}
	if cfg.Workloads, err = ycsb.ParseWorkloads(strings.Join(spec.Workloads, ",")); err != nil {
		return err
	}
	for _, d := range spec.Distributions {
		dist, err := ycsb.ParseDistribution(d)
		if err != nil {
			return err
		}
		cfg.Distributions = append(cfg.Distributions, dist)
	}
	enc := json.NewEncoder(stdout)
	base := Row{Engine: spec.Engine, Mode: spec.Mode, ValueSize: spec.ValueSize, Records: spec.Records, BudgetBytes: spec.Budget}
	sample := func() *MemStats { m := sampleMem(spec.Cgroup, spec.CgroupV2); return &m }
	var werr error
	_, err = runEngine(ctx, cfg, list[0], base, newRings(cfg, true), spec.LoadThreads, spec.LoadBatch, sample, func(r Row) {
		if e := enc.Encode(r); e != nil && werr == nil {
			werr = e
		}
	})
	if werr != nil {
		return errors.Wrap(werr, "cgroup child: write row")
	}
	return err
}

// runInCgroup runs engine e in a child process inside a new memory cgroup
// and returns the rows it reports. A child that dies (the OOM killer, when
// the engine cannot live within the limit) gets a row saying so.
func runInCgroup(ctx context.Context, cfg Config, e engines.Engine, base Row, loadThreads, loadBatch int, done func(Row)) ([]Row, error) {
	cg, err := newCgroup(cgroupName(e.Name, base.Mode, base.ValueSize), cfg.CgroupLimit)
	if err != nil {
		return nil, err
	}
	defer func() {
		// The child has exited; the kernel may take a moment to let go.
		for i := 0; i < 50; i++ {
			if cg.remove() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	spec := childSpec{
		Engine: e.Name, Mode: base.Mode, ValueSize: base.ValueSize, Budget: base.BudgetBytes, Records: cfg.Records,
		DurationNs: int64(cfg.Duration), Ops: cfg.Ops, Seed: cfg.Seed, LoadThreads: loadThreads, LoadBatch: loadBatch,
		Threads: cfg.Threads, Repeat: cfg.Repeat, RingSize: cfg.ringSize(), ScratchDir: cfg.ScratchDir,
		Cgroup: cg.path, CgroupV2: cg.v2,
	}
	for _, w := range cfg.Workloads {
		spec.Workloads = append(spec.Workloads, w.Name)
	}
	for _, d := range cfg.Distributions {
		spec.Distributions = append(spec.Distributions, d.String())
	}
	in, err := json.Marshal(spec)
	if err != nil {
		return nil, errors.Wrap(err, "encode child spec")
	}
	argv := cfg.ChildCommand
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, errors.Wrap(err, "find the bench binary to re-execute")
		}
		argv = []string{exe, ChildArg}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	if path := os.Getenv(ChildStderrEnv); path != "" {
		// Debugging aid: keep the child's whole stderr (GODEBUG=gctrace=1,
		// the engine's logs), which otherwise only ends a failure's message.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, errors.Wrapf(err, "open %s (%s)", path, ChildStderrEnv)
		}
		defer func() { _ = f.Close() }()
		cmd.Stderr = io.MultiWriter(&errBuf, f)
	}
	cmd.Env = os.Environ()
	if cfg.CgroupLimit > 0 {
		// A Go program in a container is given GOMEMLIMIT (the collector
		// works harder near it); every engine gets the same, 90% of the
		// limit.
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+strconv.FormatInt(cfg.CgroupLimit/10*9, 10))
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, errors.Wrap(err, "child stdout")
	}
	if err := cmd.Start(); err != nil {
		return nil, errors.Wrap(err, "start child")
	}
	var rows []Row
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var r Row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue
		}
		done(r)
		rows = append(rows, r)
	}
	werr := cmd.Wait()
	if werr == nil {
		return rows, nil
	}
	if ctx.Err() != nil {
		return rows, ctx.Err()
	}
	phase := "run"
	if len(rows) == 0 {
		phase = "load"
	}
	why := fmt.Sprintf("child process failed: %v", werr)
	if n := cg.oomKills(); n > 0 {
		why = fmt.Sprintf("could not finish inside the %s cgroup: killed by the OOM killer (%d kills)",
			humanize.IBytes(uint64(cfg.CgroupLimit)), n)
	}
	if tail := strings.TrimSpace(lastLines(errBuf.String(), 3)); tail != "" {
		why += "; stderr: " + tail
	}
	r := base
	r.Workload, r.Errors, r.FirstError = phase, 1, why
	done(r)
	return append(rows, r), errors.New(why)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
