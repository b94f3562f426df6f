package hashidx

import (
	"encoding/binary"
	"io"

	"github.com/cockroachdb/errors"
)

// A snapshot is the index written as little-endian words: the main buckets,
// then the overflow buckets, 64 bytes each, with overflow links kept as
// written (1 + overflow index).
//
// WriteSnapshot is fuzzy: it reads each word atomically while other
// goroutines keep updating the index. What it guarantees is enough for
// recovery: every entry that existed when WriteSnapshot started is in the
// snapshot, holding that address or a newer one. An overflow bucket linked
// after the start may be missing (its link is dropped at load); any entry in
// it was created after the start, and recovery replays the log from a point
// before the start to restore such entries.

// SnapshotSize returns the bytes WriteSnapshot writes for overflow buckets.
func SnapshotSize(buckets, overflow int) int64 { return int64(buckets+overflow) * 64 }

// WriteSnapshot writes the index to w and returns the number of overflow
// buckets written. Tentative entries are written as empty.
func (x *Index) WriteSnapshot(w io.Writer) (overflow int, err error) {
	n := x.overflow.n.Load() // before the main pass: see the type comment
	buf := make([]byte, 0, 64*1024)
	put := func(b *bucket) error {
		for i := 0; i <= entriesPerBucket; i++ {
			v := b[i].Load()
			if i < entriesPerBucket && Entry(v).Tentative() {
				v = 0
			}
			buf = binary.LittleEndian.AppendUint64(buf, v)
		}
		if len(buf) == cap(buf) {
			_, err := w.Write(buf)
			buf = buf[:0]
			return err
		}
		return nil
	}
	for i := range x.buckets {
		if err := put(&x.buckets[i]); err != nil {
			return 0, errors.Wrap(err, "hashidx: write snapshot")
		}
	}
	for i := uint64(0); i < n; i++ {
		if err := put(x.overflow.at(i)); err != nil {
			return 0, errors.Wrap(err, "hashidx: write snapshot")
		}
	}
	if len(buf) > 0 {
		if _, err := w.Write(buf); err != nil {
			return 0, errors.Wrap(err, "hashidx: write snapshot")
		}
	}
	return int(n), nil
}

// LoadSnapshot reads an index of the given shape written by WriteSnapshot.
// Links to overflow buckets beyond the snapshot are dropped.
func LoadSnapshot(r io.Reader, buckets, overflow int) (*Index, error) {
	x, err := New(buckets)
	if err != nil {
		return nil, err
	}
	for i := 0; i < overflow; i++ {
		x.overflow.alloc()
	}
	buf := make([]byte, 64*1024)
	total := buckets + overflow
	for done := 0; done < total; {
		k := min(len(buf)/64, total-done)
		if _, err := io.ReadFull(r, buf[:k*64]); err != nil {
			return nil, errors.Wrap(err, "hashidx: read snapshot")
		}
		for j := 0; j < k; j++ {
			var b *bucket
			if i := done + j; i < buckets {
				b = &x.buckets[i]
			} else {
				b = x.overflow.at(uint64(i - buckets))
			}
			for w := 0; w <= entriesPerBucket; w++ {
				v := binary.LittleEndian.Uint64(buf[j*64+w*8:])
				if w == overflowSlot && v > uint64(overflow) {
					v = 0
				}
				if w < entriesPerBucket && Entry(v).Tentative() {
					v = 0
				}
				b[w].Store(v)
			}
		}
		done += k
	}
	return x, nil
}
