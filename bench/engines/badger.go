package engines

import (
	"github.com/cockroachdb/errors"
	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/rskv-go/rskv/internal/ycsb"
)

// Badger returns the Badger v4 engine.
func Badger() Engine {
	return Engine{
		Name:       "badger",
		Module:     "github.com/dgraph-io/badger/v4",
		Persistent: true,
		Durability: "SyncWrites=false: the write-ahead log is written but fsynced only when a memtable is flushed and at Close",
		Memory: "2 memtables of budget/4 each + block cache of budget/2; table indexes and bloom filters " +
			"are kept in memory outside the cache (IndexCacheSize 0, the default); compression off (the values are random); values stay inline in the LSM tree (ValueThreshold 1 KiB)",
		Operations: "Read = View txn Get + Value copy; Update = Update txn Set; " +
			"RMW = Update txn Get+Set (serializable), retried on ErrConflict",
		Open: openBadger,
	}
}

type badgerDB struct{ db *badger.DB }

func openBadger(s Setup) (ycsb.DB, error) {
	opts := badger.DefaultOptions(s.Dir).
		WithLogger(nil).
		WithSyncWrites(false).
		WithCompression(options.None).
		WithNumMemtables(2).
		WithMemTableSize(max(s.Budget/4, 1<<20)).
		WithBlockCacheSize(s.Budget / 2).
		WithNumCompactors(2).
		// Values up to 1 KiB stay in the LSM tree, as they do with the
		// default threshold (1 MiB), which small memtables do not allow.
		WithValueThreshold(1 << 10)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, errors.Wrap(err, "badger: open")
	}
	return &badgerDB{db: db}, nil
}

func (b *badgerDB) Read(key, dst []byte) ([]byte, error) {
	err := b.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			dst = append(dst, v...)
			return nil
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return dst, ycsb.ErrNotFound
	}
	return dst, err
}

func (b *badgerDB) Update(key, value []byte) error {
	// Badger keeps the slices until the transaction commits, which Update
	// does before returning.
	return b.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
}

func (b *badgerDB) ReadModifyWrite(key, dst []byte) ([]byte, error) {
	for {
		var nv []byte
		err := b.db.Update(func(txn *badger.Txn) error {
			item, err := txn.Get(key)
			var old []byte
			switch {
			case err == nil:
				if old, err = item.ValueCopy(nil); err != nil {
					return err
				}
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
			nv = ycsb.Modify(nil, old)
			return txn.Set(key, nv)
		})
		if errors.Is(err, badger.ErrConflict) {
			continue
		}
		if err != nil {
			return dst, err
		}
		return append(dst, nv...), nil
	}
}

func (b *badgerDB) Close() error { return b.db.Close() }
