package hashidx_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hashFor builds a hash with the given tag (top bits) that lands in bucket b
// (low bits) of any index with at most 1<<20 buckets.
func hashFor(tag uint16, b uint64, salt uint64) uint64 {
	return uint64(tag)<<(64-hashidx.TagBits) | salt<<20 | b
}

func TestNewRejectsBadBucketCounts(t *testing.T) {
	for _, n := range []int{0, -1, 3, 1000, 1<<10 + 1} {
		_, err := hashidx.New(n)
		require.Error(t, err, "New(%d)", n)
	}
	for _, n := range []int{1, 2, 1024} {
		x, err := hashidx.New(n)
		require.NoError(t, err, "New(%d)", n)
		require.Equal(t, n, x.Buckets())
	}
}

func TestFindOnEmptyIndex(t *testing.T) {
	x, err := hashidx.New(16)
	require.NoError(t, err)
	_, _, ok := x.Find(hashFor(5, 3, 0))
	require.False(t, ok)
	require.Equal(t, hashidx.Stats{Buckets: 16, Bytes: 16 * 64}, x.Stats())
}

// TestFindOrCreateThenFind checks the documented contract: FindOrCreate
// creates an entry with address 0 that Find returns, for every tag,
// including the smallest and largest.
func TestFindOrCreateThenFind(t *testing.T) {
	tags := []uint16{0, 1, 2, 0x155, 1<<hashidx.TagBits - 1}
	for _, tag := range tags {
		t.Run(fmt.Sprintf("tag%d", tag), func(t *testing.T) {
			x, err := hashidx.New(4)
			require.NoError(t, err)
			h := hashFor(tag, 2, 0)
			s, e := x.FindOrCreate(h)
			require.NotNil(t, s)
			require.Equal(t, uint64(0), e.Address())
			require.Equal(t, hashidx.TagOf(h), e.Tag())
			require.NotZero(t, e.Tag(), "tag 0 would make the created entry the empty slot")
			require.False(t, e.Tentative())

			s2, e2, ok := x.Find(h)
			require.True(t, ok, "Find after FindOrCreate for tag %d", tag)
			require.Equal(t, s, s2)
			require.Equal(t, e, e2)

			// A second FindOrCreate returns the same slot, not a new entry.
			s3, _ := x.FindOrCreate(h)
			require.Equal(t, s, s3)

			// Another key of another tag in the same bucket gets its own slot.
			other := hashFor(tag^2, 2, 0)
			s4, _ := x.FindOrCreate(other)
			require.NotEqual(t, s, s4, "tag %d and tag %d share a slot", tag, tag^2)
			require.Equal(t, 2, x.Stats().Entries)
		})
	}
}

func TestCompareAndSwap(t *testing.T) {
	x, err := hashidx.New(8)
	require.NoError(t, err)
	h := hashFor(77, 5, 0)
	s, e := x.FindOrCreate(h)
	tag := hashidx.TagOf(h)

	next := hashidx.MakeEntry(0x1000, tag)
	require.True(t, hashidx.CompareAndSwap(s, e, next))
	require.Equal(t, next, hashidx.Load(s))
	require.False(t, hashidx.CompareAndSwap(s, e, hashidx.MakeEntry(0x2000, tag)), "stale expected entry must fail")
	require.Equal(t, next, hashidx.Load(s))

	_, found, ok := x.Find(h)
	require.True(t, ok)
	require.Equal(t, uint64(0x1000), found.Address())

	// Keys with the same bucket and tag share the entry.
	_, shared, ok := x.Find(hashFor(77, 5, 99))
	require.True(t, ok)
	require.Equal(t, next, shared)
	// Same tag, other bucket: not found.
	_, _, ok = x.Find(hashFor(77, 6, 0))
	require.False(t, ok)
}

// TestOverflowBuckets fills one bucket chain far past seven entries: overflow
// buckets are linked in, and every tag stays findable.
func TestOverflowBuckets(t *testing.T) {
	x, err := hashidx.New(2)
	require.NoError(t, err)
	const n = 40 // 7 per bucket: 6 overflow buckets at least
	for i := range n {
		h := hashFor(uint16(i+1), 1, 0)
		s, e := x.FindOrCreate(h)
		require.True(t, hashidx.CompareAndSwap(s, e, e.WithAddress(uint64(64*(i+1)))))
	}
	st := x.Stats()
	require.Equal(t, n, st.Entries)
	require.GreaterOrEqual(t, st.OverflowBuckets, (n+6)/7-1)
	require.Equal(t, st.OverflowBuckets, x.OverflowBuckets())
	require.Equal(t, int64(2+st.OverflowBuckets)*64, st.Bytes)
	for i := range n {
		_, e, ok := x.Find(hashFor(uint16(i+1), 1, 0))
		require.True(t, ok, "tag %d", i+1)
		require.Equal(t, uint64(64*(i+1)), e.Address())
	}
	// The other bucket is untouched.
	_, _, ok := x.Find(hashFor(1, 0, 0))
	require.False(t, ok)
}

func TestRangeStopsEarly(t *testing.T) {
	x, err := hashidx.New(4)
	require.NoError(t, err)
	for i := range 10 {
		x.FindOrCreate(hashFor(uint16(i+1), uint64(i%4), 0))
	}
	seen := 0
	x.Range(func(hashidx.Slot, hashidx.Entry) bool { seen++; return seen < 3 })
	require.Equal(t, 3, seen)
}

// TestConcurrentFindOrCreateSameTags has many goroutines create the same new
// tags at once, all in one bucket chain (forcing overflow buckets), then set
// each entry's address by compare-and-swap. No tag may end up with two
// entries, and every goroutine must have been handed the one slot.
func TestConcurrentFindOrCreateSameTags(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 10
	}
	for round := range rounds {
		x, err := hashidx.New(1)
		require.NoError(t, err)
		const workers, ntags = 8, 24
		hashes := make([]uint64, ntags)
		for i := range hashes {
			// Tag 0 and the largest tag are included on purpose.
			hashes[i] = hashFor(uint16((i*677+round)%(1<<hashidx.TagBits)), 0, uint64(i))
		}
		hashes[0] = hashFor(0, 0, 1)
		hashes[1] = hashFor(1<<hashidx.TagBits-1, 0, 2)
		slots := make([][]hashidx.Slot, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range ntags {
					i := (k + w*5) % ntags // different orders per goroutine
					s, e := x.FindOrCreate(hashes[i])
					for e.Address() == 0 {
						if hashidx.CompareAndSwap(s, e, e.WithAddress(uint64(64*(i+1)))) {
							break
						}
						e = hashidx.Load(s)
					}
					slots[w] = append(slots[w], s)
				}
			}()
		}
		wg.Wait()

		perTag := map[uint16]int{}
		x.Range(func(_ hashidx.Slot, e hashidx.Entry) bool {
			perTag[e.Tag()]++
			return true
		})
		for i, h := range hashes {
			tag := hashidx.TagOf(h)
			require.Equal(t, 1, perTag[tag], "round %d: tag %d has %d entries", round, tag, perTag[tag])
			_, e, ok := x.Find(h)
			require.True(t, ok, "round %d: tag %d not found", round, tag)
			assert.Equal(t, uint64(64*(i+1)), e.Address(), "round %d: tag %d", round, tag)
		}
		require.Len(t, perTag, ntags)
		for w := range workers {
			for k, s := range slots[w] {
				i := (k + w*5) % ntags
				want, _, _ := x.Find(hashes[i])
				require.Equal(t, want, s, "round %d worker %d got a second slot for tag %d", round, w, hashidx.TagOf(hashes[i]))
			}
		}
	}
}

// TestConcurrentOverflowGrowth grows many chains concurrently: every created
// tag must remain findable and Stats must agree with Range.
func TestConcurrentOverflowGrowth(t *testing.T) {
	x, err := hashidx.New(4)
	require.NoError(t, err)
	const workers, perWorker = 6, 150
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				tag := uint16(1 + (w*perWorker+i)%(1<<hashidx.TagBits-1))
				x.FindOrCreate(hashFor(tag, uint64(i%4), 0))
			}
		}()
	}
	wg.Wait()
	total := 0
	x.Range(func(hashidx.Slot, hashidx.Entry) bool { total++; return true })
	require.Equal(t, workers*perWorker, total)
	require.Equal(t, total, x.Stats().Entries)
	require.GreaterOrEqual(t, x.OverflowBuckets(), workers*perWorker/7-4)
	for w := range workers {
		for i := range perWorker {
			tag := uint16(1 + (w*perWorker+i)%(1<<hashidx.TagBits-1))
			_, _, ok := x.Find(hashFor(tag, uint64(i%4), 0))
			require.True(t, ok)
		}
	}
}
