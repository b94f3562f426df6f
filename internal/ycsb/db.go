package ycsb

import (
	"encoding/binary"

	"github.com/cockroachdb/errors"
)

// DB is a key-value store under test. All methods are called concurrently by
// the runner's goroutines. Key and value slices belong to the caller and are
// reused after the call returns.
type DB interface {
	// Read appends key's value to dst and returns the extended slice. It
	// returns an error matching ErrNotFound if the key is absent.
	Read(key, dst []byte) ([]byte, error)
	// Update sets key's value, inserting the key if it is absent.
	Update(key, value []byte) error
	// ReadModifyWrite replaces key's value v with Modify(nil, v) — as one
	// atomic step where the store can do that, otherwise as a read followed
	// by a write (each adapter documents which) — and appends the new value
	// to dst.
	ReadModifyWrite(key, dst []byte) ([]byte, error)
	// Close releases the store.
	Close() error
}

// BatchWriter is implemented by a DB that loads faster when given many
// records at once (for example one that pays a transaction commit per call).
// When a DB implements it, [Load] writes in batches of LoadConfig.BatchSize
// records instead of calling Update per record.
type BatchWriter interface {
	// WriteBatch sets keys[i] to values[i] for every i. The slices are reused
	// by the caller after the call returns.
	WriteBatch(keys, values [][]byte) error
}

// ErrNotFound is the error a DB returns (or wraps) from Read when the key is
// absent. The runner counts such reads in Result.NotFound.
var ErrNotFound = errors.New("ycsb: key not found")

// KeySize is the size in bytes of the keys made by AppendKey.
const KeySize = 8

// AppendKey appends the 8-byte key of item to dst: the big-endian bytes of
// Mix(item). Distinct items have distinct keys.
func AppendKey(dst []byte, item uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, Mix(item))
}

// Mix is a bijection on uint64 (the finalizer of SplitMix64) that scatters
// consecutive item numbers over the key space.
func Mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Modify is the "modify" step of workload F's read-modify-write: it appends
// old to dst and adds one to the little-endian counter in the first eight
// bytes of the copy (in the first len(old) bytes when old is shorter). An
// empty old value becomes an 8-byte counter holding 1. Modify is pure, as
// rskv's RMW requires.
func Modify(dst, old []byte) []byte {
	if len(old) == 0 {
		return binary.LittleEndian.AppendUint64(dst, 1)
	}
	start := len(dst)
	dst = append(dst, old...)
	v := dst[start:]
	if len(v) >= 8 {
		binary.LittleEndian.PutUint64(v, binary.LittleEndian.Uint64(v)+1)
		return dst
	}
	// Short value: add one with carry over the bytes we have.
	for i := range v {
		v[i]++
		if v[i] != 0 {
			break
		}
	}
	return dst
}
