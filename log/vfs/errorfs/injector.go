package errorfs

import (
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
)

// Injector decides, call by call, which operations of a wrapped file system
// fail. Implementations must be safe for concurrent use: a file system is
// used from many goroutines at once.
type Injector interface {
	// MaybeFail reports whether the operation described by c should fail
	// with an injected error instead of running. It is called exactly once
	// for every operation, before the operation runs.
	MaybeFail(c Call) bool
}

// InjectorFunc adapts a function to Injector. The function must be safe for
// concurrent use.
type InjectorFunc func(c Call) bool

// MaybeFail returns f(c).
func (f InjectorFunc) MaybeFail(c Call) bool { return f(c) }

// Ops returns an Injector that fails every operation of the given kinds.
// Combine it with All to restrict another injector to those kinds.
func Ops(ops ...Op) Injector {
	var set [numOps]bool
	for _, o := range ops {
		if o < numOps {
			set[o] = true
		}
	}
	return InjectorFunc(func(c Call) bool { return c.Op < numOps && set[c.Op] })
}

// PathContains returns an Injector that fails every operation whose Path or
// NewPath contains substr.
func PathContains(substr string) Injector {
	return InjectorFunc(func(c Call) bool {
		return strings.Contains(c.Path, substr) || (c.NewPath != "" && strings.Contains(c.NewPath, substr))
	})
}

// All returns an Injector that fails an operation when every one of injs
// does. It consults them in order and stops at the first that declines, so a
// stateful injector (an Index, a probability) placed after filters such as Ops
// and PathContains sees, and counts, only the operations that pass them. All
// with no injectors fails every operation.
func All(injs ...Injector) Injector {
	return InjectorFunc(func(c Call) bool {
		for _, inj := range injs {
			if !inj.MaybeFail(c) {
				return false
			}
		}
		return true
	})
}

// Any returns an Injector that fails an operation when at least one of injs
// does. It consults them in order and stops at the first that fails the
// operation, so later injectors do not see it. Any with no injectors fails
// nothing.
func Any(injs ...Injector) Injector {
	return InjectorFunc(func(c Call) bool {
		for _, inj := range injs {
			if inj.MaybeFail(c) {
				return true
			}
		}
		return false
	})
}

// Not returns an Injector that fails exactly the operations inj does not.
func Not(inj Injector) Injector {
	return InjectorFunc(func(c Call) bool { return !inj.MaybeFail(c) })
}

// Index is an Injector that counts the operations it sees and fails the one
// at a chosen index (counting from 0), and with FromIndex every later one as
// well. Its methods are safe for concurrent use.
//
// The typical use runs a workload again and again, failing operation 0, then
// 1, 2, and so on, until a run completes without reaching the index; see
// Fired. To count only some operations, put the Index after filters in All.
type Index struct {
	target atomic.Int64
	sticky bool
	count  atomic.Int64
	fired  atomic.Int64
}

// OnIndex returns an Index that fails only the operation at index n. A
// negative n fails nothing (the Index still counts).
func OnIndex(n int64) *Index {
	i := &Index{}
	i.target.Store(n)
	return i
}

// FromIndex returns an Index that fails the operation at index n and every
// operation after it, as a device that stops working would. A negative n
// fails nothing.
func FromIndex(n int64) *Index {
	i := OnIndex(n)
	i.sticky = true
	return i
}

// MaybeFail counts the call and reports whether its index is the target (or,
// for FromIndex, at least the target).
func (i *Index) MaybeFail(Call) bool {
	idx := i.count.Add(1) - 1
	target := i.target.Load()
	if target < 0 || idx < target || (idx > target && !i.sticky) {
		return false
	}
	i.fired.Add(1)
	return true
}

// Count returns how many operations the Index has seen since it was created
// or last Reset.
func (i *Index) Count() int64 { return i.count.Load() }

// Fired reports whether the Index has failed an operation since it was
// created or last Reset. A run after which Fired is false never reached the
// target index.
func (i *Index) Fired() bool { return i.fired.Load() > 0 }

// Failures returns how many operations the Index has failed since it was
// created or last Reset: 0 or 1 for OnIndex.
func (i *Index) Failures() int64 { return i.fired.Load() }

// Reset sets the target index to n and clears the counters. Call it between
// runs, not while operations are in flight.
func (i *Index) Reset(n int64) {
	i.target.Store(n)
	i.count.Store(0)
	i.fired.Store(0)
}

// Toggle is an Injector that fails every operation while it is on. It can be
// switched at any time from any goroutine. The zero value is off. To fail only
// some operations while on, combine it first in All, for instance
// All(toggle, Ops(OpSync)).
type Toggle struct {
	on atomic.Bool
}

// MaybeFail reports whether the toggle is on.
func (t *Toggle) MaybeFail(Call) bool { return t.on.Load() }

// On switches the toggle on.
func (t *Toggle) On() { t.on.Store(true) }

// Off switches the toggle off.
func (t *Toggle) Off() { t.on.Store(false) }

// Set switches the toggle on or off.
func (t *Toggle) Set(on bool) { t.on.Store(on) }

// IsOn reports whether the toggle is on.
func (t *Toggle) IsOn() bool { return t.on.Load() }

// WithProbability returns an Injector that fails each operation it sees with
// probability p, drawing from a random source seeded with seed. The same seed
// and the same sequence of calls give the same failures; with concurrent
// callers the sequence, and so the outcome, depends on scheduling.
func WithProbability(p float64, seed uint64) Injector {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return InjectorFunc(func(Call) bool {
		mu.Lock()
		defer mu.Unlock()
		return rng.Float64() < p
	})
}
