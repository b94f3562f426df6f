package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/dustin/go-humanize"
	"github.com/rskv-go/rskv/bench/engines"
)

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.Wrap(err, "read report")
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, errors.Wrapf(err, "parse %s", path)
	}
	return &r, nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// find returns the row for the given coordinates, if any.
func (r *Report) find(engine string, mode Mode, vs int, workload, dist string, threads int) (Row, bool) {
	for _, row := range r.Rows {
		if row.Engine == engine && row.Mode == mode && row.ValueSize == vs && row.Workload == workload &&
			(workload == "load" || row.Distribution == dist && row.Threads == threads) {
			return row, true
		}
	}
	return Row{}, false
}

func (r *Report) persistent(name string) bool {
	for _, e := range r.Engines {
		if e.Name == name {
			return e.Persistent
		}
	}
	return false
}

// engineNames returns the engines that ran in mode.
func (r *Report) engineNames(mode Mode) []string {
	var out []string
	for _, e := range r.Engines {
		if mode == LargerThanMemory && !e.Persistent {
			continue
		}
		out = append(out, e.Name)
	}
	return out
}

// Shortfall is a run in which rskv did not beat every on-disk peer.
type Shortfall struct {
	Mode                   Mode
	ValueSize              int
	Workload, Distribution string
	Threads                int
	RSKV                   float64
	Peer                   string
	PeerOps                float64
}

// Shortfalls lists the runs of mode in which rskv's throughput is not above
// that of every persistent peer (or in which rskv failed).
func (r *Report) Shortfalls(mode Mode) []Shortfall {
	var out []Shortfall
	for _, row := range r.Rows {
		if row.Engine != "rskv" || row.Mode != mode || row.Workload == "load" {
			continue
		}
		best, bestName := 0.0, ""
		for _, e := range r.Engines {
			if !e.Persistent || engines.IsRSKV(e.Name) {
				continue
			}
			if p, ok := r.find(e.Name, mode, row.ValueSize, row.Workload, row.Distribution, row.Threads); ok && p.Errors == 0 && p.OpsPerSec > best {
				best, bestName = p.OpsPerSec, e.Name
			}
		}
		if bestName != "" && (row.OpsPerSec <= best || row.Errors > 0 || row.NotFound > 0) {
			out = append(out, Shortfall{mode, row.ValueSize, row.Workload, row.Distribution, row.Threads, row.OpsPerSec, bestName, best})
		}
	}
	return out
}

// rates formats ops/s compactly: 1.23M, 845k, 12.3k, 950.
func rate(x float64) string {
	switch {
	case x >= 1e6:
		return strconv.FormatFloat(x/1e6, 'f', 2, 64) + "M"
	case x >= 1e4:
		return strconv.FormatFloat(x/1e3, 'f', 0, 64) + "k"
	case x >= 1e3:
		return strconv.FormatFloat(x/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(x, 'f', 0, 64)
}

// latency formats nanoseconds with three significant digits.
func latency(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d <= 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

func cell(row Row, ok bool, f func(Row) string) string {
	switch {
	case !ok:
		return "–"
	case row.Errors > 0 || row.NotFound > 0:
		return "error"
	}
	return f(row)
}

// WriteMarkdown writes the report as markdown: the setup, then per mode and
// value size a throughput table (engines side by side) and a p99 latency
// table, then load rates and the runs where rskv is not ahead.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	s := r.Settings
	m := r.Machine
	fmt.Fprintf(&b, "# YCSB results: rskv and peer stores\n\n")
	fmt.Fprintf(&b, "Measured %s on %s/%s, %d CPUs (GOMAXPROCS %d)", r.Started.UTC().Format("2006-01-02 15:04 MST"),
		m.GOOS, m.GOARCH, m.CPUs, m.GoMaxProcs)
	if m.CPUModel != "" {
		fmt.Fprintf(&b, ", %s", m.CPUModel)
	}
	if m.MemoryKiB > 0 {
		fmt.Fprintf(&b, ", %s RAM", humanize.IBytes(uint64(m.MemoryKiB)<<10))
	}
	fmt.Fprintf(&b, ", %s; the whole matrix took %s.", m.GoVersion, r.Took)
	if m.LoadBefore != "" {
		fmt.Fprintf(&b, " Load average (1, 5, 15 min) %s at the start, %s at the end: "+
			"other work on the machine takes CPU from the runs.", m.LoadBefore, m.LoadAfter)
	}
	b.WriteString("\n\n")
	if s.Command != "" {
		fmt.Fprintf(&b, "Reproduce: `%s`\n\n", s.Command)
	}
	run := fmt.Sprintf("%s per run", time.Duration(s.DurationNs))
	if s.Ops > 0 {
		run = fmt.Sprintf("%s operations per run", humanize.Comma(s.Ops))
	}
	fmt.Fprintf(&b, "%s records with %d-byte keys; values of %s bytes; workloads %s; key distributions %s "+
		"(zipfian: YCSB's scrambled zipfian, theta 0.99); %s threads; %s. Loaded with %d goroutines. "+
		"Throughput counts every operation; latency is timed on one operation in %d and kept in HdrHistograms. "+
		"Every engine replays the same pre-drawn key sequence.\n\n",
		humanize.Comma(int64(s.Records)), s.KeySize, joinInts(s.ValueSizes, " and "), strings.Join(s.Workloads, ", "),
		strings.Join(s.Distributions, " and "), joinInts(s.Threads, ", "), run, s.LoadThreads, s.SampleEvery)
	b.WriteString("Workloads: A = 50% read, 50% update; B = 95% read, 5% update; C = 100% read; " +
		"F = 50% read, 50% read-modify-write.\n\n")
	if s.BudgetBytes > 0 {
		fmt.Fprintf(&b, "Modes: every engine has a memory budget of %s (set with -budget) in every mode; "+
			"memory-only engines (shardmap, syncmap) run in memory only.", humanize.IBytes(uint64(s.BudgetBytes)))
	} else {
		b.WriteString("Modes: **in memory** gives each engine a memory budget of at least four times the data; " +
			"**larger than memory** gives it a quarter of the data (so the data is 4x the budget). " +
			"Memory-only engines (shardmap, syncmap) run in memory only.")
	}
	b.WriteString(" " + r.settingText() + "\n\n")
	if s.Repeat > 1 {
		fmt.Fprintf(&b, "Every cell ran %d times (each run starting at its own place in the key sequence); "+
			"the tables show the run with the median throughput.\n\n", s.Repeat)
	}

	b.WriteString("## Engines and settings\n\n| engine | version | durability | memory | operations |\n|---|---|---|---|---|\n")
	for _, e := range r.Engines {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", e.Name, e.Version, e.Durability, e.Memory, e.Operations)
	}
	b.WriteString("\n")

	for _, mode := range s.Modes {
		names := r.engineNames(mode)
		for _, vs := range s.ValueSizes {
			budget := r.budget(mode, vs)
			fmt.Fprintf(&b, "## %s, %d-byte values\n\nData %s, budget %s.\n\n", mode.Title(), vs,
				humanize.IBytes(uint64(DataBytes(s.Records, vs))), humanize.IBytes(uint64(budget)))
			for _, table := range []struct {
				title string
				f     func(Row) string
				ratio bool
			}{
				{"Throughput, operations per second (higher is better)", func(r Row) string { return rate(r.OpsPerSec) }, true},
				{"p99 latency (lower is better)", func(r Row) string { return latency(r.P99Ns) }, false},
			} {
				fmt.Fprintf(&b, "%s:\n\n| workload | keys | threads |", table.title)
				for _, n := range names {
					fmt.Fprintf(&b, " %s |", n)
				}
				var peers []string
				for _, n := range names {
					if !engines.IsRSKV(n) && r.persistent(n) {
						peers = append(peers, n)
					}
				}
				hasPeers := len(peers) > 0
				withRatio := table.ratio && hasPeers && slices.Contains(names, "rskv")
				if withRatio {
					b.WriteString(" rskv / best on-disk peer |")
					if len(peers) > 1 {
						for _, p := range peers {
							fmt.Fprintf(&b, " rskv / %s |", p)
						}
					}
				}
				b.WriteString("\n|---|---|---:|")
				for range names {
					b.WriteString("---:|")
				}
				if withRatio {
					b.WriteString("---:|")
					if len(peers) > 1 {
						for range peers {
							b.WriteString("---:|")
						}
					}
				}
				b.WriteString("\n")
				for _, d := range s.Distributions {
					for _, wl := range s.Workloads {
						for _, t := range s.Threads {
							fmt.Fprintf(&b, "| %s | %s | %d |", wl, d, t)
							for _, n := range names {
								row, ok := r.find(n, mode, vs, wl, d, t)
								fmt.Fprintf(&b, " %s |", cell(row, ok, table.f))
							}
							if withRatio {
								b.WriteString(" " + r.ratio(mode, vs, wl, d, t) + " |")
								if len(peers) > 1 {
									for _, p := range peers {
										b.WriteString(" " + r.ratioTo(p, mode, vs, wl, d, t) + " |")
									}
								}
							}
							b.WriteString("\n")
						}
					}
				}
				b.WriteString("\n")
			}
			r.writeMemory(&b, mode, vs, names)
		}
	}

	b.WriteString("## Load\n\nRecords loaded per second (the load writes every record once, in scattered key order):\n\n| engine |")
	type col struct {
		mode Mode
		vs   int
	}
	var cols []col
	for _, mode := range s.Modes {
		for _, vs := range s.ValueSizes {
			cols = append(cols, col{mode, vs})
			fmt.Fprintf(&b, " %s, %dB |", mode, vs)
		}
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, e := range r.Engines {
		fmt.Fprintf(&b, "| %s |", e.Name)
		for _, c := range cols {
			row, ok := r.find(e.Name, c.mode, c.vs, "load", "", 0)
			fmt.Fprintf(&b, " %s |", cell(row, ok, func(r Row) string { return rate(r.OpsPerSec) }))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")

	if failures := r.failures(); len(failures) > 0 {
		b.WriteString("## Errors\n\n")
		for _, f := range failures {
			fmt.Fprintf(&b, "- %s %s %dB %s %s t%d: %d errors, %d not found; first: %s\n", f.Engine, f.Mode, f.ValueSize,
				f.Workload, f.Distribution, f.Threads, f.Errors, f.NotFound, f.FirstError)
		}
		b.WriteString("\n")
	}

	if slices.ContainsFunc(r.Engines, func(e EngineInfo) bool { return e.Name == "rskv" }) {
		for _, mode := range s.Modes {
			fmt.Fprintf(&b, "## Where rskv is not ahead of every on-disk peer: %s\n\n", strings.ToLower(mode.Title()))
			sf := r.Shortfalls(mode)
			if len(sf) == 0 {
				b.WriteString("None: in this run rskv has the highest throughput of the on-disk engines in every case.\n")
			}
			for _, x := range sf {
				fmt.Fprintf(&b, "- %dB %s %s, %s: rskv %s, %s %s\n", x.ValueSize, x.Workload, x.Distribution,
					plural(x.Threads, "thread"), rate(x.RSKV), x.Peer, rate(x.PeerOps))
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ratio returns rskv's throughput over the best persistent peer's.
func (r *Report) ratio(mode Mode, vs int, wl, d string, t int) string {
	me, ok := r.find("rskv", mode, vs, wl, d, t)
	if !ok || me.Errors > 0 || me.NotFound > 0 {
		return "–"
	}
	best := 0.0
	for _, e := range r.Engines {
		if e.Persistent && !engines.IsRSKV(e.Name) {
			if p, ok := r.find(e.Name, mode, vs, wl, d, t); ok && p.Errors == 0 && p.OpsPerSec > best {
				best = p.OpsPerSec
			}
		}
	}
	if best == 0 {
		return "–"
	}
	x := me.OpsPerSec / best
	s := strconv.FormatFloat(x, 'f', 2, 64) + "x"
	if x <= 1 {
		s = "**" + s + "**"
	}
	return s
}

// ratioTo returns rskv's throughput over peer's; a peer that failed the
// cell (or could not load) is named so.
func (r *Report) ratioTo(peer string, mode Mode, vs int, wl, d string, t int) string {
	me, ok := r.find("rskv", mode, vs, wl, d, t)
	if !ok || me.Errors > 0 || me.NotFound > 0 {
		return "–"
	}
	p, ok := r.find(peer, mode, vs, wl, d, t)
	if !ok || p.Errors > 0 || p.OpsPerSec == 0 {
		if l, ok := r.find(peer, mode, vs, "load", "", 0); ok && l.Errors > 0 {
			return "(" + peer + " did not load)"
		}
		return "(" + peer + " failed)"
	}
	return strconv.FormatFloat(me.OpsPerSec/p.OpsPerSec, 'f', 2, 64) + "x"
}

// budget returns the budget the engines had in mode with vs-byte values.
func (r *Report) budget(mode Mode, vs int) int64 {
	if r.Settings.BudgetBytes > 0 {
		return r.Settings.BudgetBytes
	}
	return Budget(mode, r.Settings.Records, vs)
}

// settingText says where the engines ran and what limited the page cache.
func (r *Report) settingText() string {
	switch l := r.Settings.CgroupLimit; {
	case l == 0:
		return "All engines ran in one process, one after another, and the OS page cache was not limited: " +
			"reads that miss an engine's own memory go to files the kernel may still cache."
	case l == Unlimited:
		return "**Setting: page cache unlimited.** Each engine ran in a child process of its own, in a memory cgroup " +
			"without a limit (used only to measure its memory): reads that miss an engine's own memory go to files the kernel may still cache."
	default:
		return fmt.Sprintf("**Setting: %s memory cgroup.** Each engine ran in a child process of its own, alone in a memory cgroup "+
			"limited to %s for the process and the page cache it fills together (what a container sees; GOMEMLIMIT 90%% of it, no swap). "+
			"The pre-drawn key sequence (4 bytes per key, %s; only the current distribution's is kept) is charged to that cgroup too.",
			humanize.IBytes(uint64(l)), humanize.IBytes(uint64(l)), humanize.IBytes(uint64(4*r.Settings.RingSize)))
	}
}

// writeMemory writes, for cgroup mode, each engine's memory at the end of
// every run: anonymous memory (RSS) and page cache, from memory.stat.
func (r *Report) writeMemory(b *strings.Builder, mode Mode, vs int, names []string) {
	has := slices.ContainsFunc(r.Rows, func(row Row) bool { return row.Mem != nil && row.Mode == mode && row.ValueSize == vs })
	if !has {
		return
	}
	b.WriteString("Memory at the end of each (median) run, from the engine's cgroup memory.stat: RSS (anonymous memory: " +
		"heap and the engine's own caches) / page cache charged to it (its files' pages, mapped or not):\n\n| workload | keys | threads |")
	for _, n := range names {
		fmt.Fprintf(b, " %s |", n)
	}
	b.WriteString("\n|---|---|---:|")
	for range names {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	mem := func(row Row) string {
		if row.Mem == nil {
			return "–"
		}
		return humanize.IBytes(uint64(row.Mem.RSSBytes)) + " / " + humanize.IBytes(uint64(row.Mem.PageCacheBytes))
	}
	b.WriteString("| load | | |")
	for _, n := range names {
		row, ok := r.find(n, mode, vs, "load", "", 0)
		if ok && row.Errors > 0 {
			b.WriteString(" did not load |")
			continue
		}
		fmt.Fprintf(b, " %s |", cell(row, ok, mem))
	}
	b.WriteString("\n")
	for _, d := range r.Settings.Distributions {
		for _, wl := range r.Settings.Workloads {
			for _, t := range r.Settings.Threads {
				fmt.Fprintf(b, "| %s | %s | %d |", wl, d, t)
				for _, n := range names {
					row, ok := r.find(n, mode, vs, wl, d, t)
					fmt.Fprintf(b, " %s |", cell(row, ok, mem))
				}
				b.WriteString("\n")
			}
		}
	}
	b.WriteString("\n")
}

func (r *Report) failures() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Errors > 0 || row.NotFound > 0 {
			out = append(out, row)
		}
	}
	return out
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func joinInts(xs []int, sep string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}
