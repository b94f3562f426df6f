// Command redisbench runs redis-benchmark against `rskv serve` (one server
// per -io mode: the epoll event loops and a goroutine per connection) and
// redis-server started side by side in the same run, and prints the
// requests per second of each (the median of -reps runs of each test) as a
// markdown table, with rskv's ratios to redis-server (the median of the per-rep ratios) and the servers' CPU
// time per request.
//
//	cd bench && go run ./redisbench            # -P 16 and -P 1, -c 50, SET GET INCR
//	cd bench && go run ./redisbench -out results/redis.md
//
// It needs redis-server and redis-benchmark (Debian: apt-get install -y
// redis-tools redis-server), and taskset for -pin (default 1:0: every
// server on CPU 1, redis-benchmark on CPU 0; see README.md). All listen on
// 127.0.0.1 only. redis-server runs without persistence (--save ""
// --appendonly no); rskv serve runs with its defaults (--sync periodic:
// durable within 100ms), so rskv does strictly more work for durability
// than its peer.
package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/errors"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "redisbench: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		tests    = flag.String("t", "set,get,incr", "redis-benchmark tests")
		clients  = flag.Int("c", 50, "parallel connections")
		requests = flag.Int("n", 200000, "requests per test")
		keyspace = flag.Int("r", 100000, "random keys")
		pipes    = flag.String("P", "16,1", "pipeline depths to run")
		reps     = flag.Int("reps", 3, "runs per row; the median is reported")
		syncMode = flag.String("sync", "periodic", "rskv serve --sync")
		out      = flag.String("out", "", "also write the table to this file")
		ios      = flag.String("io", "epoll,goroutine", "rskv serve --io modes to run, each its own server (the first is the headline)")
		pin      = flag.String("pin", "1:0", "SERVER_CPUS:BENCH_CPUS for taskset -c (each server on SERVER_CPUS, redis-benchmark on BENCH_CPUS); empty: no pinning")
		bins     = flag.String("bins", "", "more rskv servers from prebuilt binaries, NAME=PATH,... (each with the first -io mode): a before/after in one run")
		aof      = flag.Bool("aof", false, "also run redis-server with --appendonly yes --appendfsync everysec (redis-aof: an information column with durability like rskv's --sync periodic)")
		env      = flag.String("env", "", "more rskv servers from this build under an environment, NAME=VAR=VALUE,... (each with the first -io mode)")
		extra    serverFlags
	)
	flag.Var(&extra, "flags", "NAME=FLAGS: more rskv serve flags (split at spaces) for the server NAME (rskv-MODE, a -bins or an -env name), "+
		"or, for a new NAME, another server of this build with them (repeatable: -flags nohold=--io-hold=-1ns)")
	flag.Parse()
	bench, err := exec.LookPath("redis-benchmark")
	if err != nil {
		return errors.WithHint(errors.New("redis-benchmark is not installed"), "apt-get install -y redis-tools redis-server")
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.WithHint(errors.New("redis-server is not installed"), "apt-get install -y redis-server")
	}
	tmp, err := os.MkdirTemp("", "redisbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	rskvBin := filepath.Join(tmp, "rskv")
	// Built in the main module (the parent directory), whose go.sum has the
	// server's dependencies.
	build := exec.Command("go", "build", "-o", rskvBin, "./cmd/rskv")
	build.Dir = ".."
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return errors.Wrap(err, "build rskv")
	}
	serverCPUs, benchCPUs, err := parsePin(*pin)
	if err != nil {
		return err
	}
	// pinned runs name under taskset -c cpus when pinning.
	pinned := func(cpus, name string, args ...string) *exec.Cmd {
		if cpus == "" {
			return exec.Command(name, args...)
		}
		return exec.Command("taskset", append([]string{"-c", cpus, name}, args...)...)
	}
	testList := strings.Split(*tests, ",")
	addrs := map[string]string{}
	procs := map[string]int{}
	var names []string
	var cmds []*exec.Cmd
	for _, mode := range strings.Split(*ios, ",") {
		mode = strings.TrimSpace(mode)
		name := "rskv-" + mode
		addr := freeAddr()
		names, addrs[name] = append(names, name), addr
		cmds = append(cmds, pinned(serverCPUs, rskvBin, "serve", "--dir", filepath.Join(tmp, "store-"+mode), "--addr", addr,
			"--sync", *syncMode, "--io", mode))
	}
	firstIO := strings.TrimSpace(strings.Split(*ios, ",")[0])
	extraBin := func(name, bin string, env []string) {
		addr := freeAddr()
		names, addrs[name] = append(names, name), addr
		c := pinned(serverCPUs, bin, "serve", "--dir", filepath.Join(tmp, "store-"+name), "--addr", addr,
			"--sync", *syncMode, "--io", firstIO)
		c.Env = append(os.Environ(), env...)
		cmds = append(cmds, c)
	}
	if *bins != "" {
		for _, nb := range strings.Split(*bins, ",") {
			name, bin, ok := strings.Cut(nb, "=")
			if !ok || name == "" || bin == "" {
				return errors.Newf("-bins %q: want NAME=PATH", nb)
			}
			extraBin(name, bin, nil)
		}
	}
	if *env != "" {
		for _, ne := range strings.Split(*env, ",") {
			name, kv, ok := strings.Cut(ne, "=")
			if !ok || name == "" || !strings.Contains(kv, "=") {
				return errors.Newf("-env %q: want NAME=VAR=VALUE", ne)
			}
			extraBin(name, rskvBin, []string{kv})
		}
	}
	// -flags: extra arguments for a server already named, or a new one.
	for _, nf := range extra {
		i := indexOf(names, nf.name)
		if i < 0 {
			extraBin(nf.name, rskvBin, nil)
			i = len(names) - 1
		}
		cmds[i].Args = append(cmds[i].Args, nf.flags...)
	}
	if *aof {
		aofAddr := freeAddr()
		names, addrs["redis-aof"] = append(names, "redis-aof"), aofAddr
		_, aofPort, _ := net.SplitHostPort(aofAddr)
		aofDir := filepath.Join(tmp, "redis-aof")
		if err := os.MkdirAll(aofDir, 0o755); err != nil {
			return err
		}
		cmds = append(cmds, pinned(serverCPUs, redisBin, "--port", aofPort, "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "yes", "--appendfsync", "everysec", "--dir", aofDir, "--daemonize", "no", "--loglevel", "warning"))
	}
	redisAddr := freeAddr()
	names, addrs["redis"] = append(names, "redis"), redisAddr
	_, redisPort, _ := net.SplitHostPort(redisAddr)
	cmds = append(cmds, pinned(serverCPUs, redisBin, "--port", redisPort, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", tmp, "--daemonize", "no", "--loglevel", "warning"))
	// The servers must not outlive the run: a broken stdout (the table
	// piped into head) is not fatal, and an interrupt stops the servers
	// before exiting (deferred kills do not run on a signal).
	signal.Ignore(syscall.SIGPIPE)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	stopped := make(chan struct{})
	defer close(stopped)
	var started []*exec.Cmd
	var startedMu sync.Mutex
	go func() {
		select {
		case sig := <-sigs:
			startedMu.Lock()
			for _, c := range started {
				_ = c.Process.Kill()
			}
			startedMu.Unlock()
			_ = os.RemoveAll(tmp)
			fmt.Fprintf(os.Stderr, "redisbench: %v: servers stopped\n", sig)
			os.Exit(1)
		case <-stopped:
		}
	}()
	for i, c := range cmds {
		c.Stderr = os.Stderr
		startedMu.Lock()
		err := c.Start()
		if err == nil {
			started = append(started, c)
		}
		startedMu.Unlock()
		if err != nil {
			return errors.Wrapf(err, "start %s", strings.Join(c.Args, " "))
		}
		procs[names[i]] = c.Process.Pid // taskset execs the server: same pid
		defer func(c *exec.Cmd) { _ = c.Process.Kill(); _ = c.Wait() }(c)
	}
	for _, n := range names {
		if err := waitPort(addrs[n]); err != nil {
			return err
		}
	}

	type row struct {
		test string
		pipe int
	}
	results := map[row]map[string][]float64{}
	cpus := map[row]map[string][]float64{} // server CPU seconds per request
	csws := map[row]map[string][]float64{} // server context switches per request
	var rows []row

	loadStart := loadavg()
	var b strings.Builder // the whole report, for -out and the end
	place := "unpinned"
	if serverCPUs != "" {
		place = fmt.Sprintf("each server on CPU %s, redis-benchmark on CPU %s (taskset)", serverCPUs, benchCPUs)
	}
	aofNote := ""
	if *aof {
		aofNote = "; redis-aof: redis-server --appendonly yes --appendfsync everysec, for information"
	}
	var flagNote strings.Builder
	for _, nf := range extra {
		fmt.Fprintf(&flagNote, "; %s: %s", nf.name, strings.Join(nf.flags, " "))
	}
	fmt.Fprintf(&b, "redis-benchmark -c %d -n %d -r %d, requests/s, median of %d (%s, %d CPUs, %s; rskv serve --sync %s vs redis-server without persistence%s%s)\n\n",
		*clients, *requests, *keyspace, *reps, time.Now().UTC().Format("2006-01-02 15:04"), numCPU(), place, *syncMode, aofNote, flagNote.String())
	b.WriteString("| test | pipeline |")
	sep := "|---|---:|"
	for _, n := range names {
		fmt.Fprintf(&b, " %s |", n)
		sep += "---:|"
	}
	for _, n := range names[:len(names)-1] {
		fmt.Fprintf(&b, " %s / redis |", n)
		sep += "---:|"
	}
	if *aof {
		fmt.Fprintf(&b, " %s / redis-aof |", names[0])
		sep += "---:|"
	}
	b.WriteString("\n" + sep + "\n")
	// The table is printed as it fills: each row once its reps are done
	// (a run takes minutes; a row read early tells whether to go on).
	printed := 0
	flushTable := func() {
		fmt.Print(b.String()[printed:])
		printed = b.Len()
	}
	flushTable()
	tableRow := func(k row) {
		fmt.Fprintf(&b, "| %s | %d |", k.test, k.pipe)
		for _, n := range names {
			fmt.Fprintf(&b, " %.0f |", median(results[k][n]))
		}
		// Ratios are taken per rep (the two servers ran the same test one
		// after the other) and then the median: the load moves between
		// reps, and a ratio of medians could pair a fast rep of one server
		// with a slow rep of the other.
		for _, n := range names[:len(names)-1] {
			fmt.Fprintf(&b, " %.2f |", medianRatio(results[k][n], results[k]["redis"]))
		}
		if *aof {
			fmt.Fprintf(&b, " %.2f |", medianRatio(results[k][names[0]], results[k]["redis-aof"]))
		}
		b.WriteString("\n")
		flushTable()
	}
	for _, p := range strings.Split(*pipes, ",") {
		pipe, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return errors.Wrapf(err, "bad -P %q", p)
		}
		for _, test := range testList {
			var done []row // the rows this test's runs filled
			for rep := 0; rep < *reps; rep++ {
				// Rotate the order so no server always runs first.
				order := append(append([]string(nil), names[rep%len(names):]...), names[:rep%len(names)]...)
				for _, name := range order {
					host, port, _ := net.SplitHostPort(addrs[name])
					args := []string{"-h", host, "-p", port, "-t", test, "-c", strconv.Itoa(*clients), "-n", strconv.Itoa(*requests),
						"-r", strconv.Itoa(*keyspace), "-P", strconv.Itoa(pipe), "--csv"}
					cpu0, csw0 := cpuTime(procs[name]), ctxSwitches(procs[name])
					outb, err := pinned(benchCPUs, bench, args...).Output()
					cpu1, csw1 := cpuTime(procs[name]), ctxSwitches(procs[name])
					if err != nil {
						return errors.Wrapf(err, "redis-benchmark %s", strings.Join(args, " "))
					}
					recs, err := csv.NewReader(bytes.NewReader(outb)).ReadAll()
					if err != nil {
						return errors.Wrap(err, "parse redis-benchmark --csv")
					}
					for _, r := range recs {
						if len(r) < 2 || r[0] == "test" {
							continue
						}
						rps, err := strconv.ParseFloat(r[1], 64)
						if err != nil {
							continue
						}
						k := row{r[0], pipe}
						if results[k] == nil {
							results[k] = map[string][]float64{}
							cpus[k] = map[string][]float64{}
							csws[k] = map[string][]float64{}
							rows = append(rows, k)
							done = append(done, k)
						}
						results[k][name] = append(results[k][name], rps)
						if len(recs) == 2 { // one test per run: its CPU time is the run's
							cpus[k][name] = append(cpus[k][name], (cpu1-cpu0).Seconds()/float64(*requests))
							csws[k][name] = append(csws[k][name], float64(csw1-csw0)/float64(*requests))
						}
					}
				}
			}
			for _, k := range done {
				tableRow(k)
			}
		}
	}
	// perRequest writes one table of a per-request median for every server.
	perRequest := func(title, format string, of map[row]map[string][]float64, scale float64) {
		b.WriteString("\n" + title + "\n\n| test | pipeline |")
		sep := "|---|---:|"
		for _, n := range names {
			fmt.Fprintf(&b, " %s |", n)
			sep += "---:|"
		}
		b.WriteString("\n" + sep + "\n")
		for _, k := range rows {
			fmt.Fprintf(&b, "| %s | %d |", k.test, k.pipe)
			for _, n := range names {
				fmt.Fprintf(&b, format, median(of[k][n])*scale)
			}
			b.WriteString("\n")
		}
	}
	perRequest("Server CPU time per request (user+sys of the server process over the run / requests), µs, median:", " %.2f |", cpus, 1e6)
	perRequest("Server context switches per request (voluntary+involuntary of every server thread over the run / requests), median:", " %.3f |", csws, 1)
	fmt.Fprintf(&b, "\nload (/proc/loadavg) at the start: %s; at the end: %s\n", loadStart, loadavg())
	flushTable()
	if *out != "" {
		return os.WriteFile(*out, []byte(b.String()), 0o644)
	}
	return nil
}

// cpuTime is the user+sys time of process pid so far (/proc; 0 elsewhere).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (in parentheses, which may hold spaces):
	// utime and stime are the 12th and 13th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / 100 // USER_HZ is 100 on Linux
}

// ctxSwitches is the voluntary and involuntary context switches of every
// thread of process pid so far (/proc; 0 elsewhere).
func ctxSwitches(pid int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += x
			}
		}
	}
	return n
}

// parsePin splits -pin's SERVER_CPUS:BENCH_CPUS.
func parsePin(pin string) (server, bench string, err error) {
	if pin == "" {
		return "", "", nil
	}
	server, bench, ok := strings.Cut(pin, ":")
	if !ok || server == "" || bench == "" {
		return "", "", errors.Newf("-pin %q: want SERVER_CPUS:BENCH_CPUS, as 1:0", pin)
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return "", "", errors.WithHint(errors.New("-pin needs taskset"), "apt-get install -y util-linux, or -pin ''")
	}
	return server, bench, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// medianRatio is the median of num[i]/den[i] over the reps both have (rep i
// of every server ran in the same round, one after the other).
func medianRatio(num, den []float64) float64 {
	var r []float64
	for i := 0; i < len(num) && i < len(den); i++ {
		if den[i] > 0 {
			r = append(r, num[i]/den[i])
		}
	}
	return median(r)
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitPort(addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.Newf("nothing listens on %s after 30s", addr)
}

func numCPU() int { return runtime.NumCPU() }

// serverFlag is one -flags NAME=FLAGS.
type serverFlag struct {
	name  string
	flags []string
}

// serverFlags are the -flags given, in order.
type serverFlags []serverFlag

func (f *serverFlags) String() string {
	var parts []string
	for _, nf := range *f {
		parts = append(parts, nf.name+"="+strings.Join(nf.flags, " "))
	}
	return strings.Join(parts, ",")
}

// Set parses one NAME=FLAGS; FLAGS is split at spaces.
func (f *serverFlags) Set(v string) error {
	name, flags, ok := strings.Cut(v, "=")
	if !ok || name == "" || strings.TrimSpace(flags) == "" {
		return errors.Newf("-flags %q: want NAME=FLAGS", v)
	}
	if name == "redis" || name == "redis-aof" {
		return errors.Newf("-flags %q: %s is redis-server, not an rskv server", v, name)
	}
	*f = append(*f, serverFlag{name: name, flags: strings.Fields(flags)})
	return nil
}

// indexOf is the index of name in names, -1 if absent.
func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// loadavg is the first three fields of /proc/loadavg ("?" elsewhere).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
