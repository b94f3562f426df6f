package rskv

import (
	"bytes"
	"cmp"
	"slices"
	"time"

	"github.com/rskv-go/rskv/internal/hlog"
)

// Batch is a set of blind writes (puts and deletes) that Commit applies
// atomically. Build it with Store.NewBatch. A Batch is not safe for
// concurrent use; it may be reused after Reset. It holds copies of its keys
// and values, so its size is bounded only by memory.
type Batch struct {
	s     *Store
	arena []byte // the keys and values, back to back
	ops   []batchOp
}

type batchOpKind uint8

const (
	opPut batchOpKind = iota
	opPutTTL
	opDelete
)

// batchOp is one queued write; its key and value are arena[off:off+klen]
// and the vlen bytes after.
type batchOp struct {
	off        int
	klen, vlen int
	ttl        time.Duration
	kind       batchOpKind
}

// NewBatch returns an empty batch of writes to s.
func (s *Store) NewBatch() *Batch { return &Batch{s: s} }

func (b *Batch) add(kind batchOpKind, key, value []byte, ttl time.Duration) {
	off := len(b.arena)
	b.arena = append(append(b.arena, key...), value...)
	b.ops = append(b.ops, batchOp{off: off, klen: len(key), vlen: len(value), ttl: ttl, kind: kind})
}

// Put queues setting key to value. The batch keeps its own copies.
func (b *Batch) Put(key, value []byte) { b.add(opPut, key, value, 0) }

// PutTTL queues setting key to value with an expiry ttl from the moment of
// Commit, as Store.PutTTL. A ttl that is not positive fails the Commit with
// ErrInvalidTTL.
func (b *Batch) PutTTL(key, value []byte, ttl time.Duration) { b.add(opPutTTL, key, value, ttl) }

// Delete queues removing key. Deleting an absent key is not an error.
func (b *Batch) Delete(key []byte) { b.add(opDelete, key, nil, 0) }

// Len returns the number of writes queued (a key written twice counts twice).
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties the batch, keeping its memory for reuse.
func (b *Batch) Reset() {
	b.arena = b.arena[:0]
	b.ops = b.ops[:0]
}

func (b *Batch) key(op *batchOp) []byte { return b.arena[op.off : op.off+op.klen] }
func (b *Batch) value(op *batchOp) []byte {
	return b.arena[op.off+op.klen : op.off+op.klen+op.vlen]
}

// Commit applies the batch atomically: no reader ever sees part of it (Get,
// Has, View, Update; Scan is not a snapshot), and after a crash either all of
// its writes survive or none. Every write is checked first: a bad key, value
// or TTL fails the whole batch with that write's error (ErrEmptyKey,
// ErrKeyTooLarge, ErrValueTooLarge, ErrInvalidTTL) and applies nothing.
// Within the batch the last write to a key wins. Durability follows SyncMode
// as Put's does (SyncAlways: durable on return). Commit does not empty the
// batch (Reset does); committing it again writes it again. It returns
// ErrClosed on a closed store and ErrReadOnly on a read-only one.
func (b *Batch) Commit() error {
	s := b.s
	if err := s.writable(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	keys, err := b.prepare()
	if err != nil {
		return err
	}
	return s.commitKeys(keys)
}

// prepare validates the batch and returns its writes, one per key (the
// last), in hash order.
func (b *Batch) prepare() ([]commitKey, error) {
	s := b.s
	var stored []byte // values with an expiry prefix, back to back
	for i := range b.ops {
		op := &b.ops[i]
		key := b.key(op)
		switch op.kind {
		case opDelete:
			if err := checkKey(key); err != nil {
				return nil, err
			}
		case opPutTTL:
			if err := checkTTL(op.ttl); err != nil {
				return nil, err
			}
			if err := s.checkRecord(key, 8+op.vlen); err != nil {
				return nil, err
			}
		default:
			if err := s.checkRecord(key, op.vlen); err != nil {
				return nil, err
			}
		}
	}
	keys := make([]commitKey, len(b.ops))
	var storedAt []int
	for i := range b.ops {
		op := &b.ops[i]
		k := &keys[i]
		k.key, k.h, k.write = b.key(op), hashKey(b.key(op)), true
		switch op.kind {
		case opDelete:
			k.del = true
		case opPutTTL:
			storedAt = append(storedAt, i, len(stored))
			stored = withExpiry(stored, b.value(op), s.deadline(op.ttl))
			k.flags = hlog.FlagExpiry
		default:
			k.value = b.value(op)
		}
	}
	for j := 0; j < len(storedAt); j += 2 {
		i, off := storedAt[j], storedAt[j+1]
		keys[i].value = stored[off : off+8+b.ops[i].vlen]
	}
	return dedupe(keys), nil
}

// dedupe sorts keys by hash (the commit's locking order) and keeps only the
// last write of each key; keys must be in the order written.
func dedupe(keys []commitKey) []commitKey {
	order := make([]int32, len(keys))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		ka, kb := &keys[a], &keys[b]
		if c := cmp.Compare(ka.h, kb.h); c != 0 {
			return c
		}
		if c := bytes.Compare(ka.key, kb.key); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	out := make([]commitKey, 0, len(keys))
	for j, i := range order {
		if j+1 < len(order) {
			if n := &keys[order[j+1]]; n.h == keys[i].h && bytes.Equal(n.key, keys[i].key) {
				continue // a later write to the same key wins
			}
		}
		out = append(out, keys[i])
	}
	return out
}
