package hashidx

import (
	"encoding/binary"
	"io"
	"math/bits"

	"github.com/cockroachdb/errors"
)

// A snapshot is the index written as little-endian words, sparse: the main
// buckets in groups of 64, each group a 64-bit mask of its non-empty buckets
// followed by those buckets (64 bytes each); then the overflow buckets, all
// of them. Overflow links are kept as written (1 + overflow index). A
// mostly empty index therefore costs about a bit per bucket.
//
// WriteSnapshot is fuzzy: it reads each word atomically while other
// goroutines keep updating the index. What it guarantees is enough for
// recovery: every entry that existed when WriteSnapshot started is in the
// snapshot, holding that address or a newer one. A bucket that filled, or an
// overflow bucket that was linked, after the start may be missing (a link
// beyond the snapshot is dropped at load); any entry there was created after
// the start, and recovery replays the log from a point before the start to
// restore such entries.

const groupBuckets = 64

// WriteSnapshot writes the index to w and returns its shape (the numbers of
// main and overflow buckets) and the number of bytes written. Tentative
// entries are written as empty.
//
// A growth in progress is finished first, and the new table written. If a
// growth starts while WriteSnapshot runs, the table being written is the
// old one: its entries freeze as they move, holding the values they had
// then, which are at least as new as at the start (what recovery needs).
func (x *Index) WriteSnapshot(w io.Writer) (buckets, overflow int, written int64, err error) {
	x.walkMu.RLock() // the table must stay mapped while it is written
	defer x.walkMu.RUnlock()
	if x.closed {
		return 0, 0, 0, errors.New("hashidx: snapshot of a closed index")
	}
	t := x.t.Load()
	if cur := x.finishGrowth(); cur != nil {
		t = cur
	}
	n := t.overflow.n.Load() // before the main pass: see the type comment
	buf := make([]byte, 0, 8+groupBuckets*64)
	var words [entriesPerBucket + 1]uint64
	load := func(b *bucket) bool {
		empty := true
		for i := 0; i <= entriesPerBucket; i++ {
			v := b[i].Load()
			if i < entriesPerBucket {
				// A commit's lock is not state: the snapshot holds the
				// entry as it was before the commit (recovery replays it).
				v = uint64(Entry(v).stored())
			} else {
				v &^= movedLink
			}
			words[i] = v
			empty = empty && v == 0
		}
		return !empty
	}
	put := func() {
		for _, v := range words {
			buf = binary.LittleEndian.AppendUint64(buf, v)
		}
	}
	flush := func() error {
		k, err := w.Write(buf)
		written += int64(k)
		buf = buf[:0]
		return err
	}
	for g := 0; g < len(t.buckets); g += groupBuckets {
		buf = append(buf, make([]byte, 8)...) // the mask, filled below
		var mask uint64
		for i := 0; i < groupBuckets && g+i < len(t.buckets); i++ {
			if load(&t.buckets[g+i]) {
				mask |= 1 << i
				put()
			}
		}
		binary.LittleEndian.PutUint64(buf[:8], mask)
		if err := flush(); err != nil {
			return 0, 0, written, errors.Wrap(err, "hashidx: write snapshot")
		}
	}
	for i := uint64(0); i < n; i++ {
		load(t.overflow.at(i))
		put()
		if len(buf) >= groupBuckets*64 {
			if err := flush(); err != nil {
				return 0, 0, written, errors.Wrap(err, "hashidx: write snapshot")
			}
		}
	}
	if err := flush(); err != nil {
		return 0, 0, written, errors.Wrap(err, "hashidx: write snapshot")
	}
	return len(t.buckets), int(n), written, nil
}

// SnapshotSize returns the least and the greatest size in bytes of a
// snapshot of an index with the given numbers of buckets and overflow
// buckets (all main buckets empty, all full). A reader checks a snapshot's
// shape against the bytes it really has before LoadSnapshot allocates the
// index, so that a damaged or forged shape cannot demand a huge allocation.
func SnapshotSize(buckets, overflow int) (least, most int64) {
	groups := (int64(buckets) + groupBuckets - 1) / groupBuckets
	least = groups*8 + int64(overflow)*64
	return least, least + int64(buckets)*64
}

// LoadSnapshot reads an index of the given shape written by WriteSnapshot.
// Links to overflow buckets beyond the snapshot are dropped. On error the
// index it was filling is closed (its table may be a mapping).
func LoadSnapshot(r io.Reader, buckets, overflow int) (*Index, error) {
	x, err := New(buckets)
	if err != nil {
		return nil, err
	}
	if err := x.loadSnapshot(r, overflow); err != nil {
		x.Close()
		return nil, err
	}
	return x, nil
}

func (x *Index) loadSnapshot(r io.Reader, overflow int) error {
	buckets := x.Buckets()
	t := x.t.Load()
	for i := 0; i < overflow; i++ {
		t.overflow.alloc()
	}
	buf := make([]byte, groupBuckets*64)
	read := func(b *bucket) error {
		if _, err := io.ReadFull(r, buf[:64]); err != nil {
			return err
		}
		for w := 0; w <= entriesPerBucket; w++ {
			v := binary.LittleEndian.Uint64(buf[w*8:])
			if w == overflowSlot && v > uint64(overflow) {
				v = 0
			}
			if w < entriesPerBucket {
				v = uint64(Entry(v).stored()) // no lock is held across a restart
			}
			b[w].Store(v)
		}
		return nil
	}
	var maskBuf [8]byte
	for g := 0; g < buckets; g += groupBuckets {
		if _, err := io.ReadFull(r, maskBuf[:]); err != nil {
			return errors.Wrap(err, "hashidx: read snapshot")
		}
		mask := binary.LittleEndian.Uint64(maskBuf[:])
		if g+groupBuckets > buckets && mask>>(buckets-g) != 0 {
			return errors.Newf("hashidx: snapshot group %d marks buckets beyond the index", g/groupBuckets)
		}
		for ; mask != 0; mask &= mask - 1 {
			if err := read(&t.buckets[g+bits.TrailingZeros64(mask)]); err != nil {
				return errors.Wrap(err, "hashidx: read snapshot")
			}
		}
	}
	for i := 0; i < overflow; i++ {
		if err := read(t.overflow.at(uint64(i))); err != nil {
			return errors.Wrap(err, "hashidx: read snapshot")
		}
	}
	if uint64(overflow) >= t.growAt && buckets < MaxBuckets {
		x.wantGrow.Store(true)
	}
	return nil
}
