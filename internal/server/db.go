package server

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// Store key spaces: the first byte of every store key says what it is (see
// doc.go, "Encoding").
const (
	nsMeta  = 'k' // 'k' key           -> type tag + string value, or hash header
	nsField = 'f' // 'f' id(8) field   -> uvarint slot + field value
	nsSlot  = 'i' // 'i' id(8) slot(8) -> field name
	// nsReserved holds the server's own state, never a user key: in
	// replicated mode the applied raft index and the peers (replicated.go).
	nsReserved = 'r'
)

// Type tags, the first byte of a meta value. A new encoding gets a new tag.
const (
	tagString = 's'
	tagHash   = 'h'
)

// hashVersion is the version byte of hash headers.
const hashVersion = 1

// MaxKeyLen is the longest key the server accepts: the store's limit less
// the one-byte key-space prefix.
const MaxKeyLen = rskv.MaxKeySize - 1

// maxFieldLen is the longest hash field name.
const maxFieldLen = rskv.MaxKeySize - 9

// Errors of the data layer. Commands turn them into Redis error replies.
var (
	errWrongTypeE = errors.New(errWrongType)
	errNotIntE    = errors.New(errNotInt)
	errNotFloatE  = errors.New(errNotFloat)
	errOverflowE  = errors.New(errOverflow)
	errNaNInfE    = errors.New(errNaNInf)
	errHashIntE   = errors.New(errHashNotInt)
	errHashFloatE = errors.New(errHashNotFloat)
	errTooBigE    = errors.New(errTooBig)
	errBadFormat  = errors.New("rskv server: unknown value encoding")
)

const (
	nStripes = 1024
	nShards  = 64
)

// stripe serializes the writers of the keys hashing to it (and the readers
// of hashes, whose commands read several store keys). A plain Mutex: every
// write command takes one, and a Mutex costs two atomic operations where an
// RWMutex's Lock and Unlock cost four; the readers that share one (hash
// reads, the expiry count, touchBegin) are few and short, and 1024 stripes
// make their meeting rare.
type stripe struct {
	sync.Mutex
	// exp indexes the stripe's keys that have an expiry (kv.go, expire.go).
	exp map[string]expEntry
	// watch holds the modification stamps of the stripe's WATCHed keys
	// (multi.go); nil when none is watched.
	watch map[string]*watchEntry
	_     [24]byte // one cache line each
}

type shard struct {
	n atomic.Int64
	_ [56]byte
}

// db is the key space of the server over one Store.
type db struct {
	st      *rskv.Store
	stripes [nStripes]stripe
	// keys counts live keys (meta keys) per shard; DBSIZE sums them.
	keys [nShards]shard
	// clock is the time expiry is judged by; nil: the system clock. A
	// replicated server sets it to the store's clock (Config.Clock).
	clock func() time.Time
	// watching is the number of WATCHed keys (watchEntry) of all
	// connections: while it is 0 a write command costs its load only.
	watching atomic.Int64
}

func newDB(st *rskv.Store) *db { return &db{st: st} }

// now is the server's time for expiry decisions: the system clock, or in
// replicated mode the time of the command being applied, so that every
// replica computes the same expiry and sees the same keys expired.
func (d *db) now() time.Time {
	if d.clock != nil {
		return d.clock()
	}
	return time.Now()
}

func keyHash(key []byte) uint64 { return xxhash.Sum64(key) }

func (d *db) stripeOf(key []byte) *stripe { return &d.stripes[keyHash(key)%nStripes] }

func (d *db) addKeys(key []byte, n int64) { d.keys[keyHash(key)%nShards].n.Add(n) }

// size is the number of keys (DBSIZE).
func (d *db) size() int64 {
	var n int64
	for i := range d.keys {
		n += d.keys[i].n.Load()
	}
	return max(0, n)
}

// lockKeys write-locks the stripes of keys in ascending order, each once,
// and returns the unlock function.
func (d *db) lockKeys(keys [][]byte) func() {
	if len(keys) == 1 {
		s := d.stripeOf(keys[0])
		s.Lock()
		return s.Unlock
	}
	idx := make([]int, 0, len(keys))
	for _, k := range keys {
		idx = append(idx, int(keyHash(k)%nStripes))
	}
	sort.Ints(idx)
	j := 0
	for i, v := range idx {
		if i == 0 || v != idx[j-1] {
			idx[j] = v
			j++
		}
	}
	idx = idx[:j]
	for _, i := range idx {
		d.stripes[i].Lock()
	}
	return func() {
		for k := len(idx) - 1; k >= 0; k-- {
			d.stripes[idx[k]].Unlock()
		}
	}
}

// lockAll write-locks every stripe (FLUSHDB).
func (d *db) lockAll() func() {
	for i := range d.stripes {
		d.stripes[i].Lock()
	}
	return func() {
		for i := len(d.stripes) - 1; i >= 0; i-- {
			d.stripes[i].Unlock()
		}
	}
}

// scratch holds a connection's reusable buffers, so that the hot paths
// build store keys and read values without allocating.
type scratch struct {
	k, k2, v, v2 []byte

	// tx is the transaction the connection's commands run in, nil outside
	// one (kv.go).
	tx *txState
	// exactAt: putAt is given an absolute time (EXAT, PXAT) to keep to the
	// nanosecond, not a relative one.
	exactAt bool

	// putString's RMW state (see setString).
	setFn    func([]byte, bool) []byte
	setVal   []byte
	setFound bool
	setOld   []byte
	setBuf   []byte
}

func metaKey(dst, key []byte) []byte {
	return append(append(dst[:0], nsMeta), key...)
}

func fieldKey(dst []byte, id uint64, field []byte) []byte {
	dst = append(dst[:0], nsField)
	dst = binary.BigEndian.AppendUint64(dst, id)
	return append(dst, field...)
}

func slotKey(dst []byte, id, slot uint64) []byte {
	dst = append(dst[:0], nsSlot)
	dst = binary.BigEndian.AppendUint64(dst, id)
	return binary.BigEndian.AppendUint64(dst, slot)
}

func checkKeyLen(key []byte) error {
	if len(key) > MaxKeyLen {
		return errors.Wrapf(rskv.ErrKeyTooLarge, "key is %d bytes, the limit is %d", len(key), MaxKeyLen)
	}
	return nil
}

// meta reads key's meta value into sc.v: its tag and payload. found is false
// for a missing key.
func (d *db) meta(sc *scratch, key []byte) (tag byte, payload []byte, found bool, err error) {
	if err := checkKeyLen(key); err != nil {
		return 0, nil, false, err
	}
	sc.k = metaKey(sc.k, key)
	sc.v, err = d.read(sc, sc.v[:0], sc.k)
	if errors.Is(err, rskv.ErrNotFound) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	if len(sc.v) == 0 || (sc.v[0] != tagString && sc.v[0] != tagHash) {
		return 0, nil, false, errors.Wrapf(errBadFormat, "key %q has a meta value starting with %q", clip(key), sc.v[:min(1, len(sc.v))])
	}
	return sc.v[0], sc.v[1:], true, nil
}

// getString returns key's string value (aliasing sc.v).
func (d *db) getString(sc *scratch, key []byte) ([]byte, bool, error) {
	tag, v, found, err := d.meta(sc, key)
	if err != nil || !found {
		return nil, false, err
	}
	if tag != tagString {
		return nil, false, errWrongTypeE
	}
	return v, true, nil
}

// putString sets key to a string value with no expiry, replacing whatever
// it held (a hash is dropped). The caller holds key's stripe.
func (d *db) putString(sc *scratch, key, value []byte) error {
	return d.putStringAt(sc, key, value, time.Time{}, false)
}

// putStringAt sets key to a string value expiring at at (zero: never), or
// keeping its expiry if keep. The caller holds key's stripe.
func (d *db) putStringAt(sc *scratch, key, value []byte, at time.Time, keep bool) error {
	if err := checkKeyLen(key); err != nil {
		return err
	}
	if !at.IsZero() && !at.After(d.now()) {
		// Already expired (SET ... PXAT in the past): the key is gone.
		_, err := d.deleteKey(sc, key)
		return err
	}
	if sc.tx == nil && at.IsZero() && !keep {
		if _, timed := d.stripeOf(key).exp[string(key)]; !timed {
			return d.putPlain(sc, key, value)
		}
	}
	tag, _, found, err := d.meta(sc, key)
	if err != nil {
		return err
	}
	var old hashHdr
	if found && tag == tagHash {
		if old, err = decodeHash(sc.v); err != nil {
			return err
		}
	}
	sc.k = metaKey(sc.k, key)
	sc.v2 = append(append(sc.v2[:0], tagString), value...)
	if keep {
		err = d.putKeep(sc, sc.k, sc.v2)
	} else {
		err = d.putAt(sc, sc.k, sc.v2, at)
	}
	if err != nil {
		return err
	}
	if !found {
		if err := d.created(sc, key); err != nil {
			return err
		}
	}
	if !keep {
		d.expires(sc, key, at, 0)
	}
	if found && tag == tagHash {
		return d.dropFields(sc, &old)
	}
	return nil
}

// putPlain is putString for a key with no expiry outside a transaction:
// one store RMW and no allocation (the hot path of SET).
func (d *db) putPlain(sc *scratch, key, value []byte) error {
	sc.k = metaKey(sc.k, key)
	sc.setVal = value
	if sc.setFn == nil {
		sc.setFn = sc.setString // bound once: no closure per SET
	}
	_, err := d.st.RMW(sc.k, sc.setFn)
	sc.setVal = nil
	if err != nil {
		return err
	}
	if !sc.setFound {
		if err := d.created(sc, key); err != nil {
			return err
		}
	}
	if sc.setOld != nil {
		old, err := decodeHash(sc.setOld)
		sc.setOld = nil
		if err != nil {
			return err
		}
		sc.v2 = append(append(sc.v2[:0], tagString), value...)
		if err := d.st.Put(sc.k, sc.v2); err != nil {
			return err
		}
		return d.dropFields(sc, &old)
	}
	return nil
}

// setString is putString's RMW function. A hash is kept as it is (and its
// header saved): putString drops its fields, then overwrites it.
func (sc *scratch) setString(o []byte, found bool) []byte {
	sc.setFound, sc.setOld = found, nil
	if found && len(o) > 0 && o[0] == tagHash {
		sc.setOld = bytes.Clone(o)
		return o
	}
	// Built in our own buffer, not in o: the store copies a value that
	// shares o's memory.
	sc.setBuf = append(append(sc.setBuf[:0], tagString), sc.setVal...)
	return sc.setBuf
}

// deleteKey removes key of any type; the caller holds key's stripe.
func (d *db) deleteKey(sc *scratch, key []byte) (bool, error) {
	tag, payload, found, err := d.meta(sc, key)
	if err != nil || !found {
		return false, err
	}
	var h hashHdr
	if tag == tagHash {
		if h, err = decodeHash(append([]byte{tagHash}, payload...)); err != nil {
			return false, err
		}
	}
	if err := d.del(sc, sc.k); err != nil {
		return false, err
	}
	d.removed(sc, key)
	if tag == tagHash {
		return true, d.dropFields(sc, &h)
	}
	return true, nil
}

// ---- hashes ----

// hashHdr is a decoded hash header.
type hashHdr struct {
	id    uint64
	count uint64
}

// encodeHash encodes a header: tag, version, id, count and a zero byte
// (once the marker of a pending multi-key change; Update made it needless).
func encodeHash(dst []byte, h *hashHdr) []byte {
	dst = append(dst[:0], tagHash, hashVersion)
	dst = binary.BigEndian.AppendUint64(dst, h.id)
	dst = binary.AppendUvarint(dst, h.count)
	return append(dst, 0)
}

// decodeHash decodes a meta value with the hash tag.
func decodeHash(v []byte) (hashHdr, error) {
	if len(v) < 11 || v[0] != tagHash || v[1] != hashVersion {
		return hashHdr{}, errors.Wrapf(errBadFormat, "hash header of %d bytes, version %v", len(v), v[min(1, len(v)-1):min(2, len(v))])
	}
	h := hashHdr{id: binary.BigEndian.Uint64(v[2:10])}
	n, k := binary.Uvarint(v[10:])
	if k <= 0 || 10+k >= len(v) {
		return hashHdr{}, errors.Wrap(errBadFormat, "hash header count")
	}
	if v[10+k] != 0 {
		return hashHdr{}, errors.Wrap(errBadFormat, "hash header with a pending change (written by an older server)")
	}
	h.count = n
	return h, nil
}

// hash loads key's hash header. found is false for a missing (or expired)
// key: a hash's fields are reached only through its header, so they expire
// with it; errWrongTypeE for a string.
func (d *db) hash(sc *scratch, key []byte) (hashHdr, bool, error) {
	tag, _, found, err := d.meta(sc, key)
	if err != nil || !found {
		return hashHdr{}, false, err
	}
	if tag != tagHash {
		return hashHdr{}, false, errWrongTypeE
	}
	h, err := decodeHash(sc.v)
	if err != nil {
		return h, false, err
	}
	return h, true, nil
}

// putHeader writes key's header, keeping the hash's expiry.
func (d *db) putHeader(sc *scratch, key []byte, h *hashHdr) error {
	sc.k = metaKey(sc.k, key)
	sc.v2 = encodeHash(sc.v2, h)
	return d.putKeep(sc, sc.k, sc.v2)
}

// hget returns field's value (aliasing sc.v).
func (d *db) hget(sc *scratch, h *hashHdr, field []byte) ([]byte, bool, error) {
	if len(field) > maxFieldLen {
		return nil, false, nil // no such field can exist
	}
	sc.k2 = fieldKey(sc.k2, h.id, field)
	var err error
	sc.v, err = d.read(sc, sc.v[:0], sc.k2)
	if errors.Is(err, rskv.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	_, n := binary.Uvarint(sc.v)
	if n <= 0 {
		return nil, false, errors.Wrap(errBadFormat, "hash field slot")
	}
	return sc.v[n:], true, nil
}

func checkField(f []byte) error {
	if len(f) > maxFieldLen {
		return errors.Wrapf(rskv.ErrKeyTooLarge, "hash field is %d bytes, the limit is %d", len(f), maxFieldLen)
	}
	return nil
}

// hset sets field/value pairs of key's hash, creating it, and returns how
// many fields were new. The caller holds key's stripe; new fields are
// several store keys, so the caller runs it in a transaction (c.atomic).
func (d *db) hset(sc *scratch, key []byte, pairs [][]byte, onlyNew bool) (int, error) {
	if err := checkKeyLen(key); err != nil {
		return 0, err
	}
	h, found, err := d.hash(sc, key)
	if err != nil {
		return 0, err
	}
	if !found {
		h = hashHdr{id: rand.Uint64()}
	}
	// Split into updates of existing fields and new fields (the last value
	// of a field given twice wins, as in Redis).
	var added [][]byte
	last := make(map[string]int, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		if err := checkField(pairs[i]); err != nil {
			return 0, err
		}
		last[string(pairs[i])] = i
	}
	for i := 0; i < len(pairs); i += 2 {
		if last[string(pairs[i])] != i {
			continue
		}
		_, ok, err := d.hget(sc, &h, pairs[i])
		if err != nil {
			return 0, err
		}
		if ok {
			if onlyNew {
				continue
			}
			if err := d.setField(sc, &h, pairs[i], pairs[i+1]); err != nil {
				return 0, err
			}
			continue
		}
		added = append(added, pairs[i], pairs[i+1])
	}
	if len(added) == 0 {
		return 0, nil
	}
	for i := 0; i < len(added); i += 2 {
		slot := h.count + uint64(i/2)
		if err := d.writeField(sc, &h, slot, added[i], added[i+1]); err != nil {
			return 0, err
		}
		sc.k2 = slotKey(sc.k2, h.id, slot)
		if err := d.put(sc, sc.k2, added[i]); err != nil {
			return 0, err
		}
	}
	h.count += uint64(len(added) / 2)
	if err := d.putHeader(sc, key, &h); err != nil {
		return 0, err
	}
	if !found {
		if err := d.created(sc, key); err != nil {
			return 0, err
		}
	}
	return len(added) / 2, nil
}

func (d *db) writeField(sc *scratch, h *hashHdr, slot uint64, field, value []byte) error {
	sc.k2 = fieldKey(sc.k2, h.id, field)
	sc.v2 = binary.AppendUvarint(sc.v2[:0], slot)
	sc.v2 = append(sc.v2, value...)
	return d.put(sc, sc.k2, sc.v2)
}

// setField replaces an existing field's value, keeping its slot, in one
// store write.
func (d *db) setField(sc *scratch, h *hashHdr, field, value []byte) error {
	sc.k2 = fieldKey(sc.k2, h.id, field)
	_, err := d.rmw(sc, sc.k2, func(old []byte, found bool) []byte {
		_, n := binary.Uvarint(old)
		return append(old[:max(n, 0)], value...)
	})
	return err
}

// rmwField runs fn on an existing field's value in one atomic store RMW
// (HINCRBY, HINCRBYFLOAT). fn returns the new value or an error, in which
// case the value is kept.
func (d *db) rmwField(sc *scratch, h *hashHdr, field []byte, fn func(v []byte) ([]byte, error)) ([]byte, error) {
	sc.k2 = fieldKey(sc.k2, h.id, field)
	var ferr error
	var out []byte
	_, err := d.rmw(sc, sc.k2, func(old []byte, found bool) []byte {
		_, n := binary.Uvarint(old)
		n = max(n, 0)
		nv, e := fn(old[n:])
		ferr = e
		if e != nil {
			return old
		}
		out = append(out[:0], nv...)
		return append(old[:n], nv...)
	})
	if err != nil {
		return nil, err
	}
	return out, ferr
}

// fieldAt returns the name of the field in slot.
func (d *db) fieldAt(sc *scratch, h *hashHdr, slot uint64) ([]byte, error) {
	sc.k2 = slotKey(sc.k2, h.id, slot)
	v, err := d.read(sc, nil, sc.k2)
	if err != nil {
		return nil, errors.Wrapf(err, "hash slot %d of %d", slot, h.count)
	}
	return v, nil
}

// hdel removes fields and returns how many existed. A hash left empty is
// deleted, as in Redis. The caller holds key's stripe and runs it in a
// transaction (c.atomic): a removal moves the last slot's field.
func (d *db) hdel(sc *scratch, key []byte, fields [][]byte) (int, error) {
	h, found, err := d.hash(sc, key)
	if err != nil || !found {
		return 0, err
	}
	removed := 0
	for _, f := range fields {
		if len(f) > maxFieldLen {
			continue
		}
		sc.k2 = fieldKey(sc.k2, h.id, f)
		v, err := d.read(sc, nil, sc.k2)
		if errors.Is(err, rskv.ErrNotFound) {
			continue
		}
		if err != nil {
			return removed, err
		}
		slot, n := binary.Uvarint(v)
		if n <= 0 || slot >= h.count {
			return removed, errors.Wrapf(errBadFormat, "hash field slot %d of %d", slot, h.count)
		}
		lastName, err := d.fieldAt(sc, &h, h.count-1)
		if err != nil {
			return removed, err
		}
		if err := d.removeField(sc, &h, slot, f, lastName); err != nil {
			return removed, err
		}
		h.count--
		removed++
		if h.count == 0 {
			sc.k = metaKey(sc.k, key)
			if err := d.del(sc, sc.k); err != nil {
				return removed, err
			}
			d.removed(sc, key)
			return removed, nil
		}
	}
	if removed > 0 {
		return removed, d.putHeader(sc, key, &h)
	}
	return removed, nil
}

// removeField deletes field f in slot, moving the last slot's field into
// the slot freed.
func (d *db) removeField(sc *scratch, h *hashHdr, slot uint64, f, lastName []byte) error {
	last := h.count - 1
	if slot != last && !bytes.Equal(f, lastName) {
		sc.k2 = slotKey(sc.k2, h.id, slot)
		if err := d.put(sc, sc.k2, lastName); err != nil {
			return err
		}
		sc.k2 = fieldKey(sc.k2, h.id, lastName)
		if _, err := d.rmw(sc, sc.k2, func(old []byte, found bool) []byte {
			_, n := binary.Uvarint(old)
			var b [binary.MaxVarintLen64]byte
			return append(binary.AppendUvarint(b[:0], slot), old[max(n, 0):]...)
		}); err != nil {
			return err
		}
	}
	sc.k2 = fieldKey(sc.k2, h.id, f)
	if err := d.del(sc, sc.k2); err != nil {
		return err
	}
	sc.k2 = slotKey(sc.k2, h.id, last)
	return d.del(sc, sc.k2)
}

// hiter calls fn for the fields in slots from down to 0, until fn returns
// false; it returns the next slot to visit plus one (0: done). Going down
// is what makes HSCAN's guarantee hold across removals (see doc.go).
func (d *db) hiter(sc *scratch, h *hashHdr, from uint64, fn func(field, value []byte) bool) (uint64, error) {
	for s := min(from, h.count); s > 0; s-- {
		name, err := d.fieldAt(sc, h, s-1)
		if err != nil {
			return 0, err
		}
		v, ok, err := d.hget(sc, h, name)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, errors.Wrapf(errBadFormat, "hash slot %d names a missing field", s-1)
		}
		if !fn(name, v) {
			return s - 1, nil
		}
	}
	return 0, nil
}

// dropFields deletes the fields and slots of a hash whose header is gone
// (in the caller's transaction, if any). A crash half way outside one
// leaves keys of an id no header names: startup removes them.
func (d *db) dropFields(sc *scratch, h *hashHdr) error {
	for s := uint64(0); s < h.count; s++ {
		sc.k2 = slotKey(sc.k2, h.id, s)
		name, err := d.read(sc, nil, sc.k2)
		if errors.Is(err, rskv.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		sc.k2 = fieldKey(sc.k2, h.id, name)
		if err := d.del(sc, sc.k2); err != nil {
			return err
		}
		sc.k2 = slotKey(sc.k2, h.id, s)
		if err := d.del(sc, sc.k2); err != nil {
			return err
		}
	}
	return nil
}

// dropAll deletes the fields of an expired hash, whose count is gone with
// its header: the slots are dense, so it walks them up to the first gap.
// It runs on the store itself, never in a transaction.
func (d *db) dropAll(sc *scratch, id uint64) error {
	var s2 scratch
	for s := uint64(0); ; s++ {
		s2.k2 = slotKey(s2.k2, id, s)
		name, err := d.st.Get(s2.k2)
		if errors.Is(err, rskv.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := d.st.Delete(fieldKey(s2.k, id, name)); err != nil && !errors.Is(err, rskv.ErrNotFound) {
			return err
		}
		if err := d.st.Delete(s2.k2); err != nil && !errors.Is(err, rskv.ErrNotFound) {
			return err
		}
	}
}

// rawMeta returns a copy of key's raw meta value.
func (d *db) rawMeta(sc *scratch, key []byte) ([]byte, bool, error) {
	_, _, found, err := d.meta(sc, key)
	if err != nil || !found {
		return nil, false, err
	}
	return bytes.Clone(sc.v), true, nil
}

// rename moves src's value and expiry to dst, replacing dst. The caller
// holds both stripes and runs it in a transaction (c.atomic): all or
// nothing, to readers and across a crash.
func (d *db) rename(sc *scratch, src, dst []byte, onlyNew bool) (bool, error) {
	if err := checkKeyLen(dst); err != nil {
		return false, err
	}
	val, found, err := d.rawMeta(sc, src)
	if err != nil {
		return false, err
	}
	if !found {
		return false, errNoSuchKeyE
	}
	if bytes.Equal(src, dst) {
		return !onlyNew, nil
	}
	at, _, err := d.expiry(sc, metaKey(nil, src))
	if err != nil {
		return false, err
	}
	old, dstFound, err := d.rawMeta(sc, dst)
	if err != nil {
		return false, err
	}
	if dstFound && onlyNew {
		return false, nil
	}
	if err := d.putAt(sc, metaKey(nil, dst), val, at); err != nil {
		return false, err
	}
	if err := d.del(sc, metaKey(nil, src)); err != nil {
		return false, err
	}
	d.removed(sc, src)
	if !dstFound {
		if err := d.created(sc, dst); err != nil {
			return false, err
		}
	}
	var hid uint64
	if val[0] == tagHash {
		h, err := decodeHash(val)
		if err != nil {
			return false, err
		}
		hid = h.id
	}
	d.expires(sc, dst, at, hid)
	if dstFound && old[0] == tagHash {
		h, err := decodeHash(old)
		if err != nil {
			return false, err
		}
		if err := d.dropFields(sc, &h); err != nil {
			return false, err
		}
	}
	return true, nil
}

var errNoSuchKeyE = errors.New(errNoSuchKey)

// flushBatch is how many keys one FLUSHDB batch deletes: a batch is
// atomic, a whole FLUSHDB is not (a crash may leave a part of the keys;
// each key, and each hash, is wholly there or gone... see doc.go).
const flushBatch = 4096

// flush deletes every key (FLUSHDB) in batches of flushBatch. The caller
// holds every stripe.
func (d *db) flush() error {
	b := d.st.NewBatch()
	var berr error
	err := d.st.Scan(nil, func(k, v []byte) bool {
		if k[0] == nsReserved {
			return true // not a user key: replication state (replicated.go)
		}
		b.Delete(k)
		if b.Len() >= flushBatch {
			if berr = b.Commit(); berr != nil {
				return false
			}
			b.Reset()
		}
		return true
	})
	if err == nil {
		err = berr
	}
	if err == nil && b.Len() > 0 {
		err = b.Commit()
	}
	if err != nil {
		return err
	}
	for i := range d.keys {
		d.keys[i].n.Store(0)
	}
	for i := range d.stripes {
		clear(d.stripes[i].exp)
	}
	return nil
}
