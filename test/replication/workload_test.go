package replication

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/cockroachdb/errors"
	"github.com/redis/go-redis/v9"
	"github.com/rskv-go/rskv/internal/lincheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// opTimeout is how long a client waits for a reply: twice SERVER.md's 5 s
// bound on the error reply a node gives while no leader is known, so a
// timeout on a node that is neither paused nor killed is a hang.
const opTimeout = 10 * time.Second

// Key space: every fault phase uses fresh keys, so the unknown operations of
// one phase (whose return time is infinite) do not widen the search on the
// keys of every later phase.
const (
	regsPerPhase     = 4
	countersPerPhase = 2
	// maxUnknownIncrs: a counter with this many INCRs of unknown outcome
	// is only read for the rest of its phase. Every unknown INCR stays
	// pending to the end of the history and doubles the states the checker
	// may visit on its key; unknown SETs nobody read are pruned by the
	// checker, unknown INCRs cannot be.
	maxUnknownIncrs = 8
)

func regKey(phase int64, i int) string     { return fmt.Sprintf("p%d:r%d", phase, i) }
func counterKey(phase int64, i int) string { return fmt.Sprintf("p%d:c%d", phase, i) }

// fault is an interval during which a node was killed or paused, on the
// history's clock.
type fault struct {
	node       int
	what       string
	start, end int64
}

// workload drives clients against nodes and records what they saw.
type workload struct {
	t     *testing.T
	seed  uint64
	nodes []*node
	h     *lincheck.History
	phase atomic.Int64

	mu           sync.Mutex
	faults       []fault
	open         map[int]int // node -> index in faults of its open fault
	errs         map[string]int
	hangs        []string
	slow         int               // replies after more than 5 s from a node with no fault
	unknownIncrs map[string]int    // counter key -> INCRs with unknown outcome
	acked        map[string]string // unique key -> value, acknowledged
	unknown      map[string]string // unique key -> value, outcome unknown
	maxLat       time.Duration
	// staleNodes: clients of these nodes read with RAFT STALEREADS ON
	// (the control test).
	staleNodes map[int]bool
	nextCID    atomic.Int64
}

func newWorkload(t *testing.T, seed uint64, nodes []*node) *workload {
	return &workload{
		t: t, seed: seed, nodes: nodes, h: lincheck.NewHistory(),
		open: map[int]int{}, errs: map[string]int{}, acked: map[string]string{}, unknown: map[string]string{},
		unknownIncrs: map[string]int{},
	}
}

// faultStart and faultEnd bracket a kill (until the restart is ready) or a
// pause (until SIGCONT) of node i.
func (w *workload) faultStart(i int, what string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.faults = append(w.faults, fault{node: i, what: what, start: w.h.Now(), end: -1})
	w.open[i] = len(w.faults) - 1
}

func (w *workload) faultEnd(i int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if f, ok := w.open[i]; ok {
		w.faults[f].end = w.h.Now()
		delete(w.open, i)
	}
}

func (w *workload) faulted(i int, call, ret int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.faults {
		if f.node == i && f.start <= ret && (f.end < 0 || f.end >= call) {
			return true
		}
	}
	return false
}

// errClass names an error for the tally.
func errClass(err error) string {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		word, _, _ := strings.Cut(rerr.Error(), " ")
		return "-" + word
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return "timeout"
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), strings.Contains(err.Error(), "EOF"):
		return "connection lost"
	}
	return "other: " + err.Error()
}

// runClients starts perNode clients on every node; they run until ctx is
// done. The returned wait blocks until all have stopped.
func (w *workload) runClients(ctx context.Context, perNode int) (wait func()) {
	all := make([]int, len(w.nodes))
	for i := range all {
		all[i] = i
	}
	return w.runClientsOn(ctx, perNode, all...)
}

// runClientsOn is runClients on the nodes w.nodes[i] for i in nis only.
func (w *workload) runClientsOn(ctx context.Context, perNode int, nis ...int) (wait func()) {
	var wg sync.WaitGroup
	for _, ni := range nis {
		for range perNode {
			cid := int(w.nextCID.Add(1) - 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.client(ctx, cid, ni)
			}()
		}
	}
	return wg.Wait
}

func (w *workload) client(ctx context.Context, cid, ni int) {
	rc := w.nodes[ni].client(opTimeout)
	if w.staleNodes[ni] {
		// Every connection the client makes reads this node's state
		// without asking the leader: not linearizable, for the control.
		opt := rc.Options()
		_ = rc.Close()
		opt.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
			return cn.Do(ctx, "RAFT", "STALEREADS", "ON").Err()
		}
		rc = redis.NewClient(opt)
	}
	defer rc.Close()
	rng := rand.New(rand.NewPCG(w.seed, uint64(cid)))
	for seq := 0; ctx.Err() == nil; seq++ {
		ph := w.phase.Load()
		var in lincheck.Input
		unique := false
		switch r := rng.IntN(100); {
		case r < 35:
			in = lincheck.Input{Kind: lincheck.Set, Key: regKey(ph, rng.IntN(regsPerPhase)), Value: fmt.Sprintf("c%d-%d", cid, seq)}
		case r < 70:
			in = lincheck.Input{Kind: lincheck.Get, Key: regKey(ph, rng.IntN(regsPerPhase))}
		case r < 88:
			in = lincheck.Input{Kind: lincheck.Incr, Key: counterKey(ph, rng.IntN(countersPerPhase))}
			w.mu.Lock()
			if w.unknownIncrs[in.Key] >= maxUnknownIncrs {
				in.Kind = lincheck.Get
			}
			w.mu.Unlock()
		default:
			in = lincheck.Input{Kind: lincheck.Set, Key: fmt.Sprintf("u:%d:%d", cid, seq), Value: strconv.Itoa(seq)}
			unique = true
		}
		out, err := w.do(cid, ni, rc, in)
		if out.Unknown && in.Kind == lincheck.Incr {
			w.mu.Lock()
			w.unknownIncrs[in.Key]++
			w.mu.Unlock()
		}
		if unique {
			w.mu.Lock()
			if out.Unknown {
				w.unknown[in.Key] = in.Value
			} else {
				w.acked[in.Key] = in.Value
			}
			w.mu.Unlock()
		}
		if err != nil {
			// Back off a little: a killed node refuses at once.
			time.Sleep(time.Duration(20+rng.IntN(30)) * time.Millisecond)
		}
	}
}

// do sends one operation through rc (a client of node ni), records it in
// the history and classifies its outcome.
func (w *workload) do(cid, ni int, rc *redis.Client, in lincheck.Input) (lincheck.Output, error) {
	ctx := context.Background() // the client's timeouts bound every call
	op := w.h.Begin(cid, in)
	call := w.h.Now()
	var out lincheck.Output
	var err error
	switch in.Kind {
	case lincheck.Get:
		var v string
		v, err = rc.Get(ctx, in.Key).Result()
		if err == nil {
			out = lincheck.Output{Found: true, Value: v}
		} else if errors.Is(err, redis.Nil) {
			err = nil
		}
	case lincheck.Set:
		err = rc.Set(ctx, in.Key, in.Value, 0).Err()
	case lincheck.Incr:
		var n int64
		n, err = rc.Incr(ctx, in.Key).Result()
		out = lincheck.Output{Found: true, Value: strconv.FormatInt(n, 10)}
	}
	if err != nil {
		out = lincheck.Output{Unknown: true}
	}
	var oerr *net.OpError
	if err != nil && errors.As(err, &oerr) && oerr.Op == "dial" {
		// The connection was never made (MaxRetries -1: no retry), so
		// the command was never sent and cannot have happened.
		op.Discard()
	} else {
		op.End(out)
	}
	ret := w.h.Now()
	lat := time.Duration(ret - call)
	w.mu.Lock()
	if lat > w.maxLat {
		w.maxLat = lat
	}
	if err != nil {
		w.errs[errClass(err)]++
	}
	w.mu.Unlock()
	if lat > 5*time.Second && !w.faulted(ni, call, ret) {
		w.mu.Lock()
		if err != nil && errClass(err) == "timeout" {
			w.hangs = append(w.hangs, fmt.Sprintf("%s on %s at %.3fs: no reply in %s",
				lincheck.Model.DescribeOperation(in, out), w.nodes[ni].id, float64(call)/1e9, opTimeout))
		} else {
			w.slow++
		}
		w.mu.Unlock()
	}
	return out, err
}

// finalReads reads every key of every phase through every node (recorded
// in the history, so the checker sees them), with a few tries per node
// since a read can fail while a restarted node settles.
func (w *workload) finalReads() {
	all := make([]int, len(w.nodes))
	for i := range all {
		all[i] = i
	}
	w.finalReadsOn(all...)
}

// finalReadsOn is finalReads through the nodes w.nodes[i] for i in nis.
func (w *workload) finalReadsOn(nis ...int) {
	last := w.phase.Load()
	for _, ni := range nis {
		n := w.nodes[ni]
		cid := int(w.nextCID.Add(1) - 1)
		rc := n.client(opTimeout)
		for ph := int64(0); ph <= last; ph++ {
			var keys []lincheck.Input
			for i := range regsPerPhase {
				keys = append(keys, lincheck.Input{Kind: lincheck.Get, Key: regKey(ph, i)})
			}
			for i := range countersPerPhase {
				keys = append(keys, lincheck.Input{Kind: lincheck.Get, Key: counterKey(ph, i)})
			}
			for _, in := range keys {
				for try := 0; try < 5; try++ {
					if out, _ := w.do(cid, ni, rc, in); !out.Unknown {
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
		}
		_ = rc.Close()
	}
}

// check runs porcupine over the history and asserts the clients saw no
// hang. On failure the visualization is kept in RSKV_ARTIFACTS (or the
// system temp dir) and named in the error.
func (w *workload) check() {
	t := w.t
	st := w.h.Stats()
	w.mu.Lock()
	t.Logf("seed %d: %d ops (%d GET, %d SET, %d INCR), %d unknown; errors %v; %d slow (>5s) replies; max latency %s; %d unique keys acked, %d unknown",
		w.seed, st.Ops, st.Gets, st.Sets, st.Incrs, st.Unknown, w.errs, w.slow, w.maxLat.Round(time.Millisecond), len(w.acked), len(w.unknown))
	for _, f := range w.faults {
		t.Logf("fault: %s %s from %.3fs to %.3fs", w.nodes[f.node].id, f.what, float64(f.start)/1e9, float64(f.end)/1e9)
	}
	assert.Empty(t, w.hangs, "operations on a node with no fault got no reply within %s (SERVER.md: an error within 5 s)", opTimeout)
	w.mu.Unlock()
	require.Positive(t, st.Ops-st.Unknown, "no operation succeeded")

	dir := os.Getenv("RSKV_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	viz := filepath.Join(dir, fmt.Sprintf("rskv-lincheck-%s-seed%d.html", strings.ReplaceAll(t.Name(), "/", "_"), w.seed))
	timeout := 60 * time.Second
	if long() {
		timeout = 5 * time.Minute
	}
	err := w.h.Check(timeout, viz)
	require.NoError(t, err, "seed %d (replay with RSKV_SEED=%d)", w.seed, w.seed)
	w.controlStale(timeout)
}

// controlStale shows the check above is not vacuous on this very history:
// the history plus one fabricated read, after everything, of a register
// value that an acknowledged later SET overwrote, must be rejected. The key
// is the register with the fewest unknown and then fewest operations (a
// violation is proved only by exhausting every linearization, and each
// unknown operation multiplies them).
func (w *workload) controlStale(timeout time.Duration) {
	t := w.t
	ops := w.h.Operations()
	type acked struct {
		val       string
		call, ret int64
	}
	type keyOps struct {
		ops     []porcupine.Operation
		sets    []acked
		unknown int
	}
	byKey := map[string]*keyOps{}
	var end int64
	for _, op := range ops {
		in, out := op.Input.(lincheck.Input), op.Output.(lincheck.Output)
		if op.Return != math.MaxInt64 && op.Return > end {
			end = op.Return
		}
		if !strings.HasPrefix(in.Key, "p") || strings.Contains(in.Key, ":c") {
			continue // registers only
		}
		ko := byKey[in.Key]
		if ko == nil {
			ko = &keyOps{}
			byKey[in.Key] = ko
		}
		ko.ops = append(ko.ops, op)
		if out.Unknown {
			ko.unknown++
		} else if in.Kind == lincheck.Set {
			ko.sets = append(ko.sets, acked{in.Value, op.Call, op.Return})
		}
	}
	var best string
	var stale string
	for key, ko := range byKey {
		var v string
		for _, a := range ko.sets {
			for _, b := range ko.sets {
				if b.call > a.ret { // b strictly after a: a's value is overwritten
					v = a.val
				}
			}
		}
		if v == "" {
			continue
		}
		if bk := byKey[best]; best == "" || ko.unknown < bk.unknown || (ko.unknown == bk.unknown && len(ko.ops) < len(bk.ops)) {
			best, stale = key, v
		}
	}
	require.NotEmpty(t, best, "control: no pair of sequential acknowledged SETs on one key in %d operations", len(ops))
	h := lincheck.NewHistory()
	for _, op := range byKey[best].ops {
		h.Add(op.ClientId, op.Input.(lincheck.Input), op.Call, op.Output.(lincheck.Output), op.Return)
	}
	h.Add(1<<20, lincheck.Input{Kind: lincheck.Get, Key: best}, end+1, lincheck.Output{Found: true, Value: stale}, end+2)
	require.ErrorIs(t, h.Check(timeout, ""), lincheck.ErrNotLinearizable,
		"control: a stale read of %s=%s appended to its %d operations (%d unknown) was not caught",
		best, stale, len(byKey[best].ops), byKey[best].unknown)
}

// phaseKeys returns every register and counter key of every phase so far.
func (w *workload) phaseKeys() []string {
	var keys []string
	for ph := int64(0); ph <= w.phase.Load(); ph++ {
		for i := range regsPerPhase {
			keys = append(keys, regKey(ph, i))
		}
		for i := range countersPerPhase {
			keys = append(keys, counterKey(ph, i))
		}
	}
	return keys
}

// ackedKeys returns the acknowledged unique keys, sorted.
func (w *workload) ackedKeys() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	keys := make([]string, 0, len(w.acked))
	for k := range w.acked {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// long says whether RSKV_LONG asks for the long schedules.
func long() bool { return os.Getenv("RSKV_LONG") != "" && os.Getenv("RSKV_LONG") != "0" }

// seed is RSKV_SEED or a fresh one (logged by every test that uses it).
func seed(t *testing.T) uint64 {
	if s := os.Getenv("RSKV_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "RSKV_SEED")
		return v
	}
	return uint64(time.Now().UnixNano())
}
