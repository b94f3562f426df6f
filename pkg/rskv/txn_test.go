package rskv_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
)

func openTxnStore(t *testing.T, o *rskv.Options) *rskv.Store {
	t.Helper()
	if o == nil {
		o = &rskv.Options{}
	}
	if o.FS == nil {
		o.FS = vfs.NewMem()
	}
	if o.MemorySize == 0 {
		o.MemorySize = 8 << 20
	}
	o.DisableBackground = true
	s, err := rskv.Open("db", o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func getU64(t testing.TB, get func([]byte) ([]byte, error), key string) uint64 {
	v, err := get([]byte(key))
	if errors.Is(err, rskv.ErrNotFound) {
		return 0
	}
	require.NoError(t, err)
	require.Len(t, v, 8)
	return binary.LittleEndian.Uint64(v)
}

// txU64 reads a counter inside a transaction; an error (ErrConflict when an
// earlier read changed) goes back to fn's caller.
func txU64(tx *rskv.Txn, key string) (uint64, error) {
	v, err := tx.Get([]byte(key))
	if errors.Is(err, rskv.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, errors.Newf("%s: %d bytes", key, len(v))
	}
	return binary.LittleEndian.Uint64(v), nil
}

func TestBatchBasics(t *testing.T) {
	s := openTxnStore(t, nil)
	require.NoError(t, s.Put([]byte("gone"), []byte("x")))
	b := s.NewBatch()
	b.Put([]byte("a"), []byte("1"))
	b.Put([]byte("b"), []byte("2"))
	b.Put([]byte("a"), []byte("3")) // the last write wins
	b.Delete([]byte("gone"))
	b.Delete([]byte("never"))
	require.Equal(t, 5, b.Len())
	require.NoError(t, b.Commit())
	v, err := s.Get([]byte("a"))
	require.NoError(t, err)
	assert.Equal(t, "3", string(v))
	v, err = s.Get([]byte("b"))
	require.NoError(t, err)
	assert.Equal(t, "2", string(v))
	_, err = s.Get([]byte("gone"))
	assert.ErrorIs(t, err, rskv.ErrNotFound)
	assert.Equal(t, 2, s.Len())

	b.Reset()
	assert.Equal(t, 0, b.Len())
	require.NoError(t, b.Commit()) // empty
	b.Delete([]byte("a"))
	b.Put([]byte("a"), []byte{})
	require.NoError(t, b.Commit())
	v, err = s.Get([]byte("a"))
	require.NoError(t, err)
	assert.Empty(t, v)
	assert.Equal(t, 2, s.Len())
}

func TestBatchBadWriteAppliesNothing(t *testing.T) {
	s := openTxnStore(t, nil)
	for name, tc := range map[string]struct {
		add  func(b *rskv.Batch)
		want error
	}{
		"empty key":    {func(b *rskv.Batch) { b.Put(nil, []byte("v")) }, rskv.ErrEmptyKey},
		"long key":     {func(b *rskv.Batch) { b.Delete(make([]byte, rskv.MaxKeySize+1)) }, rskv.ErrKeyTooLarge},
		"huge value":   {func(b *rskv.Batch) { b.Put([]byte("k"), make([]byte, 64<<20)) }, rskv.ErrValueTooLarge},
		"zero ttl":     {func(b *rskv.Batch) { b.PutTTL([]byte("k"), []byte("v"), 0) }, rskv.ErrInvalidTTL},
		"negative ttl": {func(b *rskv.Batch) { b.PutTTL([]byte("k"), []byte("v"), -time.Second) }, rskv.ErrInvalidTTL},
	} {
		t.Run(name, func(t *testing.T) {
			b := s.NewBatch()
			b.Put([]byte("first"), []byte("v"))
			tc.add(b)
			b.Put([]byte("last"), []byte("v"))
			require.ErrorIs(t, b.Commit(), tc.want)
			for _, k := range []string{"first", "last", "k"} {
				ok, err := s.Has([]byte(k))
				require.NoError(t, err)
				assert.False(t, ok, k)
			}
			assert.Equal(t, 0, s.Len())
		})
	}
}

func TestBatchClosedAndReadOnly(t *testing.T) {
	fs := vfs.NewMem()
	s := openTxnStore(t, &rskv.Options{FS: fs})
	require.NoError(t, s.Put([]byte("k"), []byte("v")))
	require.NoError(t, s.Close())
	b := s.NewBatch()
	b.Put([]byte("a"), []byte("1"))
	require.ErrorIs(t, b.Commit(), rskv.ErrClosed)
	require.ErrorIs(t, s.Update(func(tx *rskv.Txn) error { return tx.Put([]byte("a"), nil) }), rskv.ErrClosed)
	require.ErrorIs(t, s.View(func(tx *rskv.Txn) error { return nil }), rskv.ErrClosed)

	ro, err := rskv.Open("db", &rskv.Options{FS: fs, ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	b = ro.NewBatch()
	b.Put([]byte("a"), []byte("1"))
	require.ErrorIs(t, b.Commit(), rskv.ErrReadOnly)
	require.ErrorIs(t, ro.Update(func(tx *rskv.Txn) error { return nil }), rskv.ErrReadOnly)
	require.NoError(t, ro.View(func(tx *rskv.Txn) error {
		v, err := tx.Get([]byte("k"))
		require.NoError(t, err)
		assert.Equal(t, "v", string(v))
		return nil
	}))
}

func TestTxnReadYourWrites(t *testing.T) {
	s := openTxnStore(t, nil)
	require.NoError(t, s.Put([]byte("a"), []byte("old")))
	require.NoError(t, s.Put([]byte("d"), []byte("x")))
	require.NoError(t, s.Update(func(tx *rskv.Txn) error {
		v, err := tx.Get([]byte("a"))
		require.NoError(t, err)
		assert.Equal(t, "old", string(v))
		require.NoError(t, tx.Put([]byte("a"), []byte("new")))
		v, err = tx.Get([]byte("a"))
		require.NoError(t, err)
		assert.Equal(t, "new", string(v))
		require.NoError(t, tx.Delete([]byte("d")))
		_, err = tx.Get([]byte("d"))
		assert.ErrorIs(t, err, rskv.ErrNotFound)
		ok, err := tx.Has([]byte("d"))
		require.NoError(t, err)
		assert.False(t, ok)
		ok, err = tx.Has([]byte("nope"))
		require.NoError(t, err)
		assert.False(t, ok)
		require.NoError(t, tx.Put([]byte("c"), []byte("c")))
		ok, err = tx.Has([]byte("c"))
		require.NoError(t, err)
		assert.True(t, ok)
		// Not visible outside before the commit.
		_, err = s.Get([]byte("c"))
		assert.ErrorIs(t, err, rskv.ErrNotFound)
		return nil
	}))
	v, err := s.Get([]byte("a"))
	require.NoError(t, err)
	assert.Equal(t, "new", string(v))
	_, err = s.Get([]byte("d"))
	assert.ErrorIs(t, err, rskv.ErrNotFound)
	assert.Equal(t, 2, s.Len())
}

func TestTxnErrorsWriteNothing(t *testing.T) {
	s := openTxnStore(t, nil)
	require.NoError(t, s.Put([]byte("a"), []byte("1")))
	boom := errors.New("boom")
	err := s.Update(func(tx *rskv.Txn) error {
		require.NoError(t, tx.Put([]byte("a"), []byte("2")))
		require.NoError(t, tx.Put([]byte("b"), []byte("2")))
		require.NoError(t, tx.Delete([]byte("a")))
		return boom
	})
	require.ErrorIs(t, err, boom)
	v, err := s.Get([]byte("a"))
	require.NoError(t, err)
	assert.Equal(t, "1", string(v))
	_, err = s.Get([]byte("b"))
	assert.ErrorIs(t, err, rskv.ErrNotFound)
	assert.Equal(t, 1, s.Len())

	// A bad TTL, key or value is refused by the write itself, and fn's
	// returning it aborts everything.
	err = s.Update(func(tx *rskv.Txn) error {
		require.NoError(t, tx.Put([]byte("c"), []byte("3")))
		if err := tx.PutTTL([]byte("d"), []byte("4"), 0); err != nil {
			return err
		}
		return nil
	})
	require.ErrorIs(t, err, rskv.ErrInvalidTTL)
	_, err = s.Get([]byte("c"))
	assert.ErrorIs(t, err, rskv.ErrNotFound)
	err = s.Update(func(tx *rskv.Txn) error { return tx.Put(nil, []byte("x")) })
	require.ErrorIs(t, err, rskv.ErrEmptyKey)

	// A panic goes to the caller; the store keeps working.
	require.Panics(t, func() {
		_ = s.Update(func(tx *rskv.Txn) error {
			_ = tx.Put([]byte("p"), []byte("p"))
			panic("in fn")
		})
	})
	_, err = s.Get([]byte("p"))
	assert.ErrorIs(t, err, rskv.ErrNotFound)
	require.NoError(t, s.Update(func(tx *rskv.Txn) error { return tx.Put([]byte("p"), []byte("ok")) }))
	v, err = s.Get([]byte("p"))
	require.NoError(t, err)
	assert.Equal(t, "ok", string(v))
}

func TestViewIsReadOnly(t *testing.T) {
	s := openTxnStore(t, nil)
	require.NoError(t, s.View(func(tx *rskv.Txn) error {
		assert.ErrorIs(t, tx.Put([]byte("a"), nil), rskv.ErrReadOnly)
		assert.ErrorIs(t, tx.PutTTL([]byte("a"), nil, time.Second), rskv.ErrReadOnly)
		assert.ErrorIs(t, tx.Delete([]byte("a")), rskv.ErrReadOnly)
		return nil
	}))
	ok, err := s.Has([]byte("a"))
	require.NoError(t, err)
	assert.False(t, ok)
}

// TestLostUpdate: concurrent read-increment-write transactions on one key
// lose no increment, and neither do single-key RMWs running alongside.
func TestLostUpdate(t *testing.T) {
	s := openTxnStore(t, nil)
	const workers, each = 4, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if w == 0 {
					_, err := s.RMW([]byte("n"), func(old []byte, found bool) []byte {
						var n uint64
						if found {
							n = binary.LittleEndian.Uint64(old)
						}
						return u64(n + 1)
					})
					assert.NoError(t, err)
					continue
				}
				assert.NoError(t, s.Update(func(tx *rskv.Txn) error {
					n, err := txU64(tx, "n")
					if err != nil {
						return err
					}
					return tx.Put([]byte("n"), u64(n+1))
				}))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, uint64(workers*each), getU64(t, s.Get, "n"))
}

// TestWriteSkew: two doctors on call; each transaction takes one off call
// only if the other is still on. Serializable: never both off.
func TestWriteSkew(t *testing.T) {
	s := openTxnStore(t, nil)
	for round := 0; round < 200; round++ {
		require.NoError(t, s.Put([]byte("alice"), u64(1)))
		require.NoError(t, s.Put([]byte("bob"), u64(1)))
		var wg sync.WaitGroup
		for _, pair := range [][2]string{{"alice", "bob"}, {"bob", "alice"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				assert.NoError(t, s.Update(func(tx *rskv.Txn) error {
					me, err := txU64(tx, pair[0])
					if err != nil {
						return err
					}
					other, err := txU64(tx, pair[1])
					if err != nil {
						return err
					}
					if me+other >= 2 {
						return tx.Put([]byte(pair[0]), u64(0))
					}
					return nil
				}))
			}()
		}
		wg.Wait()
		a, b := getU64(t, s.Get, "alice"), getU64(t, s.Get, "bob")
		require.Equal(t, uint64(1), a+b, "round %d: exactly one stays on call", round)
	}
}

// TestBankTransfer moves money between accounts with Update while Views
// and pairs of single Gets check the total; it holds in every View and at
// the end.
func TestBankTransfer(t *testing.T) {
	s := openTxnStore(t, &rskv.Options{MemorySize: 1 << 20})
	const accounts, initial = 20, 1000
	acct := func(i int) []byte { return []byte(fmt.Sprintf("acct%02d", i)) }
	b := s.NewBatch()
	for i := 0; i < accounts; i++ {
		b.Put(acct(i), u64(initial))
	}
	require.NoError(t, b.Commit())
	transfers := 300
	if testing.Short() {
		transfers = 100
	}
	var writers, readers sync.WaitGroup
	for w := 0; w < 3; w++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < transfers; i++ {
				from, to := r.IntN(accounts), r.IntN(accounts)
				if from == to {
					continue
				}
				amount := uint64(r.IntN(50))
				assert.NoError(t, s.Update(func(tx *rskv.Txn) error {
					fb, err := txU64(tx, string(acct(from)))
					if err != nil {
						return err
					}
					tb, err := txU64(tx, string(acct(to)))
					if err != nil {
						return err
					}
					if fb < amount {
						return nil
					}
					if err := tx.Put(acct(from), u64(fb-amount)); err != nil {
						return err
					}
					return tx.Put(acct(to), u64(tb+amount))
				}))
			}
		}()
	}
	var stop atomic.Bool
	var views atomic.Int64
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for !stop.Load() {
				var total uint64
				err := s.View(func(tx *rskv.Txn) error {
					total = 0
					for i := 0; i < accounts; i++ {
						n, err := txU64(tx, string(acct(i)))
						if err != nil {
							return err
						}
						total += n
					}
					return nil
				})
				if errors.Is(err, rskv.ErrConflict) {
					continue // gave up under contention: no claim made
				}
				assert.NoError(t, err)
				assert.Equal(t, uint64(accounts*initial), total)
				views.Add(1)
			}
		}()
	}
	writers.Wait()
	stop.Store(true)
	readers.Wait()
	var total uint64
	for i := 0; i < accounts; i++ {
		total += getU64(t, s.Get, string(acct(i)))
	}
	assert.Equal(t, uint64(accounts*initial), total)
	assert.Positive(t, views.Load())
}

// TestNoPartialBatch: batches set every key of a group to one generation;
// Views and single Gets (in key order, since the batch publishes in any
// order, a later key read must never be older than an earlier one seen
// new) never see a mix.
func TestNoPartialBatch(t *testing.T) {
	s := openTxnStore(t, &rskv.Options{MemorySize: 1 << 20})
	const n = 50
	key := func(i int) []byte { return []byte(fmt.Sprintf("g%03d", i)) }
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b := s.NewBatch()
		for gen := uint64(1); gen <= 300; gen++ {
			b.Reset()
			for i := 0; i < n; i++ {
				b.Put(key(i), u64(gen))
			}
			assert.NoError(t, b.Commit())
			if gen%3 == 0 {
				// A transaction that bumps every key by one generation
				// more and back: its intermediate state must not show.
				assert.NoError(t, s.Update(func(tx *rskv.Txn) error {
					for i := 0; i < n; i++ {
						if err := tx.Put(key(i), u64(gen)); err != nil {
							return err
						}
					}
					return nil
				}))
			}
		}
		stop.Store(true)
	}()
	var views, gets atomic.Int64
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if r == 0 {
					var seen []uint64
					err := s.View(func(tx *rskv.Txn) error {
						seen = seen[:0]
						for i := 0; i < n; i++ {
							g, err := txU64(tx, string(key(i)))
							if err != nil {
								return err
							}
							seen = append(seen, g)
						}
						return nil
					})
					if errors.Is(err, rskv.ErrConflict) {
						continue
					}
					require.NoError(t, err)
					for i := range seen {
						require.Equal(t, seen[0], seen[i], "View saw a partial batch: %v", seen)
					}
					views.Add(1)
					continue
				}
				// Single Gets: each Get is atomic, so once one key shows
				// generation g, every key read after it shows g or later.
				var low uint64
				for i := 0; i < n; i++ {
					g := getU64(t, s.Get, string(key(i)))
					require.GreaterOrEqual(t, g, low, "key %d older than a key read before it", i)
					low = g
				}
				gets.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Positive(t, views.Load())
	assert.Positive(t, gets.Load())
}

// TestMillionWriteBatch commits one batch of a million writes.
func TestMillionWriteBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("a million writes: not in -short")
	}
	s := openTxnStore(t, &rskv.Options{MemorySize: 8 << 20})
	const n = 1_000_000
	b := s.NewBatch()
	k := make([]byte, 0, 16)
	for i := 0; i < n; i++ {
		k = fmt.Appendf(k[:0], "m%07d", i)
		b.Put(k, u64(uint64(i)))
	}
	require.Equal(t, n, b.Len())
	require.NoError(t, b.Commit())
	require.Equal(t, n, s.Len())
	for _, i := range []int{0, 1, n / 2, n - 1} {
		require.Equal(t, uint64(i), getU64(t, s.Get, fmt.Sprintf("m%07d", i)))
	}
}

// TestTxnOpacity: with at most 16 keys read, fn itself never sees two keys
// from different moments (a read that would see one returns ErrConflict),
// even in runs that are then retried.
func TestTxnOpacity(t *testing.T) {
	s := openTxnStore(t, nil)
	const n = 10
	key := func(i int) string { return fmt.Sprintf("o%02d", i) }
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stop.Store(true)
		b := s.NewBatch()
		for gen := uint64(1); gen <= 2000; gen++ {
			b.Reset()
			for i := 0; i < n; i++ {
				b.Put([]byte(key(i)), u64(gen))
			}
			if !assert.NoError(t, b.Commit()) {
				return
			}
		}
	}()
	var runs, conflicts atomic.Int64
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				check := func(tx *rskv.Txn) error {
					runs.Add(1)
					var first uint64
					for i := 0; i < n; i++ {
						g, err := txU64(tx, key(i))
						if err != nil {
							conflicts.Add(1)
							return err
						}
						if i == 0 {
							first = g
						} else if g != first {
							t.Errorf("fn saw %s at generation %d and %s at %d", key(0), first, key(i), g)
							return nil
						}
					}
					return nil
				}
				var err error
				if r == 0 {
					err = s.View(check)
				} else {
					err = s.Update(check)
				}
				if !errors.Is(err, rskv.ErrConflict) {
					assert.NoError(t, err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d runs of fn, %d stopped by a read that saw a change", runs.Load(), conflicts.Load())
	assert.Positive(t, runs.Load())
}

// TestTxnReadsOnDiskDoNotConflict: on a quiet store, a transaction reading
// keys whose records are on disk (which a Get would promote to memory on a
// second read) runs fn once: its own reads move nothing.
func TestTxnReadsOnDiskDoNotConflict(t *testing.T) {
	s := openTxnStore(t, &rskv.Options{MemorySize: 64 << 10, PageSize: 4 << 10})
	keys := []string{"cold1", "cold2", "cold3"}
	for _, k := range keys {
		require.NoError(t, s.Put([]byte(k), u64(7)))
	}
	filler := make([]byte, 1000)
	for i := 0; i < 400; i++ {
		require.NoError(t, s.Put([]byte(fmt.Sprintf("fill%04d", i)), filler))
	}
	for round := 0; round < 4; round++ {
		runs := 0
		require.NoError(t, s.View(func(tx *rskv.Txn) error {
			runs++
			for _, k := range append(keys, keys...) {
				n, err := txU64(tx, k)
				if err != nil {
					return err
				}
				require.Equal(t, uint64(7), n)
			}
			return nil
		}))
		require.Equal(t, 1, runs, "round %d: fn ran again on a quiet store", round)
		runs = 0
		require.NoError(t, s.Update(func(tx *rskv.Txn) error {
			runs++
			for _, k := range keys {
				if _, err := txU64(tx, k); err != nil {
					return err
				}
			}
			return nil
		}))
		require.Equal(t, 1, runs, "round %d: Update's fn ran again on a quiet store", round)
	}
}
