package rskv

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPromoterSlots: the filter's window grows with the memory size but
// stays within [promoteMinSlots, promoteMaxSlots], whatever the budget.
func TestPromoterSlots(t *testing.T) {
	for _, c := range []struct {
		memory int64
		slots  int
	}{
		{0, promoteMinSlots},
		{1 << 20, promoteMinSlots},
		{2 << 20, 2 << 10},
		{4 << 20, 4 << 10},
		{16 << 20, promoteMaxSlots},
		{128 << 20, promoteMaxSlots},
		{64 << 30, promoteMaxSlots},
	} {
		p := newPromoter(c.memory)
		require.Equal(t, c.slots, len(p.seen), "memory %d", c.memory)
		require.Equal(t, c.slots, 1<<p.bits, "memory %d: bits must index the whole table", c.memory)
	}
	require.Equal(t, 1<<14, promoteMaxSlots, "the window is 16Ki disk reads: see the comment on promoteMaxSlots")
}

// TestPromoterSecondHit: the first disk read of an address remembers it,
// the second reports it (and forgets it, so a third read starts over).
func TestPromoterSecondHit(t *testing.T) {
	p := newPromoter(128 << 20)
	const a, b = 0x10_0040, 0x20_0080
	require.False(t, p.secondHit(a), "first read")
	require.False(t, p.secondHit(b), "first read of another address")
	require.True(t, p.secondHit(a), "second read")
	require.False(t, p.secondHit(a), "the second hit cleared the slot")
	require.True(t, p.secondHit(a), "and the next read is a second hit again")
	require.True(t, p.secondHit(b))
}

// uniformAddr returns record addresses spread over records records of
// recSize bytes, as a uniform read workload over data on disk draws them.
func uniformAddr(r *rand.Rand, records uint64, recSize uint64) uint64 {
	return 1<<20 + r.Uint64N(records)*recSize
}

// TestPromoterUniformFalsePositives: under uniform reads over 4M records
// on disk almost no read is a second hit, so almost nothing is copied to
// the tail for nothing. The 64Ki-slot table this replaced promoted ~1.6%
// of such reads; 16Ki slots promote ~0.4%.
func TestPromoterUniformFalsePositives(t *testing.T) {
	p := newPromoter(128 << 20)
	r := rand.New(rand.NewPCG(1, 2))
	const reads, records = 400_000, 4_000_000
	hits := 0
	for range reads {
		if p.secondHit(uniformAddr(r, records, 144)) {
			hits++
		}
	}
	frac := float64(hits) / reads
	t.Logf("%d of %d uniform disk reads were second hits (%.3f%%)", hits, reads, 100*frac)
	require.Less(t, frac, 0.008, "uniform one-off reads must rarely be promoted")

	// The old table, for contrast: the same stream through 64Ki slots.
	old := &promoter{seen: make([]atomic.Uint64, 1<<16), bits: 16}
	r = rand.New(rand.NewPCG(1, 2))
	oldHits := 0
	for range reads {
		if old.secondHit(uniformAddr(r, records, 144)) {
			oldHits++
		}
	}
	require.Greater(t, oldHits, 3*hits, "a 4x larger window promotes several times more one-off reads")
}

// TestPromoterHotAmongUniform: a hot record read once in every 100 disk
// reads, among uniform one-off reads, is still promoted on (nearly) every
// second read: the small window is wide enough for what is really hot.
func TestPromoterHotAmongUniform(t *testing.T) {
	p := newPromoter(128 << 20)
	r := rand.New(rand.NewPCG(3, 4))
	const hot = 0xdead_0000
	hotReads, hotHits := 0, 0
	for i := range 200_000 {
		if i%100 == 0 {
			hotReads++
			if p.secondHit(hot) {
				hotHits++
			}
			continue
		}
		p.secondHit(uniformAddr(r, 4_000_000, 144))
	}
	// Ideal: every second read hits (hotReads/2). A one-off read that
	// lands on the hot record's slot in between costs one miss.
	require.Greater(t, hotHits, hotReads*45/100, "hot record promoted on %d of %d reads", hotHits, hotReads)
}
