package engines

import (
	"path/filepath"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/ycsb"
	bolt "go.etcd.io/bbolt"
)

// Bolt returns the bbolt engine.
func Bolt() Engine {
	return Engine{
		Name:       "bbolt",
		Module:     "go.etcd.io/bbolt",
		Persistent: true,
		Durability: "NoSync (and NoFreelistSync): commits write their pages but never fsync; " +
			"bbolt documents this as unsafe on a crash, so it is weaker than the others",
		Memory: "no cache setting: bbolt reads pages through mmap, so the OS page cache is its cache and the budget " +
			"does not bind it",
		Operations: "Read = View txn Get; Update = Update txn Put (one read-write transaction per write: bbolt has " +
			"a single writer); RMW = Update txn Get+Put (serializable); load = batches of records per Update txn",
		Open: openBolt,
	}
}

var boltBucket = []byte("ycsb")

type boltDB struct{ db *bolt.DB }

func openBolt(s Setup) (ycsb.DB, error) {
	db, err := bolt.Open(filepath.Join(s.Dir, "bolt.db"), 0o600, &bolt.Options{
		NoSync:         true,
		NoFreelistSync: true,
		NoGrowSync:     true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, errors.Wrap(err, "bbolt: open")
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, errors.Wrap(err, "bbolt: create bucket")
	}
	return &boltDB{db: db}, nil
}

func (b *boltDB) Read(key, dst []byte) ([]byte, error) {
	found := false
	err := b.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(boltBucket).Get(key); v != nil {
			found = true
			dst = append(dst, v...)
		}
		return nil
	})
	if err == nil && !found {
		return dst, ycsb.ErrNotFound
	}
	return dst, err
}

func (b *boltDB) Update(key, value []byte) error {
	return b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltBucket).Put(key, value) })
}

// WriteBatch writes all records in one transaction: the way to load bbolt.
func (b *boltDB) WriteBatch(keys, values [][]byte) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(boltBucket)
		for i := range keys {
			if err := bk.Put(keys[i], values[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *boltDB) ReadModifyWrite(key, dst []byte) ([]byte, error) {
	var nv []byte
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(boltBucket)
		nv = ycsb.Modify(nil, bk.Get(key))
		return bk.Put(key, nv)
	})
	if err != nil {
		return dst, err
	}
	return append(dst, nv...), nil
}

func (b *boltDB) Close() error { return b.db.Close() }
