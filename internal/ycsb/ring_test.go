package ycsb

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeyRingItemsIn32Bits(t *testing.T) {
	const n = MaxRingItems // the largest item count: items up to 2^32-1
	k, err := NewKeyRing(Uniform{N: n}, n, 1000, 7)
	require.NoError(t, err)
	high := false
	for i := range uint64(k.Len()) {
		it := k.At(i)
		require.Less(t, it, uint64(n))
		high = high || it >= 1<<31
	}
	require.True(t, high, "no draw used the top bit: items are truncated")
	_, err = NewKeyRing(Uniform{N: n + 1}, n+1, 10, 7)
	require.ErrorContains(t, err, "at most")
}
