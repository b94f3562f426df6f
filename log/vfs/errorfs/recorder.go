package errorfs

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Event is one operation seen by a Recorder, and whether it was failed.
type Event struct {
	Call
	// Injected reports whether the operation was failed with an injected
	// error.
	Injected bool
}

// Recorder is an Injector that counts, and optionally traces, every operation
// and delegates the decision to another Injector. Put it outermost (pass it to
// Wrap) to see every operation. Its methods are safe for concurrent use.
type Recorder struct {
	inner    Injector
	counts   [numOps]atomic.Int64
	injected [numOps]atomic.Int64

	mu    sync.Mutex
	trace []Event // ring buffer of the last cap(trace) events
	next  int     // index in trace of the next event, once it is full
}

// Record returns a Recorder delegating to inner (nil fails nothing) that
// keeps the last traceLen operations for Trace; traceLen 0 keeps counts only.
func Record(inner Injector, traceLen int) *Recorder {
	r := &Recorder{inner: inner}
	if traceLen > 0 {
		r.trace = make([]Event, 0, traceLen)
	}
	return r
}

// MaybeFail records the call and returns the inner injector's decision.
func (r *Recorder) MaybeFail(c Call) bool {
	fail := r.inner != nil && r.inner.MaybeFail(c)
	if c.Op < numOps {
		r.counts[c.Op].Add(1)
		if fail {
			r.injected[c.Op].Add(1)
		}
	}
	if cap(r.trace) > 0 {
		r.mu.Lock()
		e := Event{Call: c, Injected: fail}
		if len(r.trace) < cap(r.trace) {
			r.trace = append(r.trace, e)
		} else {
			r.trace[r.next] = e
			r.next = (r.next + 1) % len(r.trace)
		}
		r.mu.Unlock()
	}
	return fail
}

// Count returns how many operations of kind op were seen, failed or not.
func (r *Recorder) Count(op Op) int64 {
	if op >= numOps {
		return 0
	}
	return r.counts[op].Load()
}

// Injected returns how many operations of kind op were failed.
func (r *Recorder) Injected(op Op) int64 {
	if op >= numOps {
		return 0
	}
	return r.injected[op].Load()
}

// Total returns how many operations of all kinds were seen.
func (r *Recorder) Total() int64 {
	var n int64
	for i := range r.counts {
		n += r.counts[i].Load()
	}
	return n
}

// Trace returns the last operations seen, oldest first: at most the traceLen
// given to Record.
func (r *Recorder) Trace() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Event, 0, len(r.trace))
	out = append(out, r.trace[r.next:]...)
	return append(out, r.trace[:r.next]...)
}

// Reset clears the counts and the trace. Call it while no operations are in
// flight.
func (r *Recorder) Reset() {
	for i := range r.counts {
		r.counts[i].Store(0)
		r.injected[i].Store(0)
	}
	r.mu.Lock()
	r.trace = r.trace[:0]
	r.next = 0
	r.mu.Unlock()
}

// String lists the non-zero counts in Op order, such as
// "create=1 write=12 (2 injected) sync=3", or "no operations".
func (r *Recorder) String() string {
	var b strings.Builder
	for op := range numOps {
		n := r.Count(op)
		if n == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(op.String())
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(n, 10))
		if inj := r.Injected(op); inj > 0 {
			b.WriteString(" (")
			b.WriteString(strconv.FormatInt(inj, 10))
			b.WriteString(" injected)")
		}
	}
	if b.Len() == 0 {
		return "no operations"
	}
	return b.String()
}
