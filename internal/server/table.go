package server

import (
	"sort"
	"sync/atomic"
	"time"
)

// cmdFlag are the command flags COMMAND reports, and the server's own.
type cmdFlag uint32

const (
	flagWrite cmdFlag = 1 << iota
	flagReadOnly
	flagDenyOOM
	flagAdmin
	flagNoScript
	flagLoading
	flagStale
	flagFast
	flagNoAuth
	flagRandom
	// flagMayBlock (the server's own, not reported by COMMAND): the command
	// may wait for long, so an event loop hands it to a worker (mayBlock).
	flagMayBlock
)

// mayBlockCommands wait on the disk (SAVE), on every stripe (FLUSHALL), on
// other transactions (EXEC), or read the whole store or a whole hash.
var mayBlockCommands = []string{"save", "bgsave", "flushall", "flushdb", "exec", "keys", "scan", "randomkey",
	"info", "watch", "hgetall", "hkeys", "hvals", "hscan"}

var flagNames = []struct {
	f    cmdFlag
	name string
}{
	{flagWrite, "write"}, {flagReadOnly, "readonly"}, {flagDenyOOM, "denyoom"}, {flagAdmin, "admin"},
	{flagNoScript, "noscript"}, {flagLoading, "loading"}, {flagStale, "stale"}, {flagFast, "fast"},
	{flagNoAuth, "no_auth"}, {flagRandom, "random"},
}

// command is one row of the command table: adding a command (EXPIRE once
// the store has TTLs, MULTI once it has transactions) is adding a row.
type command struct {
	name    string // lowercase, as Redis's fullname
	arity   int    // Redis's: n exact, -n at least n (the name included)
	flags   cmdFlag
	first   int // key positions, for COMMAND
	last    int
	step    int
	group   string // for COMMAND DOCS
	summary string
	since   string
	fn      func(c *client, args [][]byte)
	subs    []*command // subcommands (CLIENT, COMMAND, CONFIG), for COMMAND
	id      int
}

var (
	commands  map[string]*command
	cmdByID   []*command
	cmdSorted []*command
)

func init() {
	commands = map[string]*command{}
	for _, tab := range [][]*command{stringCommands(), keyCommands(), hashCommands(), serverCommands(), txnCommands(), expireCommands(), raftCommands()} {
		for _, c := range tab {
			if _, dup := commands[c.name]; dup {
				panic("rskv server: command " + c.name + " defined twice")
			}
			c.id = len(cmdByID)
			cmdByID = append(cmdByID, c)
			commands[c.name] = c
		}
	}
	for _, name := range mayBlockCommands {
		commands[name].flags |= flagMayBlock
	}
	cmdSorted = append([]*command(nil), cmdByID...)
	sort.Slice(cmdSorted, func(i, j int) bool { return cmdSorted[i].name < cmdSorted[j].name })
}

func lookup(c *client, name []byte) *command {
	if c.memoCmd != nil && string(name) == string(c.memo[:c.memoLen]) {
		return c.memoCmd
	}
	l := c.lowerName(name)
	if l == nil {
		return nil
	}
	cmd := commands[string(l)]
	if cmd != nil && len(name) <= len(c.memo) {
		c.memoLen = copy(c.memo[:], name)
		c.memoCmd = cmd
	}
	return cmd
}

// Latency buckets of the per-command histograms, in seconds.
var latencyBuckets = []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1}

// nBuckets is len(latencyBuckets); latencyBucketsNs are its bounds in
// nanoseconds, for observe's integer comparisons.
const nBuckets = 16

var latencyBucketsNs = func() (b [nBuckets]int64) {
	if len(latencyBuckets) != nBuckets {
		panic("rskv server: nBuckets is not len(latencyBuckets)")
	}
	for i, s := range latencyBuckets {
		b[i] = int64(s * 1e9)
	}
	return b
}()

const statShards = 16

// cmdCounters are one command's counters in one shard, together: a
// command's observe touches its first cache line (calls, nsec and the
// first buckets), not one line in each of four arrays.
type cmdCounters struct {
	calls   atomic.Uint64
	nsec    atomic.Uint64 // time spent, ns (summed in ns: fast commands take under 1 µs)
	buckets [nBuckets]atomic.Uint64
	failed  atomic.Uint64
	_       [8]byte
}

// cmdShard holds one shard of every command's counters. Connections are
// spread over the shards so that no counter is touched by every command.
type cmdShard struct {
	cmds []cmdCounters // by command id
	// Bytes read from and written to the shard's connections (a counter
	// per shard: every request reads and writes).
	netIn, netOut atomic.Uint64
	_             [64]byte
}

// cmdStats are the per-command call counts, errors and latency histograms
// (INFO commandstats, Prometheus).
type cmdStats struct {
	shards  [statShards]cmdShard
	unknown atomic.Uint64
}

func newCmdStats() *cmdStats {
	s := &cmdStats{}
	for i := range s.shards {
		s.shards[i].cmds = make([]cmdCounters, len(cmdByID))
	}
	return s
}

func (s *cmdStats) observe(shard int, c *command, d time.Duration, failed bool) {
	s.observeN(shard, c, 1, d, failed)
}

// observeN counts n calls of c that took d each.
func (s *cmdStats) observeN(shard int, c *command, n int, d time.Duration, failed bool) {
	cc := &s.shards[shard].cmds[c.id]
	cc.calls.Add(uint64(n))
	cc.nsec.Add(uint64(n) * uint64(max(d, 0)))
	if failed {
		cc.failed.Add(uint64(n))
	}
	ns := int64(d)
	for i := range latencyBucketsNs {
		if ns <= latencyBucketsNs[i] {
			cc.buckets[i].Add(uint64(n))
			return
		}
	}
}

// netIn is the bytes read from every connection.
func (s *cmdStats) netIn() int64 {
	var n uint64
	for i := range s.shards {
		n += s.shards[i].netIn.Load()
	}
	return int64(n)
}

// netOut is the bytes written to every connection.
func (s *cmdStats) netOut() int64 {
	var n uint64
	for i := range s.shards {
		n += s.shards[i].netOut.Load()
	}
	return int64(n)
}

// failed counts a command rejected before it ran (arity, authentication).
func (s *cmdStats) failed(c *command) {
	s.shards[0].cmds[c.id].failed.Add(1)
}

// cmdTotals is one command's summed counters.
type cmdTotals struct {
	calls, failed, usec uint64
	buckets             []uint64 // non-cumulative
}

func (s *cmdStats) totals(c *command) cmdTotals {
	t := cmdTotals{buckets: make([]uint64, nBuckets)}
	var nsec uint64
	for i := range s.shards {
		cc := &s.shards[i].cmds[c.id]
		t.calls += cc.calls.Load()
		t.failed += cc.failed.Load()
		nsec += cc.nsec.Load()
		for b := range cc.buckets {
			t.buckets[b] += cc.buckets[b].Load()
		}
	}
	t.usec = nsec / 1000
	return t
}
