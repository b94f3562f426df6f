package hlog

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// The read cache keeps copies of records read from the segment files, so
// that hot records below the head are served from memory without a system
// call, within the memory budget (Config.ReadCacheBytes, carved out of the
// store's MemorySize).
//
// It is keyed by log address, not by key. That is what makes it simple and
// coherent without invalidation: a record below the head never changes (the
// log below the read-only address is immutable, and what the files hold
// below the head are final images), so the bytes cached for an address are
// the bytes the file holds there for as long as anyone can ask. A newer
// version of a key is a new record at a new address, which the key's chain
// reaches first: the chain decides what is current, and the cache only
// saves the read of a record the chain walk already decided to read. A
// deleted key's tombstone is such a record too. Compaction copies live
// records forward and raises the begin address before it deletes segments;
// readers check an address against the begin address before they read it,
// so entries for addresses below it are never asked for again and simply
// age out. Recovery starts with an empty cache, and the cache is enabled
// only after recovery (Start), which is the only time the files' contents at
// an address below the tail can change (a torn tail cut off and rewritten).
//
// Layout: shards, each a ring of 8-byte words holding entries back to back
// (address, size, then the record's bytes), and a small 2-way index of
// (position, tag) words. Nothing in it is a Go pointer, so the collector
// never scans it. Eviction is FIFO by overwriting the ring, with a second
// chance: a hit on an entry in the older half of its ring copies it to the
// ring's head, so records read often stay (the CLOCK idea, at the cost of a
// copy once per half lap instead of a reference bit). Readers take no lock
// and write nothing shared: they validate their copy against the ring's
// reservation counter (a seqlock; see copyOut). Inserts, which follow a
// disk read, take the shard's mutex with TryLock and skip the insert when
// another goroutine holds it.
type readCache struct {
	shards    []rcShard
	shardMask uint64
}

type rcShard struct {
	// tail is the word position (counting from the start, never wrapping)
	// where the next entry goes. An inserter advances it before it writes
	// the words, so a reader that sees tail-pos <= len(words) after its
	// copy knows no writer had started overwriting the entry.
	tail  atomic.Uint64
	mu    sync.Mutex
	words []uint64
	// slots index entries: pos<<16 | tag (tag's low bit set, so 0 is
	// empty). rcWays adjacent slots, one cache line, are one set.
	slots    []atomic.Uint64
	slotMask uint64
	maxWords uint64 // the largest entry admitted
	_        [64]byte
}

const (
	rcShards       = 16
	rcMinShardRing = 1 << 13 // words: 64 KiB
	rcEntryWords   = 2       // address, size
	rcWays         = 8       // slots per set: 64 bytes
)

// newReadCache returns a cache of about bytes bytes (ring and index), or
// nil if bytes is too small to be worth one.
func newReadCache(bytes int64) *readCache {
	shards := rcShards
	for shards > 1 && bytes/int64(shards) < rcMinShardRing*8*8/7 {
		shards /= 2
	}
	// The index has a power-of-two number of slots, one per 8 to 16 words
	// (at most an eighth of the memory: 1 to 3 slots per entry of a
	// 100-byte value, so that sets rarely overflow); the ring takes the
	// rest.
	perShard := uint64(bytes) / uint64(shards) / 8 // words
	slots := floorPow2u(perShard / 8)
	ringWords := perShard - slots
	if ringWords < rcMinShardRing || slots < rcWays {
		return nil
	}
	c := &readCache{shards: make([]rcShard, shards), shardMask: uint64(shards - 1)}
	for i := range c.shards {
		s := &c.shards[i]
		s.words = make([]uint64, ringWords)
		s.slots = make([]atomic.Uint64, slots)
		s.slotMask = slots - 1
		s.maxWords = ringWords / 16
	}
	return c
}

func floorPow2u(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	p := uint64(1)
	for p <= n/2 {
		p <<= 1
	}
	return p
}

// rcHash mixes an address (splitmix64's finalizer): the shard, the set and
// the tag come from different bits.
func rcHash(addr uint64) uint64 {
	h := addr
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func (c *readCache) locate(addr uint64) (s *rcShard, set uint64, tag uint64) {
	h := rcHash(addr)
	s = &c.shards[h&c.shardMask]
	return s, (h >> 24) & s.slotMask &^ (rcWays - 1), (h>>8)&0xffff | 1
}

// get copies the record cached for addr into buf (grown if needed) and
// returns it, or ok=false.
func (c *readCache) get(addr uint64, buf []byte) (_ []byte, ok bool) {
	s, set, tag := c.locate(addr)
	n := uint64(len(s.words))
	for j := set; j < set+rcWays; j++ {
		v := s.slots[j].Load()
		if v&0xffff != tag {
			continue
		}
		pos := v >> 16
		tail := s.tail.Load()
		if tail-pos > n {
			continue // overwritten
		}
		p := pos % n
		if loadWord(&s.words[p]) != addr {
			continue
		}
		size := loadWord(&s.words[p+1])
		if size == 0 || size%8 != 0 || size/8 > s.maxWords || p+rcEntryWords+size/8 > n {
			continue // torn by an overwrite in progress: the check below would fail too
		}
		if uint64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		copyOut(buf, s.words[p+rcEntryWords:p+rcEntryWords+size/8])
		now := s.tail.Load()
		if now-pos > n {
			return buf, false // overwritten while we copied
		}
		if now-pos > n/2 {
			s.put(addr, buf, tag, set) // second chance: move it to the head
		}
		return buf, true
	}
	return buf, false
}

// put caches rec, a verified record of a multiple of 8 bytes, for addr.
func (c *readCache) put(addr uint64, rec []byte) {
	s, set, tag := c.locate(addr)
	s.put(addr, rec, tag, set)
}

func (s *rcShard) put(addr uint64, rec []byte, tag, set uint64) {
	size := uint64(len(rec))
	need := rcEntryWords + size/8
	if size == 0 || size%8 != 0 || size/8 > s.maxWords {
		return
	}
	if !s.mu.TryLock() {
		return // another insert is under way: a cache may skip one
	}
	n := uint64(len(s.words))
	pos := s.tail.Load()
	if off := pos % n; off+need > n {
		pos += n - off // entries never wrap: skip to the ring's start
	}
	// Reserve before writing: a reader that copied from these words sees
	// tail move past its entry and discards its copy.
	s.tail.Store(pos + need)
	p := pos % n
	storeWord(&s.words[p], addr)
	storeWord(&s.words[p+1], size)
	copyIn(s.words[p+rcEntryWords:p+need], rec)
	// Index it: the slot of the set that holds addr's tag already (a
	// second-chance copy), else an empty one or one whose entry has been
	// overwritten, else the oldest.
	j, best := set, ^uint64(0)
	for k := set; k < set+rcWays; k++ {
		v := s.slots[k].Load()
		if v == 0 || v&0xffff == tag || pos+need-v>>16 > n {
			j = k
			break
		}
		if v>>16 < best {
			j, best = k, v>>16
		}
	}
	s.slots[j].Store(pos<<16 | tag)
	s.mu.Unlock()
}

// wordBytes views words as bytes.
func wordBytes(w []uint64) []byte {
	if len(w) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8)
}
