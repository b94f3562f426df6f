package lincheck

import (
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func set(k, v string) Input { return Input{Kind: Set, Key: k, Value: v} }
func get(k string) Input    { return Input{Kind: Get, Key: k} }
func incr(k string) Input   { return Input{Kind: Incr, Key: k} }

var (
	ok      = Output{}
	unknown = Output{Unknown: true}
	absent  = Output{}
)

func val(v string) Output { return Output{Found: true, Value: v} }

func TestLinearizableHistory(t *testing.T) {
	h := NewHistory()
	// Client 0 writes x=1 and x=2; client 1 reads concurrently with the
	// second write and may see either value; client 2 reads after it.
	h.Add(0, set("x", "1"), 0, ok, 10)
	h.Add(0, set("x", "2"), 20, ok, 40)
	h.Add(1, get("x"), 25, val("1"), 30)
	h.Add(1, get("x"), 31, val("2"), 35)
	h.Add(2, get("x"), 50, val("2"), 60)
	// Another key, never written: reads see it absent.
	h.Add(2, get("y"), 61, absent, 62)
	require.NoError(t, h.Check(time.Minute, ""))
}

func TestStaleReadRejected(t *testing.T) {
	h := NewHistory()
	h.Add(0, set("x", "1"), 0, ok, 10)
	h.Add(0, set("x", "2"), 20, ok, 30)
	// A read that starts after SET x=2 was acknowledged sees the old value.
	h.Add(1, get("x"), 40, val("1"), 50)
	viz := filepath.Join(t.TempDir(), "viz.html")
	err := h.Check(time.Minute, viz)
	require.ErrorIs(t, err, ErrNotLinearizable)
	assert.FileExists(t, viz)
}

func TestReadGoingBackInTimeRejected(t *testing.T) {
	// Two sequential reads by different clients during one slow write: once
	// a read has seen the new value, a later read must not see the old one.
	h := NewHistory()
	h.Add(0, set("x", "1"), 0, ok, 5)
	h.Add(0, set("x", "2"), 10, ok, 100)
	h.Add(1, get("x"), 20, val("2"), 30)
	h.Add(2, get("x"), 40, val("1"), 50)
	require.ErrorIs(t, h.Check(time.Minute, ""), ErrNotLinearizable)
}

func TestLostAcknowledgedWriteRejected(t *testing.T) {
	// A write acknowledged, then the key read as absent: the write was lost.
	h := NewHistory()
	h.Add(0, set("x", "1"), 0, ok, 10)
	h.Add(1, get("x"), 20, absent, 30)
	require.ErrorIs(t, h.Check(time.Minute, ""), ErrNotLinearizable)
}

func TestUnknownWriteMayOrMayNotHappen(t *testing.T) {
	for _, seen := range []Output{val("1"), absent} {
		h := NewHistory()
		h.Add(0, set("x", "1"), 0, unknown, 10) // timed out
		h.Add(1, get("x"), 20, seen, 30)
		require.NoError(t, h.Check(time.Minute, ""), "read %v", seen)
	}
	// But once seen, it has happened: a later read cannot miss it.
	h := NewHistory()
	h.Add(0, set("x", "1"), 0, unknown, 10)
	h.Add(1, get("x"), 20, val("1"), 30)
	h.Add(1, get("x"), 40, absent, 50)
	require.ErrorIs(t, h.Check(time.Minute, ""), ErrNotLinearizable)
	// An unknown write can take effect late, even after later writes.
	h = NewHistory()
	h.Add(0, set("x", "1"), 0, unknown, 10)
	h.Add(1, set("x", "2"), 20, ok, 30)
	h.Add(1, get("x"), 40, val("1"), 50)
	require.NoError(t, h.Check(time.Minute, ""))
	// It cannot take effect before it was sent.
	h = NewHistory()
	h.Add(1, get("x"), 0, val("1"), 10)
	h.Add(0, set("x", "1"), 20, unknown, 30)
	require.ErrorIs(t, h.Check(time.Minute, ""), ErrNotLinearizable)
}

func TestUnknownReadDropped(t *testing.T) {
	h := NewHistory()
	h.Add(0, get("x"), 0, Output{Unknown: true, Found: true, Value: "garbage"}, 10)
	assert.Equal(t, 0, h.Stats().Ops)
	require.NoError(t, h.Check(time.Minute, ""))
}

func TestIncr(t *testing.T) {
	h := NewHistory()
	h.Add(0, incr("c"), 0, val("1"), 10)
	h.Add(1, incr("c"), 5, val("2"), 15)  // concurrent with the first
	h.Add(2, incr("c"), 20, unknown, 25)  // may or may not have counted
	h.Add(0, incr("c"), 30, val("4"), 40) // it did
	h.Add(1, get("c"), 50, val("4"), 60)
	require.NoError(t, h.Check(time.Minute, ""))

	// Two INCRs that both return 1: one increment was lost.
	h = NewHistory()
	h.Add(0, incr("c"), 0, val("1"), 10)
	h.Add(1, incr("c"), 5, val("1"), 15)
	require.ErrorIs(t, h.Check(time.Minute, ""), ErrNotLinearizable)

	// INCR counts from a SET value; INCR of a non-integer cannot succeed.
	h = NewHistory()
	h.Add(0, set("c", "41"), 0, ok, 10)
	h.Add(0, incr("c"), 20, val("42"), 30)
	h.Add(0, set("d", "abc"), 0, ok, 10)
	h.Add(0, incr("d"), 20, unknown, 30) // the server's error reply
	h.Add(0, get("d"), 40, val("abc"), 50)
	require.NoError(t, h.Check(time.Minute, ""))
	h = NewHistory()
	h.Add(0, set("d", "abc"), 0, ok, 10)
	h.Add(0, incr("d"), 20, val("1"), 30)
	require.ErrorIs(t, h.Check(time.Minute, ""), ErrNotLinearizable)
}

func TestPartitionedByKey(t *testing.T) {
	// Many keys fine and one key broken: the violation is still found.
	h := NewHistory()
	for i := range 50 {
		k := "k" + strconv.Itoa(i)
		h.Add(0, set(k, "a"), int64(i*100), ok, int64(i*100+10))
		h.Add(1, get(k), int64(i*100+20), val("a"), int64(i*100+30))
	}
	h.Add(0, set("k7", "b"), 10000, ok, 10010)
	h.Add(1, get("k7"), 10020, val("a"), 10030)
	require.ErrorIs(t, h.Check(time.Minute, ""), ErrNotLinearizable)
}

// register is a toy store for the recorder's end-to-end tests: stale makes
// reads come from a per-client cache, which is not linearizable.
type register struct {
	mu    sync.Mutex
	m     map[string]string
	stale bool
	cache []map[string]string
}

func (r *register) do(client int, in Input) Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch in.Kind {
	case Set:
		r.m[in.Key] = in.Value
		if r.stale {
			r.cache[client][in.Key] = in.Value
		}
		return ok
	case Incr:
		n, _ := strconv.Atoi(r.m[in.Key])
		r.m[in.Key] = strconv.Itoa(n + 1)
		return val(r.m[in.Key])
	}
	m := r.m
	if r.stale {
		m = r.cache[client]
	}
	v, found := m[in.Key]
	return Output{Found: found, Value: v}
}

func runClients(t *testing.T, r *register) *History {
	t.Helper()
	h := NewHistory()
	var wg sync.WaitGroup
	for c := range len(r.cache) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			for i := range 300 {
				k := "k" + strconv.Itoa(rng.IntN(3))
				var in Input
				switch rng.IntN(3) {
				case 0:
					in = set(k, strconv.Itoa(c)+"-"+strconv.Itoa(i))
				case 1:
					in = get(k)
				default:
					in = incr("c" + k)
				}
				op := h.Begin(c, in)
				out := r.do(c, in)
				if rng.IntN(20) == 0 {
					out = unknown // as if the reply were lost
				}
				op.End(out)
			}
		}()
	}
	wg.Wait()
	return h
}

func TestRecorderConcurrentClients(t *testing.T) {
	good := &register{m: map[string]string{}, cache: make([]map[string]string, 4)}
	h := runClients(t, good)
	st := h.Stats()
	// Unknown Gets (about 1 in 60 operations) are dropped, nothing else.
	assert.LessOrEqual(t, st.Ops, 4*300)
	assert.Greater(t, st.Ops, 4*300*9/10)
	assert.Positive(t, st.Unknown)
	require.NoError(t, h.Check(time.Minute, ""))

	bad := &register{m: map[string]string{}, stale: true, cache: make([]map[string]string, 4)}
	for i := range bad.cache {
		bad.cache[i] = map[string]string{}
	}
	require.ErrorIs(t, runClients(t, bad).Check(time.Minute, ""), ErrNotLinearizable)
}

func TestEndTwice(t *testing.T) {
	h := NewHistory()
	op := h.Begin(0, set("x", "1"))
	op.End(ok)
	op.End(unknown)
	require.Len(t, h.Operations(), 1)
	assert.False(t, h.Operations()[0].Output.(Output).Unknown)
}

func TestPruneUnknownSets(t *testing.T) {
	h := NewHistory()
	h.Add(0, set("x", "1"), 0, ok, 10)
	for i := range 200 { // many unknown writes never seen: dropped
		h.Add(1, set("x", "u"+strconv.Itoa(i)), int64(20+i), unknown, 0)
	}
	h.Add(2, set("x", "seen"), 30, unknown, 0) // seen by a read: kept
	h.Add(0, get("x"), 500, val("seen"), 510)
	h.Add(0, get("x"), 520, val("seen"), 530)
	require.Len(t, prune(h.Operations()), 4)
	require.NoError(t, h.Check(time.Minute, ""))
	// The kept unknown write still constrains: once seen, it has happened.
	h.Add(0, get("x"), 540, val("1"), 550)
	require.ErrorIs(t, h.Check(time.Minute, ""), ErrNotLinearizable)
	// On a key with INCRs nothing is dropped.
	h = NewHistory()
	h.Add(1, set("c", "5"), 0, unknown, 0)
	h.Add(0, incr("c"), 10, val("6"), 20)
	require.Len(t, prune(h.Operations()), 2)
	require.NoError(t, h.Check(time.Minute, ""))
}

func TestDiscard(t *testing.T) {
	h := NewHistory()
	op := h.Begin(0, set("x", "1"))
	op.Discard()
	op.End(ok)
	require.Empty(t, h.Operations())
}
