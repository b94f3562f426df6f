// Package multikey benchmarks rskv's multi-key writes against its peers'
// in one run: batch commits (rskv Batch, Badger WriteBatch, Pebble Batch)
// of 1, 100 and 10,000 writes, reported as records/s, and a bank-transfer
// workload of read-modify-write transactions over two accounts (rskv
// Update, Badger Update, bbolt Update), reported as txns/s.
//
//	cd bench && go test ./multikey -run '^$' -bench . -count 3
//
// No engine fsyncs per commit: rskv runs SyncPeriodic (its default),
// Badger SyncWrites=false, Pebble commits with NoSync, bbolt NoSync.
package multikey

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/cockroachdb/pebble/v2"
	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/rskv-go/rskv/pkg/rskv"
	bolt "go.etcd.io/bbolt"
)

const (
	valueSize = 100
	accounts  = 10_000
	memory    = 64 << 20
)

func key(i uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), i) }

func openRSKV(b *testing.B) *rskv.Store {
	s, err := rskv.Open(filepath.Join(b.TempDir(), "rskv"), &rskv.Options{MemorySize: memory})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func openBadger(b *testing.B) *badger.DB {
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(b.TempDir(), "badger")).
		WithLogger(nil).WithSyncWrites(false).WithCompression(options.None).
		WithNumMemtables(2).WithMemTableSize(memory / 4).WithBlockCacheSize(memory / 2).
		WithValueThreshold(1 << 10))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

func openPebble(b *testing.B) *pebble.DB {
	cache := pebble.NewCache(memory / 2)
	opts := &pebble.Options{Cache: cache, MemTableSize: memory / 4, Logger: quietLogger{b}}
	opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	db, err := pebble.Open(filepath.Join(b.TempDir(), "pebble"), opts)
	cache.Unref()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

func openBolt(b *testing.B) *bolt.DB {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bolt.db"), 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true, NoGrowSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		b.Fatal(err)
	}
	return db
}

var bucket = []byte("b")

// quietLogger drops pebble's informational lines and reports its errors.
type quietLogger struct{ b *testing.B }

func (quietLogger) Infof(string, ...any)                {}
func (l quietLogger) Errorf(format string, args ...any) { l.b.Errorf("pebble: "+format, args...) }
func (l quietLogger) Fatalf(format string, args ...any) { l.b.Fatalf("pebble: "+format, args...) }

// BenchmarkBatchCommit commits batches of n puts of fresh-or-overwritten
// keys (a key space of 1M) and reports records/s.
func BenchmarkBatchCommit(b *testing.B) {
	value := make([]byte, valueSize)
	for _, n := range []int{1, 100, 10_000} {
		run := func(b *testing.B, commit func(keys [][]byte) error) {
			r := rand.New(rand.NewPCG(1, uint64(n)))
			keys := make([][]byte, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range keys {
					keys[j] = key(r.Uint64N(1 << 20))
				}
				if err := commit(keys); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		}
		b.Run(fmt.Sprintf("rskv/%d", n), func(b *testing.B) {
			s := openRSKV(b)
			batch := s.NewBatch()
			run(b, func(keys [][]byte) error {
				batch.Reset()
				for _, k := range keys {
					batch.Put(k, value)
				}
				return batch.Commit()
			})
		})
		b.Run(fmt.Sprintf("badger/%d", n), func(b *testing.B) {
			db := openBadger(b)
			run(b, func(keys [][]byte) error {
				wb := db.NewWriteBatch()
				defer wb.Cancel()
				for _, k := range keys {
					if err := wb.Set(k, value); err != nil {
						return err
					}
				}
				return wb.Flush()
			})
		})
		b.Run(fmt.Sprintf("pebble/%d", n), func(b *testing.B) {
			db := openPebble(b)
			run(b, func(keys [][]byte) error {
				batch := db.NewBatch()
				for _, k := range keys {
					if err := batch.Set(k, value, nil); err != nil {
						return err
					}
				}
				return batch.Commit(pebble.NoSync)
			})
		})
	}
}

// transfer is one bank transfer: read two balances, move amount between
// them, in one serializable transaction.
type transfer func(from, to []byte, amount uint64) error

func balance(v []byte) uint64 { return binary.LittleEndian.Uint64(v) }
func amountBytes(n uint64) []byte {
	return binary.LittleEndian.AppendUint64(make([]byte, 0, valueSize), n)
}

// BenchmarkTransfer runs transfers between random accounts of 10,000 from
// parallel goroutines (b.RunParallel) and reports txns/s; the total is
// checked at the end.
func BenchmarkTransfer(b *testing.B) {
	const initial = 1_000_000
	run := func(b *testing.B, load func(k, v []byte) error, tr transfer, total func() (uint64, error)) {
		for i := uint64(0); i < accounts; i++ {
			if err := load(key(i), amountBytes(initial)); err != nil {
				b.Fatal(err)
			}
		}
		var seed atomic.Uint64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(seed.Add(1), 9))
			for pb.Next() {
				from, to := r.Uint64N(accounts), r.Uint64N(accounts)
				if from == to {
					to = (to + 1) % accounts
				}
				if err := tr(key(from), key(to), 1+r.Uint64N(10)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txns/s")
		b.StopTimer()
		got, err := total()
		if err != nil {
			b.Fatal(err)
		}
		if got != accounts*initial {
			b.Fatalf("total %d, want %d", got, accounts*initial)
		}
	}
	b.Run("rskv", func(b *testing.B) {
		s := openRSKV(b)
		run(b, s.Put, func(from, to []byte, amount uint64) error {
			return s.Update(func(tx *rskv.Txn) error {
				fv, err := tx.Get(from)
				if err != nil {
					return err
				}
				tv, err := tx.Get(to)
				if err != nil {
					return err
				}
				if balance(fv) < amount {
					return nil
				}
				if err := tx.Put(from, amountBytes(balance(fv)-amount)); err != nil {
					return err
				}
				return tx.Put(to, amountBytes(balance(tv)+amount))
			})
		}, func() (uint64, error) {
			var t uint64
			for i := uint64(0); i < accounts; i++ {
				v, err := s.Get(key(i))
				if err != nil {
					return 0, err
				}
				t += balance(v)
			}
			return t, nil
		})
	})
	b.Run("badger", func(b *testing.B) {
		db := openBadger(b)
		get := func(tx *badger.Txn, k []byte) (uint64, error) {
			it, err := tx.Get(k)
			if err != nil {
				return 0, err
			}
			var n uint64
			err = it.Value(func(v []byte) error { n = balance(v); return nil })
			return n, err
		}
		run(b, func(k, v []byte) error {
			return db.Update(func(tx *badger.Txn) error { return tx.Set(k, v) })
		}, func(from, to []byte, amount uint64) error {
			for {
				err := db.Update(func(tx *badger.Txn) error {
					f, err := get(tx, from)
					if err != nil {
						return err
					}
					t, err := get(tx, to)
					if err != nil {
						return err
					}
					if f < amount {
						return nil
					}
					if err := tx.Set(from, amountBytes(f-amount)); err != nil {
						return err
					}
					return tx.Set(to, amountBytes(t+amount))
				})
				if errors.Is(err, badger.ErrConflict) {
					continue // Badger leaves the retry to the caller
				}
				return err
			}
		}, func() (uint64, error) {
			var t uint64
			err := db.View(func(tx *badger.Txn) error {
				for i := uint64(0); i < accounts; i++ {
					n, err := get(tx, key(i))
					if err != nil {
						return err
					}
					t += n
				}
				return nil
			})
			return t, err
		})
	})
	b.Run("bbolt", func(b *testing.B) {
		db := openBolt(b)
		run(b, func(k, v []byte) error {
			return db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(k, v) })
		}, func(from, to []byte, amount uint64) error {
			return db.Update(func(tx *bolt.Tx) error {
				bk := tx.Bucket(bucket)
				f, t := balance(bk.Get(from)), balance(bk.Get(to))
				if f < amount {
					return nil
				}
				if err := bk.Put(from, amountBytes(f-amount)); err != nil {
					return err
				}
				return bk.Put(to, amountBytes(t+amount))
			})
		}, func() (uint64, error) {
			var t uint64
			err := db.View(func(tx *bolt.Tx) error {
				bk := tx.Bucket(bucket)
				for i := uint64(0); i < accounts; i++ {
					t += balance(bk.Get(key(i)))
				}
				return nil
			})
			return t, err
		})
	})
}
