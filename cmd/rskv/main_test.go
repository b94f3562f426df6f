package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// cli runs the rskv command line in-process and returns its output and exit
// code. Store commands get --memory-size 8MiB unless they name one: the
// default of 1 GiB makes each open slow under the race detector.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if len(args) > 0 && args[0] != "bench" && slices.Contains(args, "--dir") &&
		!slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--memory-size") }) {
		args = append(slices.Clone(args), "--memory-size", "8MiB")
	}
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// mustCLI runs the command line and fails the test unless it exits 0.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, args...)
	if code != exitOK {
		t.Fatalf("rskv %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// wantFail runs the command line and checks its exit code and that stderr
// holds every one of msgs.
func wantFail(t *testing.T, code int, msgs []string, args ...string) {
	t.Helper()
	out, errOut, got := cli(t, args...)
	if got != code {
		t.Errorf("rskv %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errOut)
	}
	for _, m := range msgs {
		if !strings.Contains(errOut, m) {
			t.Errorf("rskv %s: stderr %q lacks %q", strings.Join(args, " "), errOut, m)
		}
	}
}

// newStore creates a store in a new directory by putting the given pairs.
func newStore(t *testing.T, kv ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	if len(kv) == 0 {
		kv = []string{"seed", "1"}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		mustCLI(t, "put", "--dir", dir, kv[i], kv[i+1])
	}
	return dir
}

var storeCommands = [][]string{
	{"get", "k"}, {"put", "k", "v"}, {"delete", "k"}, {"scan"},
	{"stats"}, {"checkpoint"}, {"compact"}, {"services"},
}

func TestStoreCommandsNeedDir(t *testing.T) {
	for _, c := range storeCommands {
		wantFail(t, exitUsage, []string{"no store directory given", "hint: pass the store directory with --dir DIR"}, c...)
	}
}

func TestReadCommandsDoNotCreateStores(t *testing.T) {
	for _, c := range storeCommands {
		if c[0] == "put" {
			continue
		}
		dir := filepath.Join(t.TempDir(), "missing")
		wantFail(t, exitError, []string{"does not exist", dir}, append(c, "--dir", dir)...)
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("rskv %s created %s", c[0], dir)
		}
		empty := t.TempDir()
		wantFail(t, exitError, []string{"holds no rskv store", "no STORE file"}, append(c, "--dir", empty)...)
		if entries, _ := os.ReadDir(empty); len(entries) != 0 {
			t.Errorf("rskv %s wrote into %s: %v", c[0], empty, entries)
		}
	}
}

func TestDirIsAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantFail(t, exitError, []string{"is not a directory"}, "get", "--dir", f, "k")
}

func TestPutRefusesNonEmptyNonStoreDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantFail(t, exitError, []string{"not empty and holds no rskv store"}, "put", "--dir", dir, "k", "v")
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("put wrote into a foreign directory: %v", entries)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"get", "--dir", dir}, "accepts 1 arg"},
		{[]string{"get", "--dir", dir, "a", "b"}, "accepts 1 arg"},
		{[]string{"put", "--dir", dir, "k"}, "accepts 2 arg"},
		{[]string{"delete", "--dir", dir}, "requires at least 1 arg"},
		{[]string{"scan", "--dir", dir, "extra"}, "unknown command"},
		{[]string{"stats", "--bogus"}, "unknown flag"},
		{[]string{"get", "--dir", dir, "--hex", "zz"}, "is not hex"},
		{[]string{"put", "--dir", dir, "--hex", "00", "xyz"}, "is not hex"},
		{[]string{"get", "--dir", dir, "--memory-size", "lots", "k"}, "bad --memory-size"},
		{[]string{"bench", "--workloads", "Z"}, "unknown workload"},
		{[]string{"bench", "--distributions", "latest"}, "unknown distribution"},
		{[]string{"bench", "--records", "0"}, "must be positive"},
		{[]string{"bench", "--sync", "sometimes"}, "unknown --sync"},
		{[]string{"serve", "--dir", dir, "--sync", "sometimes"}, "unknown --sync"},
	} {
		wantFail(t, exitUsage, []string{tc.msg}, tc.args...)
	}
	// Usage errors in a non-empty directory without a store do not create one.
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors wrote into %s: %v", dir, entries)
	}
}

func TestHelp(t *testing.T) {
	out := mustCLI(t, "--help")
	for _, c := range []string{"bench", "get", "put", "delete", "scan", "stats", "checkpoint", "compact", "services"} {
		if !strings.Contains(out, c) {
			t.Errorf("help lacks %s:\n%s", c, out)
		}
	}
}

func TestPutGetDeleteScan(t *testing.T) {
	dir := newStore(t, "user:1", "ada", "user:2", "grace", "job:1", "compile")
	if got := mustCLI(t, "get", "--dir", dir, "user:1"); got != "ada\n" {
		t.Errorf("get = %q", got)
	}
	if got := mustCLI(t, "get", "--dir", dir, "--raw", "user:2"); got != "grace" {
		t.Errorf("get --raw = %q", got)
	}
	if got := mustCLI(t, "get", "--dir", dir, "--hex", "6a6f623a31"); got != "636f6d70696c65\n" {
		t.Errorf("get --hex = %q", got)
	}
	// Binary values print quoted.
	mustCLI(t, "put", "--dir", dir, "--hex", "00ff", "0a0b")
	if got := mustCLI(t, "get", "--dir", dir, "--hex", "00ff"); got != "0a0b\n" {
		t.Errorf("get of binary value as hex = %q", got)
	}
	if got := mustCLI(t, "scan", "--dir", dir, "--hex", "--prefix", "00"); got != "00ff\t0a0b\n" {
		t.Errorf("scan --hex --prefix = %q", got)
	}
	want := "\"\\x00\\xff\"\t\"\\n\\v\"\njob:1\tcompile\nuser:1\tada\nuser:2\tgrace\n"
	if got := mustCLI(t, "scan", "--dir", dir, "--sorted"); got != want {
		t.Errorf("scan --sorted = %q, want %q", got, want)
	}
	if got := mustCLI(t, "scan", "--dir", dir); sortLines(got) != want {
		t.Errorf("scan = %q, want %q in some order", got, want)
	}
	if got := mustCLI(t, "scan", "--dir", dir, "--prefix", "user:", "--sorted"); got != "user:1\tada\nuser:2\tgrace\n" {
		t.Errorf("scan --prefix = %q", got)
	}
	if got := mustCLI(t, "scan", "--dir", dir, "--prefix", "user:", "--keys-only", "--sorted"); got != "user:1\nuser:2\n" {
		t.Errorf("scan --keys-only = %q", got)
	}
	if got := mustCLI(t, "scan", "--dir", dir, "--count"); got != "4\n" {
		t.Errorf("scan --count = %q", got)
	}
	if got := mustCLI(t, "scan", "--dir", dir, "--limit", "2", "--keys-only"); strings.Count(got, "\n") != 2 {
		t.Errorf("scan --limit 2 = %q", got)
	}
	wantFail(t, exitUsage, []string{"negative"}, "scan", "--dir", dir, "--limit", "-1")

	// Overwrite, then delete one present and one absent key.
	mustCLI(t, "put", "--dir", dir, "user:1", "ada lovelace")
	if got := mustCLI(t, "get", "--dir", dir, "user:1"); got != "ada lovelace\n" {
		t.Errorf("get after overwrite = %q", got)
	}
	if got := mustCLI(t, "delete", "--dir", dir, "user:1", "nobody"); got != "nobody: not found\n" {
		t.Errorf("delete output = %q", got)
	}
	if got := mustCLI(t, "delete", "-q", "--dir", dir, "nobody"); got != "" {
		t.Errorf("delete -q output = %q", got)
	}
	wantFail(t, exitError, []string{"key user:1 not found"}, "get", "--dir", dir, "user:1")
	if got := mustCLI(t, "scan", "--dir", dir, "--prefix", "user:"); got != "user:2\tgrace\n" {
		t.Errorf("scan after delete = %q", got)
	}
	// Every write was durable when its command returned: a fresh Open sees
	// the final state.
	s, err := rskv.Open(dir, &rskv.Options{MemorySize: 8 << 20, DisableBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get([]byte("user:2")); err != nil || string(v) != "grace" {
		t.Errorf("Get after the CLI closed: %q, %v", v, err)
	}
	if s.Len() != 3 {
		t.Errorf("store holds %d keys, want 3", s.Len())
	}
}

func TestEmptyKeyIsAnError(t *testing.T) {
	dir := newStore(t)
	_, errOut, code := cli(t, "put", "--dir", dir, "", "v")
	if code != exitError || !strings.Contains(errOut, "empty key") {
		t.Errorf("put of an empty key: exit %d, stderr %q", code, errOut)
	}
}

func TestLockedStore(t *testing.T) {
	dir := newStore(t)
	holder, err := rskv.Open(dir, &rskv.Options{MemorySize: 8 << 20, DisableBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	for _, c := range storeCommands {
		wantFail(t, exitError, []string{"another process", "holds the store", "hint:"}, append(c, "--dir", dir)...)
	}
	// The error keeps its identity through the command.
	cmd := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	cmd.SetArgs([]string{"get", "--dir", dir, "seed"})
	if err := cmd.Execute(); !errors.Is(err, rskv.ErrLocked) {
		t.Errorf("get on a locked store: %v, want rskv.ErrLocked", err)
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	if got := mustCLI(t, "get", "--dir", dir, "seed"); got != "1\n" {
		t.Errorf("get after the holder closed = %q", got)
	}
}

func TestStats(t *testing.T) {
	dir := newStore(t, "a", "1", "b", "2")
	out := mustCLI(t, "stats", "--dir", dir)
	for _, want := range []string{"live keys", "TailAddress", "DiskBytes", "checkpoints", dir} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}
	var js struct {
		Dir   string
		Len   int
		Stats rskv.Stats
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "stats", "--dir", dir, "--json")), &js); err != nil {
		t.Fatal(err)
	}
	if js.Len != 2 || js.Dir != dir || js.Stats.Keys != 2 {
		t.Errorf("stats --json = %+v", js)
	}
}

func TestCheckpoint(t *testing.T) {
	dir := newStore(t, "a", "1")
	out := mustCLI(t, "checkpoint", "--dir", dir)
	if !strings.HasPrefix(out, "checkpoint #") || !strings.Contains(out, "1 keys") {
		t.Errorf("checkpoint output %q", out)
	}
	if stats := mustCLI(t, "stats", "--dir", dir); strings.Contains(stats, "checkpoints  0") {
		t.Errorf("stats lists no checkpoint after one was taken:\n%s", stats)
	}
}

func TestCompact(t *testing.T) {
	dir := newStore(t)
	for i := range 6 {
		mustCLI(t, "put", "--dir", dir, "k", strings.Repeat("v", i))
	}
	out := mustCLI(t, "compact", "--dir", dir)
	for _, want := range []string{"files before", "BytesReclaimed", "RecordsScanned", "Duration"} {
		if !strings.Contains(out, want) {
			t.Errorf("compact output lacks %q:\n%s", want, out)
		}
	}
	if got := mustCLI(t, "get", "--dir", dir, "k"); got != strings.Repeat("v", 5)+"\n" {
		t.Errorf("get after compact = %q", got)
	}
}

func TestServices(t *testing.T) {
	dir := newStore(t)
	before := treeState(t, dir)
	out := mustCLI(t, "services", "--dir", dir)
	if !strings.HasPrefix(out, "read-only open: services do not run") || !strings.Contains(out, "supervisor (stopped, 0 of") ||
		!strings.Contains(out, "checkpointer  stopped") {
		t.Errorf("read-only services output:\n%s", out)
	}
	if after := treeState(t, dir); after != before {
		t.Errorf("services changed the store's files:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	out = mustCLI(t, "services", "--dir", dir, "--start")
	if !strings.HasPrefix(out, "supervisor (running") || !strings.Contains(out, "└── ") {
		t.Errorf("services output:\n%s", out)
	}
	for _, name := range []string{"checkpointer", "collector"} {
		if !strings.Contains(out, name) {
			t.Errorf("services output lacks %s:\n%s", name, out)
		}
	}
}

func TestPrintServices(t *testing.T) {
	var b bytes.Buffer
	err := printServices(&b, rskv.BackgroundStats{Running: true, CheckpointEnabled: true, CheckpointInterval: 5 * time.Second, ActiveServices: 1},
		[]rskv.ServiceStatus{{Name: "checkpointer", Running: true}, {Name: "collector", Restarts: 2, LastError: "disk full"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "supervisor (running, 1 of 2 services active, checkpoint every 5s)\n" +
		"├── checkpointer  running  restarts 0\n" +
		"└── collector     stopped  restarts 2  last error: disk full\n"
	if b.String() != want {
		t.Errorf("tree:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := printServices(&b, rskv.BackgroundStats{}, nil); err != nil || !strings.Contains(b.String(), "(no services)") {
		t.Errorf("empty tree: %q, %v", b.String(), err)
	}
}

func TestBench(t *testing.T) {
	parent := t.TempDir()
	out := mustCLI(t, "bench", "--records", "3000", "--duration", "30ms", "--threads", "2", "--dir", parent, "--memory-size", "16MiB")
	for _, want := range []string{"rskv bench: 3,000 records", "ops/s", "p99", "load (insert)", "each of 3,000 keys once",
		"zipfian", "uniform", "store after the run"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	for _, w := range []string{"A", "B", "C", "F"} {
		if !strings.Contains(out, "\n"+w+" ") && !strings.Contains(out, " "+w+"  ") {
			t.Errorf("bench output lacks workload %s:\n%s", w, out)
		}
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("bench left %v behind without --keep", entries)
	}
}

func TestBenchJSONAndKeep(t *testing.T) {
	parent := t.TempDir()
	out, errOut, code := cli(t, "bench", "--records", "2000", "--ops", "4000", "--workloads", "a,f", "--distributions", "uniform",
		"--dir", parent, "--keep", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	if len(rep.Results) != 3 || rep.Results[0].Phase != "load" || rep.Results[1].Phase != "A" || rep.Results[2].Phase != "F" {
		t.Fatalf("results %+v", rep.Results)
	}
	for _, r := range rep.Results[1:] {
		if r.Ops != 4000 || r.Errors != 0 || r.NotFound != 0 || r.Distribution != "uniform" {
			t.Errorf("result %+v", r)
		}
	}
	if rep.StoreKeys != 2000 || rep.Dir == "" {
		t.Errorf("store keys %d, dir %q", rep.StoreKeys, rep.Dir)
	}
	if !strings.Contains(errOut, "kept the store in "+rep.Dir) {
		t.Errorf("stderr does not say where the store is: %q", errOut)
	}
	// The kept directory is a store the other commands can read.
	if got := mustCLI(t, "scan", "--dir", rep.Dir, "--count"); got != "2000\n" {
		t.Errorf("scan --count of the kept store = %q", got)
	}
}

func TestBenchUnwritableParent(t *testing.T) {
	wantFail(t, exitError, []string{"create the benchmark directory", "hint:"},
		"bench", "--records", "10", "--ops", "10", "--dir", filepath.Join(t.TempDir(), "no", "such"))
}
