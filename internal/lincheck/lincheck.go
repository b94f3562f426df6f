// Package lincheck records client histories of a key-value server and checks
// them for linearizability with porcupine (github.com/anishathalye/porcupine).
//
// The model is a register per key, checked key by key (porcupine's
// partitioning: operations on different keys never constrain each other, so
// each key's sub-history is checked alone). Three operations are modeled:
//
//   - Get: returns the key's value, or "absent".
//   - Set: replaces the value.
//   - Incr: a counter register; INCR of an absent key makes it "1"; INCR
//     returns the new value.
//
// An operation that ended with an error or a timeout is "unknown": it may or
// may not have taken effect. Following porcupine's own convention (its etcd
// example), its return time is infinity and any output is accepted, so the
// checker may linearize it anywhere after its call — including after every
// other operation, which is the same as "never happened". An unknown Get has
// no effect and constrains nothing, so it is dropped.
package lincheck

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/cockroachdb/errors"
)

// Kind is the kind of an operation.
type Kind uint8

// The modeled operations.
const (
	Get Kind = iota
	Set
	Incr
)

func (k Kind) String() string {
	switch k {
	case Get:
		return "GET"
	case Set:
		return "SET"
	case Incr:
		return "INCR"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Input is an operation as sent.
type Input struct {
	Kind  Kind
	Key   string
	Value string // Set: the value written
}

// Output is an operation's outcome.
type Output struct {
	// Unknown: the operation ended with an error or timeout; it may or may
	// not have happened. Value and Found are then meaningless.
	Unknown bool
	// Found: Get found the key (Value is its value). Incr: always true.
	Found bool
	// Value: Get's value when Found; Incr's new value in decimal.
	Value string
}

// state is one key's register: comparable, so porcupine's default equality
// (==) and its state cache work on it.
type state struct {
	present bool
	value   string
}

func step(st state, in Input, out Output) (bool, state) {
	switch in.Kind {
	case Get:
		if out.Unknown {
			return true, st
		}
		if out.Found != st.present {
			return false, st
		}
		return !st.present || out.Value == st.value, st
	case Set:
		return true, state{present: true, value: in.Value}
	case Incr:
		var n int64
		if st.present {
			v, err := strconv.ParseInt(st.value, 10, 64)
			if err != nil || v == math.MaxInt64 {
				// The server must refuse INCR of a non-integer or an
				// overflow: only an unknown (error) outcome fits, and
				// then the value is unchanged.
				return out.Unknown, st
			}
			n = v
		}
		next := state{present: true, value: strconv.FormatInt(n+1, 10)}
		if out.Unknown {
			return true, next
		}
		return out.Value == next.value, next
	}
	return false, st
}

// Model is the per-key register model, partitioned by key.
var Model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return state{} },
	Step: func(st, in, out interface{}) (bool, interface{}) {
		return step(st.(state), in.(Input), out.(Output))
	},
	DescribeOperation: func(in, out interface{}) string {
		i, o := in.(Input), out.(Output)
		res := "?"
		switch {
		case o.Unknown:
		case i.Kind == Set:
			res = "OK"
		case !o.Found:
			res = "nil"
		default:
			res = strconv.Quote(o.Value)
		}
		if i.Kind == Set {
			return fmt.Sprintf("SET %s %q -> %s", i.Key, i.Value, res)
		}
		return fmt.Sprintf("%s %s -> %s", i.Kind, i.Key, res)
	},
	DescribeState: func(st interface{}) string {
		s := st.(state)
		if !s.present {
			return "absent"
		}
		return strconv.Quote(s.value)
	},
}

// History records operations from any number of goroutines. Times are taken
// from one monotonic clock, so calls and returns of different clients are
// ordered correctly.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewHistory returns an empty history whose clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the history's clock: nanoseconds since NewHistory, the time base of
// every recorded call and return (for fault logs kept next to the history).
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Op is an operation in flight, returned by Begin.
type Op struct {
	h      *History
	client int
	in     Input
	call   int64
	done   bool
}

// Begin records the invocation of in by client (a small, zero-based id) and
// returns the operation to finish with End. Call it just before sending.
func (h *History) Begin(client int, in Input) *Op {
	return &Op{h: h, client: client, in: in, call: int64(time.Since(h.start))}
}

// End records the operation's outcome; call it just after the reply arrives
// (or the error). An out with Unknown set gets an infinite return time. End
// twice is a no-op.
func (o *Op) End(out Output) {
	ret := int64(time.Since(o.h.start))
	if o.done {
		return
	}
	o.done = true
	if out.Unknown {
		if o.in.Kind == Get {
			return // an unknown read has no effect and constrains nothing
		}
		ret = math.MaxInt64
	}
	o.h.mu.Lock()
	o.h.ops = append(o.h.ops, porcupine.Operation{
		ClientId: o.client, Input: o.in, Call: o.call, Output: out, Return: ret,
	})
	o.h.mu.Unlock()
}

// Discard forgets the operation: it was never sent (say, the connection
// could not be made), so it cannot have taken effect.
func (o *Op) Discard() { o.done = true }

// Add records a completed operation with explicit times (nanoseconds on any
// common clock); for hand-made histories in tests.
func (h *History) Add(client int, in Input, call int64, out Output, ret int64) {
	if out.Unknown {
		if in.Kind == Get {
			return
		}
		ret = math.MaxInt64
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

// Operations returns a copy of the recorded operations.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// Stats counts the recorded operations.
type Stats struct {
	Ops, Unknown, Gets, Sets, Incrs int
}

// Stats returns the counts of the recorded operations.
func (h *History) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s Stats
	for _, op := range h.ops {
		s.Ops++
		if op.Output.(Output).Unknown {
			s.Unknown++
		}
		switch op.Input.(Input).Kind {
		case Get:
			s.Gets++
		case Set:
			s.Sets++
		case Incr:
			s.Incrs++
		}
	}
	return s
}

// ErrNotLinearizable is returned by Check when the history has no
// linearization.
var ErrNotLinearizable = errors.New("history is not linearizable")

// ErrCheckTimeout is returned by Check when porcupine ran out of time
// before deciding.
var ErrCheckTimeout = errors.New("linearizability check timed out")

// Check checks the history. When it is not linearizable and vizPath is not
// empty, porcupine's HTML visualization of the longest partial
// linearizations is written there.
//
// Before checking, unknown SETs whose value no read returned are dropped, on
// keys with no INCR: such a SET can always be linearized last (its return is
// infinite), where it affects nothing, so the history is linearizable with it
// exactly when it is without it. Each unknown operation otherwise doubles the
// states porcupine may have to visit.
func (h *History) Check(timeout time.Duration, vizPath string) error {
	ops := prune(h.Operations())
	res, info := porcupine.CheckOperationsVerbose(Model, ops, timeout)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return errors.Wrapf(ErrCheckTimeout, "%d operations, after %s", len(ops), timeout)
	}
	if vizPath == "" {
		return errors.Wrapf(ErrNotLinearizable, "%d operations", len(ops))
	}
	if verr := porcupine.VisualizePath(Model, info, vizPath); verr != nil {
		return errors.CombineErrors(errors.Wrapf(ErrNotLinearizable, "%d operations", len(ops)),
			errors.Wrap(verr, "write the visualization"))
	}
	return errors.Wrapf(ErrNotLinearizable, "%d operations (visualization: %s)", len(ops), vizPath)
}

// prune drops the unknown SETs that cannot matter (see Check).
func prune(ops []porcupine.Operation) []porcupine.Operation {
	type kv struct{ k, v string }
	read := map[kv]bool{}
	incr := map[string]bool{}
	for _, op := range ops {
		in, out := op.Input.(Input), op.Output.(Output)
		switch in.Kind {
		case Get:
			if out.Found {
				read[kv{in.Key, out.Value}] = true
			}
		case Incr:
			incr[in.Key] = true
		}
	}
	kept := ops[:0]
	for _, op := range ops {
		in, out := op.Input.(Input), op.Output.(Output)
		if in.Kind == Set && out.Unknown && !incr[in.Key] && !read[kv{in.Key, in.Value}] {
			continue
		}
		kept = append(kept, op)
	}
	return kept
}
