package ycsb

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/cockroachdb/errors"
)

// Op is a kind of operation.
type Op int

const (
	// OpRead is a DB.Read.
	OpRead Op = iota
	// OpUpdate is a DB.Update of an existing item.
	OpUpdate
	// OpReadModifyWrite is a DB.ReadModifyWrite.
	OpReadModifyWrite
	// OpInsert is a write of the load phase.
	OpInsert
	numOps
)

// String returns the operation's name as used in results.
func (o Op) String() string {
	switch o {
	case OpRead:
		return "read"
	case OpUpdate:
		return "update"
	case OpReadModifyWrite:
		return "rmw"
	case OpInsert:
		return "insert"
	}
	return "op?"
}

// Defaults for the zero fields of RunConfig and LoadConfig.
const (
	DefaultValueSize        = 100
	DefaultSampleEvery      = 16
	DefaultBatchSize        = 1000
	DefaultProgressInterval = 100 * time.Millisecond
	// maxLatency is the highest latency the histograms track exactly; longer
	// operations are recorded as maxLatency.
	maxLatency = int64(time.Minute)
)

// Progress is what a progress callback learns while a phase runs.
type Progress struct {
	// Done is the number of operations completed so far (an undercount by
	// at most 64 per goroutine while the phase runs; exact in the last call).
	Done int64
	// Total is the number of operations the phase will do, or 0 when it runs
	// for a Duration.
	Total int64
	// Elapsed is the time since the phase started.
	Elapsed time.Duration
	// Duration is how long the phase runs, or 0 when it runs for Total ops.
	Duration time.Duration
	// Final is set on the last call, made after every goroutine finished.
	Final bool
}

// Fraction returns how much of the phase is done, in [0, 1].
func (p Progress) Fraction() float64 {
	var f float64
	switch {
	case p.Final:
		return 1
	case p.Total > 0:
		f = float64(p.Done) / float64(p.Total)
	case p.Duration > 0:
		f = float64(p.Elapsed) / float64(p.Duration)
	}
	return min(max(f, 0), 1)
}

// RunConfig describes one run of a workload over loaded data.
type RunConfig struct {
	// Workload is the operation mix.
	Workload Workload
	// Chooser picks the items; it must choose in [0, Records). Nil means
	// the chooser for Distribution.
	Chooser Chooser
	// Distribution picks the chooser when Chooser is nil.
	Distribution Distribution
	// Theta is the zipfian constant; 0 means DefaultTheta.
	Theta float64
	// Ring, if set, replaces Chooser and Distribution: the goroutines
	// replay its pre-drawn items (see KeyRing). It must have been drawn over
	// Records items. Name its distribution in RingName for the Result.
	Ring *KeyRing
	// RingStart is where in Ring the first goroutine starts (the others
	// start at even spacings after it), so that repeated runs need not
	// replay the same keys.
	RingStart int
	// RingName is Result.Distribution when Ring is set.
	RingName string
	// Records is the number of items that were loaded.
	Records uint64
	// ValueSize is the size of written values in bytes; 0 means 100.
	ValueSize int
	// Threads is the number of goroutines; 0 means 1.
	Threads int
	// Ops is the total number of operations, shared evenly by the threads.
	// When it is 0 the run lasts Duration; when both are set, whichever
	// ends first ends the run.
	Ops int64
	// Duration bounds the run's wall time.
	Duration time.Duration
	// Seed makes the run repeatable: thread i draws from PCG(Seed, i).
	Seed uint64
	// SampleEvery times one operation in this many; 0 means 16, 1 times
	// all. Reading the clock costs about 60ns on a VM's kvm-clock.
	SampleEvery int
	// Progress, if set, is called about every ProgressInterval (default
	// 100ms) from one goroutine, and once more with Final set at the end.
	Progress func(Progress)
	// ProgressInterval is the time between Progress calls.
	ProgressInterval time.Duration
}

// LoadConfig describes the load phase.
type LoadConfig struct {
	// Records is the number of items to write, 0 to Records-1.
	Records uint64
	// ValueSize is the size of values in bytes; 0 means 100.
	ValueSize int
	// Threads is the number of goroutines; 0 means 1. Each writes a
	// contiguous range of item numbers (scattered keys, see AppendKey).
	Threads int
	// BatchSize is the number of records per WriteBatch call when the DB
	// implements BatchWriter; 0 means 1000.
	BatchSize int
	// Seed makes the values repeatable.
	Seed uint64
	// SampleEvery times one write in this many; 0 means 16. Batched writes
	// are timed per batch and recorded as the batch's time per record.
	SampleEvery int
	// Progress and ProgressInterval are as in RunConfig.
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// Latency summarizes sampled operation latencies.
type Latency struct {
	// Samples is the number of timed operations.
	Samples int64 `json:"samples"`
	// Mean, P50, P99, P999 and Max are in nanoseconds in JSON.
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

// Result is the outcome of one phase.
type Result struct {
	// Phase is "load" or the workload's name.
	Phase string `json:"phase"`
	// Distribution is the key distribution ("sequential" for load).
	Distribution string `json:"distribution"`
	// Threads is the number of goroutines.
	Threads int `json:"threads"`
	// Ops is the number of operations completed, failed ones included.
	Ops int64 `json:"ops"`
	// Errors counts failed operations other than reads of absent keys.
	Errors int64 `json:"errors"`
	// NotFound counts reads (and read-modify-writes) of absent keys.
	NotFound int64 `json:"not_found"`
	// Err is the first error, nil if none.
	Err error `json:"-"`
	// ErrText is Err's message, for JSON.
	ErrText string `json:"error,omitempty"`
	// Elapsed is the phase's wall time.
	Elapsed time.Duration `json:"elapsed_ns"`
	// OpsPerSec is Ops / Elapsed.
	OpsPerSec float64 `json:"ops_per_sec"`
	// Latency covers all sampled operations.
	Latency Latency `json:"latency"`
	// ByOp has the latency of each kind of operation that ran, by Op name.
	ByOp map[string]Latency `json:"by_op,omitempty"`
	// Counts has the number of operations of each kind that ran, by Op name.
	Counts map[string]int64 `json:"counts,omitempty"`
	// Histogram holds all sampled latencies in nanoseconds.
	Histogram *hdrhistogram.Histogram `json:"-"`
}

// worker is one goroutine's state; fields are written by the goroutine and
// read by the controller only after the goroutine ends, except done, which
// the progress reporter reads while it runs.
type worker struct {
	done     atomic.Int64
	_        [56]byte // keep done on its own cache line
	hists    [numOps]*hdrhistogram.Histogram
	counts   [numOps]int64
	ops      int64
	errs     int64
	notFound int64
	firstErr error
}

func newWorker() *worker {
	w := &worker{}
	for i := range w.hists {
		w.hists[i] = getHistogram()
	}
	return w
}

func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, maxLatency, 3) }

// histPool keeps the workers' histograms (a few hundred KiB each) for the
// next run: a matrix makes a dozen per run, and in the harness's cgroup
// mode their garbage would sit in the engine's memory limit until the
// collector's goal, twice the engine's live heap, is reached.
var histPool = sync.Pool{New: func() any { return newHistogram() }}

func getHistogram() *hdrhistogram.Histogram { return histPool.Get().(*hdrhistogram.Histogram) }

func putHistogram(h *hdrhistogram.Histogram) {
	h.Reset()
	histPool.Put(h)
}

func (w *worker) record(op Op, d time.Duration) {
	v := int64(d)
	if v < 1 {
		v = 1
	}
	if v > maxLatency {
		v = maxLatency
	}
	_ = w.hists[op].RecordValue(v) // in range by construction
}

func (w *worker) fail(err error) {
	if errors.Is(err, ErrNotFound) {
		w.notFound++
		return
	}
	w.errs++
	if w.firstErr == nil {
		w.firstErr = err
	}
}

// phase runs body on n goroutines and reports progress until all return.
type phase struct {
	threads  int
	total    int64
	duration time.Duration
	progress func(Progress)
	interval time.Duration
	stop     atomic.Bool
}

func (p *phase) run(ctx context.Context, body func(id int, w *worker)) (time.Duration, []*worker) {
	workers := make([]*worker, p.threads)
	for i := range workers {
		workers[i] = newWorker()
	}
	stopCtx := context.AfterFunc(ctx, func() { p.stop.Store(true) })
	defer stopCtx()
	start := time.Now()
	if p.duration > 0 {
		t := time.AfterFunc(p.duration, func() { p.stop.Store(true) })
		defer t.Stop()
	}
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() { body(i, w) })
	}
	finished := make(chan struct{})
	var reporter sync.WaitGroup
	if p.progress != nil {
		interval := p.interval
		if interval <= 0 {
			interval = DefaultProgressInterval
		}
		reporter.Go(func() {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-finished:
					return
				case <-tick.C:
					p.progress(Progress{Done: sumDone(workers), Total: p.total, Elapsed: time.Since(start), Duration: p.duration})
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(finished)
	reporter.Wait()
	if p.progress != nil {
		p.progress(Progress{Done: sumDone(workers), Total: p.total, Elapsed: elapsed, Duration: p.duration, Final: true})
	}
	return elapsed, workers
}

func sumDone(ws []*worker) int64 {
	var n int64
	for _, w := range ws {
		n += w.done.Load()
	}
	return n
}

// share returns thread i's part of total split over n threads.
func share(total int64, i, n int) int64 {
	q, r := total/int64(n), total%int64(n)
	if int64(i) < r {
		return q + 1
	}
	return q
}

// Run performs cfg.Workload against db, which must hold the items loaded by
// Load with the same Records. Failed operations are counted in the Result and
// do not stop the run; Run returns an error only for a bad configuration or
// when ctx ends first (with the partial Result).
func Run(ctx context.Context, db DB, cfg RunConfig) (Result, error) {
	if err := cfg.Workload.validate(); err != nil {
		return Result{}, err
	}
	if cfg.Records == 0 {
		return Result{}, errors.New("ycsb: RunConfig.Records must be positive")
	}
	if cfg.Ops < 0 || cfg.Duration < 0 || (cfg.Ops == 0 && cfg.Duration == 0) {
		return Result{}, errors.New("ycsb: RunConfig needs a positive Ops or Duration")
	}
	threads, valueSize, sample, err := common(cfg.Threads, cfg.ValueSize, cfg.SampleEvery)
	if err != nil {
		return Result{}, err
	}
	if cfg.Ring != nil && cfg.Ring.Items() != cfg.Records {
		return Result{}, errors.Newf("ycsb: key ring drawn over %d items, run has %d records", cfg.Ring.Items(), cfg.Records)
	}
	chooser := cfg.Chooser
	if chooser == nil && cfg.Ring == nil {
		if chooser, err = NewChooser(cfg.Distribution, cfg.Records, cfg.Theta); err != nil {
			return Result{}, err
		}
	}
	// Thresholds on a uniform uint64 draw pick the operation without floats.
	readBelow := fraction(cfg.Workload.Read)
	updateBelow := fraction(cfg.Workload.Read + cfg.Workload.Update)

	p := &phase{threads: threads, total: cfg.Ops, duration: cfg.Duration, progress: cfg.Progress, interval: cfg.ProgressInterval}
	elapsed, workers := p.run(ctx, func(id int, w *worker) {
		r := rand.New(rand.NewPCG(cfg.Seed, uint64(id)))
		var ring []uint32
		var cursor int
		if cfg.Ring != nil {
			ring = cfg.Ring.items
			cursor = (max(cfg.RingStart, 0) + len(ring)/threads*id) % len(ring)
		}
		quota := int64(-1)
		if cfg.Ops > 0 {
			quota = share(cfg.Ops, id, threads)
		}
		key := make([]byte, 0, KeySize)
		value := randomValue(r, valueSize)
		buf := make([]byte, 0, valueSize+16)
		countdown := 1 // time the first op, then one in sample
		var local int64
		for quota != 0 && !p.stop.Load() {
			var item uint64
			if ring != nil {
				item = uint64(ring[cursor])
				if cursor++; cursor == len(ring) {
					cursor = 0
				}
			} else {
				item = chooser.Next(r)
			}
			key = AppendKey(key[:0], item)
			var op Op
			switch x := r.Uint64(); {
			case x < readBelow:
				op = OpRead
			case x < updateBelow:
				op = OpUpdate
			default:
				op = OpReadModifyWrite
			}
			countdown--
			timed := countdown == 0
			var t0 time.Time
			if timed {
				countdown = sample
				t0 = time.Now()
			}
			var err error
			switch op {
			case OpRead:
				buf, err = db.Read(key, buf[:0])
			case OpUpdate:
				stamp(value, uint64(local))
				err = db.Update(key, value)
			case OpReadModifyWrite:
				buf, err = db.ReadModifyWrite(key, buf[:0])
			}
			if timed {
				w.record(op, time.Since(t0))
			}
			if err != nil {
				w.fail(err)
			}
			w.counts[op]++
			local++
			quota--
			if local&63 == 0 {
				w.done.Store(local)
			}
		}
		w.ops = local
		w.done.Store(local)
	})
	res := summarize(cfg.Workload.Name, cfg.Distribution.String(), threads, elapsed, workers)
	switch {
	case cfg.Ring != nil:
		res.Distribution = cfg.RingName
	case cfg.Chooser != nil:
		res.Distribution = "custom"
	}
	return res, ctx.Err()
}

// Load writes items 0 to cfg.Records-1 to db, each with a random value of
// cfg.ValueSize bytes. Like Run, it counts failures in the Result and returns
// an error only for a bad configuration or an ended ctx.
func Load(ctx context.Context, db DB, cfg LoadConfig) (Result, error) {
	if cfg.Records == 0 {
		return Result{}, errors.New("ycsb: LoadConfig.Records must be positive")
	}
	threads, valueSize, sample, err := common(cfg.Threads, cfg.ValueSize, cfg.SampleEvery)
	if err != nil {
		return Result{}, err
	}
	batch := cfg.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	bw, batched := db.(BatchWriter)
	total := int64(cfg.Records)
	p := &phase{threads: threads, total: total, progress: cfg.Progress, interval: cfg.ProgressInterval}
	elapsed, workers := p.run(ctx, func(id int, w *worker) {
		r := rand.New(rand.NewPCG(cfg.Seed, uint64(id)|1<<32))
		var first uint64
		for i := range id {
			first += uint64(share(total, i, threads))
		}
		end := first + uint64(share(total, id, threads))
		if batched {
			loadBatched(p, w, bw, r, first, end, valueSize, batch)
			return
		}
		key := make([]byte, 0, KeySize)
		value := randomValue(r, valueSize)
		countdown := 1
		var local int64
		for item := first; item < end && !p.stop.Load(); item++ {
			key = AppendKey(key[:0], item)
			stamp(value, item)
			countdown--
			timed := countdown == 0
			var t0 time.Time
			if timed {
				countdown = sample
				t0 = time.Now()
			}
			err := db.Update(key, value)
			if timed {
				w.record(OpInsert, time.Since(t0))
			}
			if err != nil {
				w.fail(err)
			}
			local++
			if local&63 == 0 {
				w.done.Store(local)
			}
		}
		w.ops = local
		w.counts[OpInsert] = local
		w.done.Store(local)
	})
	return summarize("load", "sequential", threads, elapsed, workers), ctx.Err()
}

func loadBatched(p *phase, w *worker, bw BatchWriter, r *rand.Rand, first, end uint64, valueSize, batch int) {
	keyArena := make([]byte, batch*KeySize)
	valArena := make([]byte, batch*valueSize)
	for i := range valArena {
		valArena[i] = byte(r.Uint32())
	}
	keys := make([][]byte, batch)
	values := make([][]byte, batch)
	for i := range batch {
		keys[i] = keyArena[i*KeySize : (i+1)*KeySize : (i+1)*KeySize]
		values[i] = valArena[i*valueSize : (i+1)*valueSize : (i+1)*valueSize]
	}
	var local int64
	for item := first; item < end && !p.stop.Load(); {
		n := int(min(uint64(batch), end-item))
		for i := range n {
			AppendKey(keys[i][:0], item+uint64(i))
			stamp(values[i], item+uint64(i))
		}
		t0 := time.Now()
		err := bw.WriteBatch(keys[:n], values[:n])
		d := time.Since(t0)
		per := int64(d) / int64(n)
		_ = w.hists[OpInsert].RecordValues(min(max(per, 1), maxLatency), int64(n))
		if err != nil {
			w.errs += int64(n)
			if w.firstErr == nil {
				w.firstErr = err
			}
		}
		item += uint64(n)
		local += int64(n)
		w.done.Store(local)
	}
	w.ops = local
	w.counts[OpInsert] = local
}

func common(threads, valueSize, sample int) (int, int, int, error) {
	if threads < 0 || valueSize < 0 || sample < 0 {
		return 0, 0, 0, errors.New("ycsb: Threads, ValueSize and SampleEvery must not be negative")
	}
	if threads == 0 {
		threads = 1
	}
	if valueSize == 0 {
		valueSize = DefaultValueSize
	}
	if sample == 0 {
		sample = DefaultSampleEvery
	}
	return threads, valueSize, sample, nil
}

// fraction maps a proportion in [0, 1] to a threshold on a uniform uint64.
func fraction(p float64) uint64 {
	if p >= 1 {
		return ^uint64(0)
	}
	if p <= 0 {
		return 0
	}
	return uint64(p * (1 << 63) * 2)
}

func randomValue(r *rand.Rand, n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	return v
}

// stamp writes x into the first bytes of v so that successive writes differ.
func stamp(v []byte, x uint64) {
	if len(v) >= 8 {
		binary.LittleEndian.PutUint64(v, x)
		return
	}
	for i := range v {
		v[i] = byte(x >> (8 * i))
	}
}

func summarize(name, dist string, threads int, elapsed time.Duration, workers []*worker) Result {
	res := Result{Phase: name, Distribution: dist, Threads: threads, Elapsed: elapsed, ByOp: map[string]Latency{}, Counts: map[string]int64{}}
	all := newHistogram()
	for op := range numOps {
		h := getHistogram()
		var count int64
		for _, w := range workers {
			h.Merge(w.hists[op])
			count += w.counts[op]
		}
		if count > 0 {
			res.Counts[op.String()] = count
		}
		if h.TotalCount() > 0 {
			res.ByOp[op.String()] = latencyOf(h)
			all.Merge(h)
		}
		putHistogram(h)
	}
	// The workers are done: their histograms go back to the pool.
	for _, w := range workers {
		for i, wh := range w.hists {
			putHistogram(wh)
			w.hists[i] = nil
		}
	}
	for _, w := range workers {
		res.Ops += w.ops
		res.Errors += w.errs
		res.NotFound += w.notFound
		if res.Err == nil && w.firstErr != nil {
			res.Err = w.firstErr
			res.ErrText = w.firstErr.Error()
		}
	}
	if elapsed > 0 {
		res.OpsPerSec = float64(res.Ops) / elapsed.Seconds()
	}
	res.Latency = latencyOf(all)
	res.Histogram = all
	return res
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Samples: h.TotalCount(),
		Mean:    time.Duration(h.Mean()),
		P50:     time.Duration(h.ValueAtQuantile(50)),
		P99:     time.Duration(h.ValueAtQuantile(99)),
		P999:    time.Duration(h.ValueAtQuantile(99.9)),
		Max:     time.Duration(h.Max()),
	}
}
