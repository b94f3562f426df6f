package harness

import (
	"io"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/bench/engines"
	"github.com/rskv-go/rskv/internal/ycsb"
)

// Mode says how the data set compares with the engines' memory budget.
type Mode string

const (
	// InMemory gives each engine a budget of at least four times the data.
	InMemory Mode = "memory"
	// LargerThanMemory gives each engine a budget of a quarter of the data.
	LargerThanMemory Mode = "disk"
)

// Title returns the mode as a heading.
func (m Mode) Title() string {
	switch m {
	case InMemory:
		return "In memory"
	case LargerThanMemory:
		return "Larger than memory"
	}
	return string(m)
}

// ParseModes parses a comma-separated list of modes ("memory", "disk").
func ParseModes(list string) ([]Mode, error) {
	var out []Mode
	for _, f := range strings.Split(list, ",") {
		switch m := Mode(strings.ToLower(strings.TrimSpace(f))); m {
		case "":
		case InMemory, LargerThanMemory:
			out = append(out, m)
		case "ltm", "larger-than-memory":
			out = append(out, LargerThanMemory)
		default:
			return nil, errors.Newf("unknown mode %q (want memory or disk)", f)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no mode given")
	}
	return out, nil
}

// Config is the benchmark matrix.
type Config struct {
	// Engines are the stores to compare, in table order.
	Engines []engines.Engine
	// Workloads, Distributions, ValueSizes (bytes), Threads (goroutine
	// counts) and Modes span the matrix: every engine runs every
	// combination (memory-only engines skip LargerThanMemory).
	Workloads     []ycsb.Workload
	Distributions []ycsb.Distribution
	ValueSizes    []int
	Threads       []int
	Modes         []Mode
	// Records is the number of records loaded.
	Records uint64
	// Duration is the length of each run; Ops, if positive, the number of
	// operations of each run instead.
	Duration time.Duration
	Ops      int64
	// LoadThreads is the number of goroutines that load; 0 means the
	// largest of Threads.
	LoadThreads int
	// LoadBatch is the number of records per batch for engines that load in
	// batches (bbolt); 0 means 10,000.
	LoadBatch int
	// ScratchDir is the parent of the engines' temporary directories; ""
	// means the system's temporary directory.
	ScratchDir string
	// Seed makes the key sequences and values repeatable.
	Seed uint64
	// Command is the command line, recorded in the report.
	Command string
	// Log receives one line per load and run; nil discards them.
	Log io.Writer
	// Repeat is how many times each cell runs; the report keeps the run
	// with the median throughput (0 means 1).
	Repeat int
	// Budget, if positive, is every engine's memory budget instead of the
	// mode's (Budget()).
	Budget int64
	// RingSize is the length of each pre-drawn key sequence; 0 means four
	// per record within [1M, 16M] (in cgroup mode one per record, at least
	// 1M, since the sequence is charged to the engine's cgroup).
	RingSize int
	// CgroupLimit, if not 0, runs each engine in a child process in its own
	// memory cgroup limited to that many bytes (process and page cache), or
	// unlimited (Unlimited), reporting its memory use.
	CgroupLimit int64
	// ChildCommand is the command that runs ChildMain (default: this
	// binary with ChildArg).
	ChildCommand []string
}

// budget returns the memory budget for mode and value size.
func (c *Config) budget(mode Mode, vs int) int64 {
	if c.Budget > 0 {
		return c.Budget
	}
	return Budget(mode, c.Records, vs)
}

// ringSize returns the length of the key sequences.
func (c *Config) ringSize() int {
	switch {
	case c.RingSize > 0:
		return c.RingSize
	case c.CgroupLimit != 0:
		return int(min(max(c.Records, 1<<20), 1<<24))
	}
	return int(min(max(4*c.Records, 1<<20), 1<<24))
}

func (c *Config) validate() error {
	switch {
	case len(c.Engines) == 0, len(c.Workloads) == 0, len(c.Distributions) == 0,
		len(c.ValueSizes) == 0, len(c.Threads) == 0, len(c.Modes) == 0:
		return errors.New("harness: every list in the Config needs an entry")
	case c.Records == 0:
		return errors.New("harness: Records must be positive")
	case c.Ops <= 0 && c.Duration <= 0:
		return errors.New("harness: Duration or Ops must be positive")
	case c.Repeat < 0 || c.Budget < 0 || c.RingSize < 0 || c.CgroupLimit < Unlimited:
		return errors.New("harness: Repeat, Budget, RingSize and CgroupLimit must not be negative (CgroupLimit: Unlimited)")
	case slices.ContainsFunc(c.ValueSizes, func(v int) bool { return v <= 0 }):
		return errors.New("harness: value sizes must be positive")
	case slices.ContainsFunc(c.Threads, func(v int) bool { return v <= 0 }):
		return errors.New("harness: thread counts must be positive")
	}
	return nil
}

// DataBytes is the raw size of the data set: keys plus values.
func DataBytes(records uint64, valueSize int) int64 {
	return int64(records) * int64(ycsb.KeySize+valueSize)
}

// Budget returns the engines' memory budget in mode for the data set: in
// memory, the next power of two of four times the data (at least 64 MiB), so
// that log-structured engines hold the data with room for record headers and
// in-memory write buffers; larger than memory, a quarter of the data (at
// least 1 MiB).
func Budget(mode Mode, records uint64, valueSize int) int64 {
	data := DataBytes(records, valueSize)
	if mode == LargerThanMemory {
		return max(data/4, 1<<20)
	}
	want := max(4*data, 64<<20)
	return 1 << (64 - bits.LeadingZeros64(uint64(want-1)))
}
