// Command redisbench runs redis-benchmark against `rskv serve` and
// redis-server started side by side in the same run, and prints the
// requests per second of each (the median of -reps runs) as a markdown
// table, with rskv's ratio to redis-server.
//
//	cd bench && go run ./redisbench            # -P 16 and -P 1, -c 50, SET GET INCR
//	cd bench && go run ./redisbench -out results/redis.md
//
// It needs redis-server and redis-benchmark (Debian: apt-get install -y
// redis-tools redis-server). Both servers listen on 127.0.0.1 only.
// redis-server runs without persistence (--save "" --appendonly no);
// rskv serve runs with its defaults (--sync periodic: durable within
// 100ms), so rskv does strictly more work for durability than its peer.
package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
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
		sync     = flag.String("sync", "periodic", "rskv serve --sync")
		out      = flag.String("out", "", "also write the table to this file")
	)
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
	rskvAddr, redisAddr := freeAddr(), freeAddr()
	rskvCmd := exec.Command(rskvBin, "serve", "--dir", filepath.Join(tmp, "store"), "--addr", rskvAddr, "--sync", *sync)
	_, redisPort, _ := net.SplitHostPort(redisAddr)
	redisCmd := exec.Command(redisBin, "--port", redisPort, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", tmp, "--daemonize", "no", "--loglevel", "warning")
	for _, c := range []*exec.Cmd{rskvCmd, redisCmd} {
		if err := c.Start(); err != nil {
			return err
		}
		defer func(c *exec.Cmd) { _ = c.Process.Kill(); _ = c.Wait() }(c)
	}
	for _, a := range []string{rskvAddr, redisAddr} {
		if err := waitPort(a); err != nil {
			return err
		}
	}

	type row struct {
		test string
		pipe int
	}
	results := map[row]map[string][]float64{}
	var rows []row
	for _, p := range strings.Split(*pipes, ",") {
		pipe, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return errors.Wrapf(err, "bad -P %q", p)
		}
		for rep := 0; rep < *reps; rep++ {
			// Alternate the order so neither server always runs first.
			order := []string{"rskv", "redis"}
			if rep%2 == 1 {
				order = []string{"redis", "rskv"}
			}
			for _, name := range order {
				addr := map[string]string{"rskv": rskvAddr, "redis": redisAddr}[name]
				host, port, _ := net.SplitHostPort(addr)
				args := []string{"-h", host, "-p", port, "-t", *tests, "-c", strconv.Itoa(*clients), "-n", strconv.Itoa(*requests),
					"-r", strconv.Itoa(*keyspace), "-P", strconv.Itoa(pipe), "--csv"}
				outb, err := exec.Command(bench, args...).Output()
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
						rows = append(rows, k)
					}
					results[k][name] = append(results[k][name], rps)
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "redis-benchmark -c %d -n %d -r %d, requests/s, median of %d (%s, %d CPUs, %s)\n\n",
		*clients, *requests, *keyspace, *reps, time.Now().UTC().Format("2006-01-02"), numCPU(), "rskv serve --sync "+*sync+" vs redis-server without persistence")
	b.WriteString("| test | pipeline | rskv serve | redis-server | rskv / redis |\n|---|---:|---:|---:|---:|\n")
	for _, k := range rows {
		r, d := median(results[k]["rskv"]), median(results[k]["redis"])
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.2f |\n", k.test, k.pipe, r, d, r/d)
	}
	fmt.Print(b.String())
	if *out != "" {
		return os.WriteFile(*out, []byte(b.String()), 0o644)
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
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
