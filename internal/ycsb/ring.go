package ycsb

import (
	"math/rand/v2"

	"github.com/cockroachdb/errors"
)

// KeyRing is a sequence of item numbers drawn ahead of time from a Chooser,
// which a run's goroutines replay instead of drawing live, each starting at
// its own offset and wrapping around. FASTER's YCSB benchmark does the same
// (it loads a pre-generated key file): drawing a zipfian item costs a
// math.Pow, about as much as a whole in-memory map lookup, and that cost
// would otherwise be charged to the store under test. A ring several times
// larger than the item count keeps the distribution of the live chooser.
// A KeyRing is immutable and may be shared by runs and goroutines. Items
// are kept in 32 bits (4 bytes per draw, not 8): in the harness's cgroup
// mode the ring is charged to the engine's memory limit, so its size is
// page cache the engine under test does not get.
type KeyRing struct {
	items []uint32
	n     uint64
}

// MaxRingItems is the largest item count a KeyRing draws over.
const MaxRingItems = 1 << 32

// NewKeyRing draws size items from c, which chooses in [0, n), with a
// source seeded by seed.
func NewKeyRing(c Chooser, n uint64, size int, seed uint64) (*KeyRing, error) {
	if size <= 0 || n == 0 {
		return nil, errors.Newf("ycsb: key ring needs a positive size and item count (size %d, items %d)", size, n)
	}
	if n > MaxRingItems {
		return nil, errors.Newf("ycsb: key ring over %d items: at most %d", n, uint64(MaxRingItems))
	}
	r := rand.New(rand.NewPCG(seed, 0x6b657972696e67)) // "keyring"
	items := make([]uint32, size)
	for i := range items {
		items[i] = uint32(c.Next(r))
	}
	return &KeyRing{items: items, n: n}, nil
}

// Len returns the number of items in the ring.
func (k *KeyRing) Len() int { return len(k.items) }

// Items returns the item count the ring was drawn over.
func (k *KeyRing) Items() uint64 { return k.n }

// At returns the i-th item of the ring, wrapping around.
func (k *KeyRing) At(i uint64) uint64 { return uint64(k.items[i%uint64(len(k.items))]) }
