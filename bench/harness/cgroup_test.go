package harness

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rskv-go/rskv/bench/engines"
	"github.com/rskv-go/rskv/internal/ycsb"
	"github.com/stretchr/testify/require"
)

// childEnv makes the test binary act as the bench binary's cgroup child.
const childEnv = "RSKV_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := ChildMain(context.Background(), os.Stdin, os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMedianKeepsTheMiddleRunAndEveryThroughput(t *testing.T) {
	runs := []Row{{OpsPerSec: 30, P99Ns: 3}, {OpsPerSec: 10, P99Ns: 1}, {OpsPerSec: 20, P99Ns: 2, Errors: 0}}
	m := median(runs)
	require.Equal(t, 20.0, m.OpsPerSec)
	require.Equal(t, int64(2), m.P99Ns, "the median run's own figures")
	require.Equal(t, []float64{30, 10, 20}, m.Runs, "in run order")
	runs[1].Errors, runs[1].FirstError = 2, "boom"
	m = median(runs)
	require.Equal(t, int64(2), m.Errors, "errors of any run are kept")
	require.Equal(t, "boom", m.FirstError)
	require.Equal(t, 10.0, median([]Row{{OpsPerSec: 10}, {OpsPerSec: 20}}).OpsPerSec, "even count: the lower middle")
}

func TestCgroupDetection(t *testing.T) {
	old := cgroupRoot
	defer func() { cgroupRoot = old }()

	cgroupRoot = t.TempDir()
	_, _, err := cgroupVersion()
	require.ErrorIs(t, err, ErrNoCgroup, "nothing mounted")
	require.Contains(t, err.Error(), "neither cgroup v2")

	require.NoError(t, os.WriteFile(filepath.Join(cgroupRoot, "cgroup.controllers"), []byte("cpu io\n"), 0o644))
	_, _, err = cgroupVersion()
	require.ErrorIs(t, err, ErrNoCgroup)
	require.Contains(t, err.Error(), "no memory controller")

	require.NoError(t, os.WriteFile(filepath.Join(cgroupRoot, "cgroup.controllers"), []byte("cpu memory io\n"), 0o644))
	base, v2, err := cgroupVersion()
	require.NoError(t, err)
	require.True(t, v2)
	require.Equal(t, cgroupRoot, base)

	cgroupRoot = t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(cgroupRoot, "memory"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cgroupRoot, "memory", "memory.limit_in_bytes"), []byte("max\n"), 0o644))
	_, v2, err = cgroupVersion()
	require.NoError(t, err)
	require.False(t, v2)

	// Run refuses cgroup mode where there are none, naming why.
	cgroupRoot = t.TempDir()
	_, err = Run(context.Background(), tinyConfig(t, 256<<20))
	require.ErrorIs(t, err, ErrNoCgroup)
}

func TestStatValue(t *testing.T) {
	p := filepath.Join(t.TempDir(), "memory.stat")
	require.NoError(t, os.WriteFile(p, []byte("cache 4096\nrss 8192\nrss_huge 0\nmapped_file 12\n"), 0o644))
	require.Equal(t, int64(8192), statValue(p, "rss"))
	require.Equal(t, int64(4096), statValue(p, "cache"))
	require.Equal(t, int64(0), statValue(p, "missing"))
	require.Equal(t, int64(0), statValue(filepath.Join(t.TempDir(), "none"), "rss"))
}

func tinyConfig(t *testing.T, limit int64) Config {
	list, err := engines.Lookup("rskv")
	require.NoError(t, err)
	return Config{
		Engines: list, Workloads: []ycsb.Workload{ycsb.Workloads()[2]},
		Distributions: []ycsb.Distribution{ycsb.DistUniform}, ValueSizes: []int{100}, Threads: []int{2},
		Modes: []Mode{LargerThanMemory}, Records: 2000, Ops: 300, Repeat: 3, ScratchDir: t.TempDir(), Seed: 1,
		CgroupLimit: limit,
	}
}

// TestCgroupModeEndToEnd runs rskv in a child process in a real memory
// cgroup, where the machine has them and the test runs as root.
func TestCgroupModeEndToEnd(t *testing.T) {
	if _, _, err := cgroupVersion(); err != nil {
		t.Skipf("cgroup mode cannot run here: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("cgroup mode needs root to create cgroups")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, os.Setenv(childEnv, "1"))
	defer os.Unsetenv(childEnv)
	cfg := tinyConfig(t, 256<<20)
	cfg.ChildCommand = []string{exe}
	var log bytes.Buffer
	cfg.Log = &log
	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err, log.String())
	require.Len(t, rep.Rows, 2, "a load and one cell")
	cellRow := rep.Rows[1]
	require.Equal(t, "C", cellRow.Workload)
	require.Len(t, cellRow.Runs, 3, "three runs, the median kept")
	require.Zero(t, cellRow.Errors, cellRow.FirstError)
	require.NotNil(t, cellRow.Mem)
	require.Positive(t, cellRow.Mem.RSSBytes)
	require.Positive(t, cellRow.Mem.ProcRSSBytes)
	var md strings.Builder
	require.NoError(t, rep.WriteMarkdown(&md))
	require.Contains(t, md.String(), "Setting: 256 MiB memory cgroup")
	require.Contains(t, md.String(), "Memory at the end of each (median) run")

	// An engine that cannot live within the limit is reported as such.
	cfg = tinyConfig(t, 8<<20)
	cfg.ChildCommand = []string{exe}
	cfg.Records = 200_000
	rep, err = Run(context.Background(), cfg)
	require.NoError(t, err, "a failing engine is a row, not a failed matrix")
	last := rep.Rows[len(rep.Rows)-1]
	require.Positive(t, last.Errors)
	require.True(t, strings.Contains(last.FirstError, "OOM killer") || strings.Contains(last.FirstError, "child process failed"),
		last.FirstError)
}

// TestChildKeepsOneRing: a cgroup child runs one engine, and its cgroup is
// charged for the key sequence it replays: it keeps only the current one
// (the matrix in one process keeps them all, for the next engine).
func TestChildKeepsOneRing(t *testing.T) {
	cfg := Config{Records: 1000, RingSize: 4000, Seed: 1}
	for _, child := range []bool{true, false} {
		r := newRings(cfg, child)
		_, err := r.get(ycsb.DistZipfian)
		require.NoError(t, err)
		_, err = r.get(ycsb.DistUniform)
		require.NoError(t, err)
		want := 2
		if child {
			want = 1
		}
		require.Len(t, r.m, want, "child %v", child)
	}
}
