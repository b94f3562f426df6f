package test_test

// Shared helpers of the durability tests (crash_test.go, crashchild_test.go,
// corruption_test.go, faults_test.go): the value encoding, the workload, the
// acknowledgement journal and the checker that decides whether a recovered
// store is allowed by the durability contract of API.md.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// longRun reports whether the long variants (more crash rounds, more seeds,
// bigger data) were asked for with RSKV_LONG=1.
func longRun() bool { return os.Getenv("RSKV_LONG") != "" }

// pick returns short, or long under RSKV_LONG.
func pick(short, long int) int {
	if longRun() {
		return long
	}
	return short
}

// Values encode their key, their version and, for RMW, the version they
// were computed from, then a filler that depends on the version, so that a
// checker can tell from the bytes alone which write produced a value and
// whether it is whole:
//
//	key|version|prev|filler...
//
// Versions are unique across the whole test (round<<32 | counter), and 0
// stands for "absent".
var valueSizes = [...]int{24, 24, 32, 40, 48, 64, 96, 160, 300, 700}

func valueSize(ver uint64) int {
	h := ver * 0x9e3779b97f4a7c15
	return valueSizes[(h>>33)%uint64(len(valueSizes))]
}

func encodeValue(key string, ver, prev uint64) []byte {
	b := make([]byte, 0, valueSize(ver)+len(key)+48)
	b = fmt.Appendf(b, "%s|%d|%d|", key, ver, prev)
	for i := 0; len(b) < valueSize(ver); i++ {
		b = append(b, byte('a'+(ver+uint64(i))%26))
	}
	return b
}

// parseValue returns the key, version and prev a value claims, and checks
// that the value is exactly what encodeValue makes of them.
func parseValue(v []byte) (key string, ver, prev uint64, err error) {
	parts := bytes.SplitN(v, []byte("|"), 4)
	if len(parts) != 4 {
		return "", 0, 0, errors.Newf("value %q is not key|ver|prev|filler", clip(v))
	}
	key = string(parts[0])
	if ver, err = strconv.ParseUint(string(parts[1]), 10, 64); err != nil {
		return "", 0, 0, errors.Newf("value %q: bad version", clip(v))
	}
	if prev, err = strconv.ParseUint(string(parts[2]), 10, 64); err != nil {
		return "", 0, 0, errors.Newf("value %q: bad prev", clip(v))
	}
	if want := encodeValue(key, ver, prev); !bytes.Equal(v, want) {
		return "", 0, 0, errors.Newf("value %q is torn or altered (want %q)", clip(v), clip(want))
	}
	return key, ver, prev, nil
}

func clip(b []byte) []byte {
	if len(b) > 60 {
		return b[:60]
	}
	return b
}

// The journal records, in the order they happened, the operations a
// workload attempted and the ones that returned nil, and the Syncs that
// started and completed. Each event is one line:
//
//	R key ver        the key's value when the workload started (from a Scan)
//	O n              end of the R lines: n keys
//	I kind key ver   about to call Put (P), RMW (M) or Delete (D)
//	A key ver        that call returned nil
//	s n              about to call Sync
//	S n              Sync n returned nil
//	C id / G begin   a manual checkpoint or compaction returned (information)
//
// A child process writes it to a file with one write(2) per line, so a
// SIGKILL leaves whole lines behind (and possibly one partial line, which
// parseJournal ignores); in-process tests keep it in memory.
type event struct {
	typ  byte   // R O I A s S C G
	kind byte   // P M D for I
	key  string // R I A
	ver  uint64 // R I A; n for O s S
}

func (e event) String() string {
	switch e.typ {
	case 'I':
		return fmt.Sprintf("I %c %s %d", e.kind, e.key, e.ver)
	case 'R', 'A':
		return fmt.Sprintf("%c %s %d", e.typ, e.key, e.ver)
	default:
		return fmt.Sprintf("%c %d", e.typ, e.ver)
	}
}

type journal struct {
	mu     sync.Mutex
	w      io.Writer // nil: keep events in memory
	events []event
}

func (j *journal) add(e event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.w == nil {
		j.events = append(j.events, e)
		return
	}
	if _, err := io.WriteString(j.w, e.String()+"\n"); err != nil {
		panic(err)
	}
}

// len returns the number of events so far: a cut for snapshot.
func (j *journal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.events)
}

func (j *journal) snapshot() []event {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]event(nil), j.events...)
}

// parseJournal reads a journal file. A last line without its newline (the
// writer was killed during the write) is dropped.
func parseJournal(r io.Reader) ([]event, error) {
	var out []event
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			return out, nil // a partial last line is dropped
		}
		if err != nil {
			return nil, err
		}
		f := strings.Fields(strings.TrimSuffix(line, "\n"))
		if len(f) == 0 || len(f[0]) != 1 {
			return nil, errors.Newf("bad journal line %q", line)
		}
		e := event{typ: f[0][0]}
		num := func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }
		switch {
		case e.typ == 'I' && len(f) == 4:
			e.kind, e.key = f[1][0], f[2]
			e.ver, err = num(f[3])
		case (e.typ == 'R' || e.typ == 'A') && len(f) == 3:
			e.key = f[1]
			e.ver, err = num(f[2])
		case len(f) == 2:
			e.ver, err = num(f[1])
		default:
			return nil, errors.Newf("bad journal line %q", line)
		}
		if err != nil {
			return nil, errors.Wrapf(err, "journal line %q", line)
		}
		out = append(out, e)
	}
}

// histOp is one write to a key during a round.
type histOp struct {
	kind  byte
	ver   uint64
	acked bool // returned nil before the cut
	// guaranteed: acknowledged before a Sync that completed before the cut
	// started.
	guaranteed bool
}

// keyHist is what happened to one key in one round.
type keyHist struct {
	start uint64 // version at the start of the round, 0: absent
	ops   []histOp
}

// stateAfter returns the key's version after its first j ops.
func (h *keyHist) stateAfter(j int) uint64 {
	if j == 0 {
		return h.start
	}
	if op := h.ops[j-1]; op.kind != 'D' {
		return op.ver
	}
	return 0
}

// expectValue returns the bytes op j (1-based) wrote.
func (h *keyHist) expectValue(key string, j int) []byte {
	op := h.ops[j-1]
	prev := uint64(0)
	if op.kind == 'M' {
		prev = h.stateAfter(j - 1)
	}
	return encodeValue(key, op.ver, prev)
}

// model is the history of one round, cut at the moment of a crash.
type model struct {
	syncAlways bool
	keys       map[string]*keyHist
	// startValues holds the exact bytes of the values at the start (for
	// keys not written in the round they must come back byte for byte).
	startValues map[string][]byte
	syncs       int // Syncs completed before the cut
}

// buildModel builds the model of a round from its journal. start maps each
// key to its version and value at the start of the round. Events at index
// cut or later are not acknowledgements (the crash happened before them) but
// their intents still count as attempted writes; cut < 0 means all.
func buildModel(start map[string]uint64, startValues map[string][]byte, evs []event, cut int, syncAlways bool) *model {
	if cut < 0 {
		cut = len(evs)
	}
	m := &model{syncAlways: syncAlways, keys: map[string]*keyHist{}, startValues: startValues}
	for k, v := range start {
		m.keys[k] = &keyHist{start: v}
	}
	hist := func(k string) *keyHist {
		h := m.keys[k]
		if h == nil {
			h = &keyHist{}
			m.keys[k] = h
		}
		return h
	}
	type loc struct {
		key string
		i   int
	}
	byVer := map[uint64]loc{}
	ackAt := map[uint64]int{} // version -> journal index of its ack
	syncStart := map[uint64]int{}
	lastSyncStart := -1
	for i, e := range evs {
		switch e.typ {
		case 'I':
			h := hist(e.key)
			h.ops = append(h.ops, histOp{kind: e.kind, ver: e.ver})
			byVer[e.ver] = loc{e.key, len(h.ops) - 1}
		case 'A':
			if i < cut {
				if l, ok := byVer[e.ver]; ok && l.key == e.key {
					m.keys[l.key].ops[l.i].acked = true
					ackAt[e.ver] = i
				}
			}
		case 's':
			syncStart[e.ver] = i
		case 'S':
			if i < cut {
				if at, ok := syncStart[e.ver]; ok {
					lastSyncStart = max(lastSyncStart, at)
					m.syncs++
				}
			}
		}
	}
	for ver, at := range ackAt {
		if at < lastSyncStart {
			l := byVer[ver]
			m.keys[l.key].ops[l.i].guaranteed = true
		}
	}
	return m
}

// check decides whether key may hold value (nil: absent) after the crash.
// The allowed states are those after op j for j from the last op that must
// be durable (acknowledged under SyncAlways, or acknowledged before the last
// completed Sync in any mode) to the last op attempted.
func (m *model) check(key string, value []byte) error {
	h := m.keys[key]
	if h == nil {
		return errors.Newf("key %q was never written", key)
	}
	lo := 0
	for j, op := range h.ops {
		if op.guaranteed || (m.syncAlways && op.acked) {
			lo = j + 1
		}
	}
	var got uint64
	if value != nil {
		k, ver, _, err := parseValue(value)
		if err != nil {
			return errors.Wrapf(err, "key %q", key)
		}
		if k != key {
			return errors.Newf("key %q holds a value of key %q (version %d)", key, k, ver)
		}
		got = ver
	}
	for j := len(h.ops); j >= lo; j-- {
		if h.stateAfter(j) != got {
			continue
		}
		switch {
		case got == 0:
		case j == 0:
			if sv, ok := m.startValues[key]; ok && !bytes.Equal(sv, value) {
				return errors.Newf("key %q: value %q differs from its value before the round %q", key, clip(value), clip(sv))
			}
		default:
			if want := h.expectValue(key, j); !bytes.Equal(want, value) {
				return errors.Newf("key %q: version %d is %q, want %q (an RMW that saw the wrong old value?)",
					key, got, clip(value), clip(want))
			}
		}
		return nil
	}
	return errors.Newf("key %q holds version %d, not allowed: %s", key, got, h.describe(lo))
}

func (h *keyHist) describe(lo int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "start %d; must be at least state %d; ops:", h.start, lo)
	for j, op := range h.ops {
		fmt.Fprintf(&b, " %d:%c%d", j+1, op.kind, op.ver)
		if op.guaranteed {
			b.WriteString("(synced)")
		} else if op.acked {
			b.WriteString("(acked)")
		}
	}
	return b.String()
}

// verifyStore checks a store recovered after a crash against m: every key
// holds an allowed value, no unknown key exists, Len matches Scan, and Get
// agrees with Scan. It returns the recovered versions and values, the start
// of the next round.
func verifyStore(s *rskv.Store, m *model) (map[string]uint64, map[string][]byte, error) {
	scanned := map[string][]byte{}
	if err := s.Scan(nil, func(k, v []byte) bool {
		scanned[string(k)] = v
		return true
	}); err != nil {
		return nil, nil, errors.Wrap(err, "scan")
	}
	var problems []string
	for k, v := range scanned {
		if _, ok := m.keys[k]; !ok {
			problems = append(problems, fmt.Sprintf("scan found unknown key %q = %q", k, clip(v)))
		}
	}
	vers := map[string]uint64{}
	keys := make([]string, 0, len(m.keys))
	for k := range m.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := scanned[k]
		if !ok {
			v = nil
		}
		if err := m.check(k, v); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		got, err := s.Get([]byte(k))
		switch {
		case errors.Is(err, rskv.ErrNotFound):
			if ok {
				problems = append(problems, fmt.Sprintf("key %q: Scan found %q but Get says not found", k, clip(v)))
			}
		case err != nil:
			problems = append(problems, fmt.Sprintf("key %q: Get: %v", k, err))
		case !ok:
			problems = append(problems, fmt.Sprintf("key %q: Get found %q but Scan did not", k, clip(got)))
		case !bytes.Equal(got, v):
			problems = append(problems, fmt.Sprintf("key %q: Get %q, Scan %q", k, clip(got), clip(v)))
		}
		if ok {
			_, ver, _, _ := parseValue(v)
			vers[k] = ver
		}
	}
	if n := s.Len(); n != len(scanned) {
		problems = append(problems, fmt.Sprintf("Len() = %d but Scan found %d keys", n, len(scanned)))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
		}
		return nil, nil, errors.Newf("recovered store breaks the durability contract:\n  %s", strings.Join(problems, "\n  "))
	}
	return vers, scanned, nil
}

// workload drives a store with writers that each own a set of keys (so the
// order of the writes to a key is the order of its journal lines), and a
// maintainer that calls Sync and, if manual, Checkpoint and Compact.
type workload struct {
	writers, keysPerWriter int
	// maintEvery is the mean pause of the maintainer.
	maintEvery time.Duration
	manual     bool   // the maintainer also checkpoints and compacts
	round      uint64 // high bits of the versions
	seed       uint64
	// opPause, if set, makes each writer pause up to this long between
	// operations (keeps SyncNone runs from writing megabytes of journal).
	opPause time.Duration
}

func (w workload) key(writer, i int) string { return fmt.Sprintf("w%d-k%03d", writer, i) }

// allKeys lists every key the workload can write.
func (w workload) allKeys() []string {
	var out []string
	for i := 0; i < w.writers; i++ {
		for k := 0; k < w.keysPerWriter; k++ {
			out = append(out, w.key(i, k))
		}
	}
	return out
}

// run writes until ctx is done or an operation fails. start holds the keys'
// versions when it begins (what a Scan of the store shows).
func (w workload) run(ctx context.Context, s *rskv.Store, j *journal, start map[string]uint64) error {
	var counter atomic.Uint64
	next := func() uint64 { return w.round<<32 | counter.Add(1) }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, w.writers+1)
	var wg sync.WaitGroup
	for wi := 0; wi < w.writers; wi++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := w.writer(ctx, s, j, wi, start, next)
			if err != nil {
				cancel()
			}
			errc <- err
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := w.maintainer(ctx, s, j)
		if err != nil {
			cancel()
		}
		errc <- err
	}()
	wg.Wait()
	close(errc)
	var first error
	for err := range errc {
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (w workload) writer(ctx context.Context, s *rskv.Store, j *journal, wi int, start map[string]uint64, next func() uint64) error {
	rng := rand.New(rand.NewPCG(w.seed, uint64(wi)))
	state := map[string]uint64{}
	for k := 0; k < w.keysPerWriter; k++ {
		state[w.key(wi, k)] = start[w.key(wi, k)]
	}
	for ctx.Err() == nil {
		key := w.key(wi, rng.IntN(w.keysPerWriter))
		ver := next()
		switch r := rng.IntN(100); {
		case r < 50:
			j.add(event{typ: 'I', kind: 'P', key: key, ver: ver})
			if err := s.Put([]byte(key), encodeValue(key, ver, 0)); err != nil {
				return errors.Wrapf(err, "Put %s v%d", key, ver)
			}
			state[key] = ver
		case r < 82:
			j.add(event{typ: 'I', kind: 'M', key: key, ver: ver})
			var bad error
			out, err := s.RMW([]byte(key), func(old []byte, found bool) []byte {
				prev := uint64(0)
				if found {
					k, v, _, err := parseValue(old)
					if err != nil || k != key {
						bad = errors.Newf("RMW %s saw a bad old value %q (%v)", key, clip(old), err)
					}
					prev = v
				}
				return encodeValue(key, ver, prev)
			})
			if err != nil {
				return errors.Wrapf(err, "RMW %s v%d", key, ver)
			}
			if bad != nil {
				return bad
			}
			if want := encodeValue(key, ver, state[key]); !bytes.Equal(out, want) {
				return errors.Newf("RMW %s v%d returned %q, want %q", key, ver, clip(out), clip(want))
			}
			state[key] = ver
		case r < 92:
			j.add(event{typ: 'I', kind: 'D', key: key, ver: ver})
			if err := s.Delete([]byte(key)); err != nil {
				return errors.Wrapf(err, "Delete %s v%d", key, ver)
			}
			state[key] = 0
		default:
			// Read your own write.
			v, err := s.Get([]byte(key))
			switch {
			case state[key] == 0 && errors.Is(err, rskv.ErrNotFound):
			case err != nil:
				return errors.Wrapf(err, "Get %s (want version %d)", key, state[key])
			default:
				if _, got, _, perr := parseValue(v); perr != nil || got != state[key] {
					return errors.Newf("Get %s = %q, want version %d", key, clip(v), state[key])
				}
			}
			continue
		}
		j.add(event{typ: 'A', key: key, ver: ver})
		if w.opPause > 0 {
			sleepCtx(ctx, time.Duration(rng.Int64N(int64(w.opPause))))
		}
	}
	return nil
}

func (w workload) maintainer(ctx context.Context, s *rskv.Store, j *journal) error {
	rng := rand.New(rand.NewPCG(w.seed, 1<<40))
	for n := uint64(1); ; n++ {
		sleepCtx(ctx, time.Duration(rng.Int64N(2*int64(w.maintEvery)+1)))
		if ctx.Err() != nil {
			return nil
		}
		j.add(event{typ: 's', ver: n})
		if err := s.Sync(); err != nil {
			return errors.Wrapf(err, "Sync %d", n)
		}
		j.add(event{typ: 'S', ver: n})
		if !w.manual {
			continue
		}
		switch rng.IntN(10) {
		case 0, 1, 2:
			ci, err := s.Checkpoint()
			if err != nil {
				return errors.Wrap(err, "Checkpoint")
			}
			j.add(event{typ: 'C', ver: ci.ID})
		case 3, 4:
			cs, err := s.Compact()
			if err != nil {
				return errors.Wrap(err, "Compact")
			}
			j.add(event{typ: 'G', ver: cs.BeginAfter})
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// smallOptions returns options that make a store exercise everything in a
// short run: 4 KiB pages, 16 pages of memory, 4-page segments (so segments
// fill, checkpoints replay little and compaction frees files), and fast
// background services.
func smallOptions(mode rskv.SyncMode, background bool, fs vfs.FS) *rskv.Options {
	o := &rskv.Options{
		MemorySize:         64 << 10,
		PageSize:           4 << 10,
		SegmentSize:        16 << 10,
		IndexBuckets:       1 << 10,
		MutableFraction:    0.5,
		SyncInterval:       5 * time.Millisecond,
		CheckpointInterval: 25 * time.Millisecond,
		GCInterval:         10 * time.Millisecond,
		GCMinBytes:         16 << 10,
		GCDeadFraction:     0.2,
		CheckpointsToKeep:  2,
		DisableBackground:  !background,
		FS:                 fs,
	}
	o.SetSyncMode(mode)
	return o
}

func modeName(m rskv.SyncMode) string {
	switch m {
	case rskv.SyncAlways:
		return "always"
	case rskv.SyncPeriodic:
		return "periodic"
	case rskv.SyncNone:
		return "none"
	}
	return fmt.Sprintf("mode%d", int(m))
}

func parseMode(s string) rskv.SyncMode {
	switch s {
	case "always":
		return rskv.SyncAlways
	case "periodic":
		return rskv.SyncPeriodic
	}
	return rskv.SyncNone
}

// scanState reads every key's version and value from a store.
func scanState(s *rskv.Store) (map[string]uint64, map[string][]byte, error) {
	vers, vals := map[string]uint64{}, map[string][]byte{}
	var bad error
	err := s.Scan(nil, func(k, v []byte) bool {
		_, ver, _, err := parseValue(v)
		if err != nil {
			bad = errors.Wrapf(err, "key %q", k)
			return false
		}
		vers[string(k)], vals[string(k)] = ver, v
		return true
	})
	if err == nil {
		err = bad
	}
	return vers, vals, err
}
