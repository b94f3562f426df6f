// Command raftbench measures rskv serve's replicated mode (3 nodes on
// loopback, hashicorp/raft) against a single plain node, in one run: SET
// and GET throughput and latency (p50, p99), each figure the median of
// -rounds rounds, the targets interleaved within every round so machine
// load hits all alike.
//
//	cd bench && go run ./raftbench                  # -c 16 -d 3s -rounds 3
//	cd bench && go run ./raftbench -out results/raft.md
//
// Targets:
//   - single, --sync always: one plain node answering a write once it is
//     fsynced, the durability a raft commit gives.
//   - single, --sync periodic: one plain node with the default sync.
//   - 3 nodes, to leader: every client on the leader.
//   - 3 nodes, to all: clients spread over the three nodes (followers
//     forward to the leader, SERVER.md).
//   - 3 nodes, wal log, to leader: a second cluster whose raft log is
//     raft-wal (--raft-log wal) instead of raft-boltdb.
//   - 3 nodes, stale GET: GET with RAFT STALEREADS ON, clients on all
//     three nodes (each answers from its own state).
//
// The nodes and the load generator share the machine's cores; the figures
// are ratios within one run, not absolute capacity.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "raftbench: %v\n", err)
		os.Exit(1)
	}
}

type config struct {
	conns     int
	duration  time.Duration
	rounds    int
	keys      int
	valueSize int
	out       string
	bin       string
	quiet     bool
}

func run() error {
	var cfg config
	flag.IntVar(&cfg.conns, "c", 16, "client connections (goroutines, one request in flight each)")
	flag.DurationVar(&cfg.duration, "d", 3*time.Second, "length of each measured run")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds; every figure is the median over them")
	flag.IntVar(&cfg.keys, "keys", 10000, "key space")
	flag.IntVar(&cfg.valueSize, "value-size", 100, "value size in bytes")
	flag.StringVar(&cfg.out, "out", "", "also write the table to this file")
	flag.StringVar(&cfg.bin, "rskv", "", "rskv binary (default: go build the rskv module's ./cmd/rskv)")
	flag.BoolVar(&cfg.quiet, "quiet", false, "no progress lines")
	flag.Parse()
	table, err := bench(cfg)
	if err != nil {
		return err
	}
	fmt.Print(table)
	if cfg.out != "" {
		return errors.Wrapf(os.WriteFile(cfg.out, []byte(table), 0o644), "write %s", cfg.out)
	}
	return nil
}

// result is one measured run.
type result struct {
	ops      int
	errs     int
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (r result) opsPerSec() float64 { return float64(r.ops) / r.elapsed.Seconds() }

type target struct {
	name  string
	addrs []string // clients go round-robin over these
	stale bool
}

func bench(cfg config) (string, error) {
	tmp, err := os.MkdirTemp("", "raftbench-")
	if err != nil {
		return "", errors.Wrap(err, "temp dir")
	}
	defer os.RemoveAll(tmp)
	bin := cfg.bin
	if bin == "" {
		bin = filepath.Join(tmp, "rskv")
		// The rskv module's directory, wherever this runs inside the bench
		// module (bench's go.mod replaces it with ../).
		root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/rskv-go/rskv").Output()
		if err != nil {
			return "", errors.Wrap(err, "go list -m github.com/rskv-go/rskv")
		}
		build := exec.Command("go", "build", "-o", bin, "./cmd/rskv")
		build.Dir = strings.TrimSpace(string(root))
		if out, err := build.CombinedOutput(); err != nil {
			return "", errors.Wrapf(err, "go build ./cmd/rskv: %s", out)
		}
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			_ = p.Wait()
		}
	}()
	start := func(name string, args ...string) (string, error) {
		addr, err := freeAddr()
		if err != nil {
			return "", err
		}
		logf, err := os.Create(filepath.Join(tmp, name+".log"))
		if err != nil {
			return "", errors.Wrap(err, "log file")
		}
		defer logf.Close()
		cmd := exec.Command(bin, append([]string{"serve", "--dir", filepath.Join(tmp, name), "--addr", addr}, args...)...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return "", errors.Wrapf(err, "start %s", name)
		}
		procs = append(procs, cmd)
		if err := waitPing(addr, 30*time.Second); err != nil {
			return "", errors.Wrapf(err, "%s (log %s)", name, logf.Name())
		}
		return addr, nil
	}
	always, err := start("single-always", "--sync", "always")
	if err != nil {
		return "", err
	}
	periodic, err := start("single-periodic")
	if err != nil {
		return "", err
	}
	// cluster starts 3 nodes (names prefix1..3) and returns their RESP
	// addresses and the leader's.
	cluster := func(prefix string, extra ...string) ([]string, string, error) {
		var nodes []string
		for i := 1; i <= 3; i++ {
			raftAddr, err := freeAddr()
			if err != nil {
				return nil, "", err
			}
			mode := []string{"--bootstrap"}
			if i > 1 {
				mode = []string{"--join", nodes[0]}
			}
			args := append([]string{"--node-id", fmt.Sprintf("n%d", i), "--raft-addr", raftAddr}, mode...)
			addr, err := start(fmt.Sprintf("%s%d", prefix, i), append(args, extra...)...)
			if err != nil {
				return nil, "", err
			}
			nodes = append(nodes, addr)
			if i == 1 {
				if _, err := waitLeader(nodes, 1, 30*time.Second); err != nil {
					return nil, "", err
				}
			}
		}
		leader, err := waitLeader(nodes, 3, 60*time.Second)
		return nodes, leader, err
	}
	nodes, leader, err := cluster("n")
	if err != nil {
		return "", err
	}
	_, walLeader, err := cluster("w", "--raft-log", "wal")
	if err != nil {
		return "", err
	}
	targets := []target{
		{name: "single, --sync always", addrs: []string{always}},
		{name: "single, --sync periodic", addrs: []string{periodic}},
		{name: "3 nodes, to leader", addrs: []string{leader}},
		{name: "3 nodes, to all", addrs: nodes},
		{name: "3 nodes, wal log, to leader", addrs: []string{walLeader}},
	}
	value := strings.Repeat("v", cfg.valueSize)
	for _, tg := range []target{targets[0], targets[1], targets[2], targets[4]} { // a cluster's keys are loaded once, through its leader
		if err := load(tg.addrs[0], cfg.keys, value); err != nil {
			return "", errors.Wrapf(err, "load %s", tg.name)
		}
	}
	type cell struct{ target, op string }
	res := map[cell][]result{}
	var order []cell
	add := func(c cell, r result) {
		if _, ok := res[c]; !ok {
			order = append(order, c)
		}
		res[c] = append(res[c], r)
	}
	for round := range cfg.rounds {
		for _, tg := range targets {
			for _, op := range []string{"SET", "GET"} {
				r := measure(tg, op, cfg, value)
				add(cell{tg.name, op}, r)
				progress(cfg, round, tg.name, op, r)
			}
		}
		stale := target{name: "3 nodes, stale GET", addrs: nodes, stale: true}
		r := measure(stale, "GET", cfg, value)
		add(cell{stale.name, "GET"}, r)
		progress(cfg, round, stale.name, "GET", r)
	}

	var b strings.Builder
	load1, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "raftbench: %d connections, %s per run, median of %d rounds, %d keys, %d-byte values, %d CPUs, loadavg %s\n\n",
		cfg.conns, cfg.duration, cfg.rounds, cfg.keys, cfg.valueSize, runtime.NumCPU(), strings.TrimSpace(string(load1)))
	b.WriteString("| target | op | ops/s | vs single --sync always | p50 | p99 | errors |\n|---|---|---:|---:|---:|---:|---:|\n")
	base := map[string]float64{}
	for _, c := range order {
		if c.target == targets[0].name {
			base[c.op] = medianOf(res[c], func(r result) float64 { return r.opsPerSec() })
		}
	}
	for _, c := range order {
		rs := res[c]
		tput := medianOf(rs, func(r result) float64 { return r.opsPerSec() })
		p50 := time.Duration(medianOf(rs, func(r result) float64 { return float64(r.p50) }))
		p99 := time.Duration(medianOf(rs, func(r result) float64 { return float64(r.p99) }))
		errs := 0
		for _, r := range rs {
			errs += r.errs
		}
		ratio := "—"
		if base[c.op] > 0 {
			ratio = fmt.Sprintf("%.2fx", tput/base[c.op])
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %s | %d |\n", c.target, c.op, tput, ratio, fmtDur(p50), fmtDur(p99), errs)
	}
	return b.String(), nil
}

func progress(cfg config, round int, target, op string, r result) {
	if !cfg.quiet {
		fmt.Fprintf(os.Stderr, "round %d: %-32s %-4s %8.0f ops/s  p50 %-8s p99 %-8s errors %d\n",
			round+1, target, op, r.opsPerSec(), fmtDur(r.p50), fmtDur(r.p99), r.errs)
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	}
}

func medianOf(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func key(i int) string { return "bench:" + strconv.Itoa(i) }

// load writes every key once, pipelined.
func load(addr string, keys int, value string) error {
	rc := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, ReadTimeout: 30 * time.Second, DisableIdentity: true})
	defer rc.Close()
	for lo := 0; lo < keys; lo += 500 {
		pipe := rc.Pipeline()
		for i := lo; i < min(lo+500, keys); i++ {
			pipe.Set(context.Background(), key(i), value, 0)
		}
		if _, err := pipe.Exec(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

// measure runs cfg.conns goroutines, each with its own connection (spread
// round-robin over tg.addrs), doing op on random keys for cfg.duration, and
// times every request.
func measure(tg target, op string, cfg config, value string) result {
	var wg sync.WaitGroup
	lats := make([][]time.Duration, cfg.conns)
	errs := make([]int, cfg.conns)
	begin := time.Now()
	deadline := begin.Add(cfg.duration)
	for g := range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			rc := redis.NewClient(&redis.Options{Addr: tg.addrs[g%len(tg.addrs)], Protocol: 2, PoolSize: 1,
				MaxRetries: -1, ReadTimeout: 10 * time.Second, DisableIdentity: true})
			defer rc.Close()
			conn := rc.Conn()
			defer conn.Close()
			if tg.stale {
				if err := conn.Do(ctx, "RAFT", "STALEREADS", "ON").Err(); err != nil {
					errs[g]++
					return
				}
			}
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			l := make([]time.Duration, 0, 1<<14)
			for {
				t0 := time.Now()
				if t0.After(deadline) {
					break
				}
				k := key(rng.IntN(cfg.keys))
				var err error
				if op == "SET" {
					err = conn.Set(ctx, k, value, 0).Err()
				} else {
					err = conn.Get(ctx, k).Err()
				}
				if err != nil {
					errs[g]++
					continue
				}
				l = append(l, time.Since(t0))
			}
			lats[g] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	var all []time.Duration
	r := result{elapsed: elapsed}
	for g := range lats {
		all = append(all, lats[g]...)
		r.errs += errs[g]
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r.ops = len(all)
	if len(all) > 0 {
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", errors.Wrap(err, "pick a port")
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func waitPing(addr string, timeout time.Duration) error {
	rc := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, DialTimeout: time.Second, DisableIdentity: true})
	defer rc.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if rc.Ping(context.Background()).Val() == "PONG" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.Newf("%s did not answer PING within %s", addr, timeout)
}

// waitLeader waits until every node reports raft_peers:peers and the same
// leader, and returns the leader's RESP address.
func waitLeader(nodes []string, peers int, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		leader, why := agreedLeader(nodes, peers)
		if leader != "" {
			return leader, nil
		}
		last = why
		time.Sleep(100 * time.Millisecond)
	}
	return "", errors.Newf("no leader with %d peers within %s: %s", peers, timeout, last)
}

func agreedLeader(nodes []string, peers int) (string, string) {
	leader := ""
	for _, addr := range nodes {
		rc := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, DisableIdentity: true})
		info, err := rc.Info(context.Background(), "raft").Result()
		_ = rc.Close()
		if err != nil {
			return "", err.Error()
		}
		kv := map[string]string{}
		for _, line := range strings.Split(info, "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				kv[k] = v
			}
		}
		if kv["raft_peers"] != strconv.Itoa(peers) || kv["raft_leader_addr"] == "" {
			return "", fmt.Sprintf("%s: peers %q leader %q", addr, kv["raft_peers"], kv["raft_leader_addr"])
		}
		if leader != "" && kv["raft_leader_addr"] != leader {
			return "", "nodes disagree on the leader"
		}
		leader = kv["raft_leader_addr"]
	}
	return leader, ""
}
