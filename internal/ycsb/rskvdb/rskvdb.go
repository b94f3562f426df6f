package rskvdb

import (
	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/ycsb"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// DB is a ycsb.DB backed by an rskv Store. It is safe for concurrent use.
type DB struct {
	s *rskv.Store
}

var _ ycsb.DB = (*DB)(nil)

// New returns a DB over s. Closing the DB closes s.
func New(s *rskv.Store) *DB { return &DB{s: s} }

// Open opens the store in dir with opts and returns it as a DB.
func Open(dir string, opts *rskv.Options) (*DB, error) {
	s, err := rskv.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return New(s), nil
}

// Store returns the underlying Store.
func (d *DB) Store() *rskv.Store { return d.s }

// Read appends key's value to dst with Store.AppendValue.
func (d *DB) Read(key, dst []byte) ([]byte, error) {
	v, err := d.s.AppendValue(dst, key)
	if err != nil && errors.Is(err, rskv.ErrNotFound) {
		return v, ycsb.ErrNotFound
	}
	return v, err
}

// Update sets key's value with Store.Put.
func (d *DB) Update(key, value []byte) error { return d.s.Put(key, value) }

// ReadModifyWrite applies ycsb.Modify to key's value atomically with
// Store.RMW. An absent key gets the value Modify gives an empty one.
//
// The function builds the new value in dst's spare room (Modify appends to
// it), not in a new slice: Store.RMW keeps no reference to what fn returns
// (it copies it into the log), so, like the other adapters' in-place
// modification, an RMW allocates nothing when dst has room. The function
// is pure, as Store.RMW requires: run again, it rebuilds the same bytes.
func (d *DB) ReadModifyWrite(key, dst []byte) ([]byte, error) {
	base := len(dst)
	nv, err := d.s.RMW(key, func(old []byte, _ bool) []byte { return ycsb.Modify(dst[:base], old)[base:] })
	if err != nil {
		return dst, err
	}
	return append(dst, nv...), nil
}

// Close closes the store.
func (d *DB) Close() error { return d.s.Close() }
