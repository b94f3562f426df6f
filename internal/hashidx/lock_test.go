package hashidx_test

import (
	"bytes"
	"testing"

	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEntryLockBit(t *testing.T) {
	e := hashidx.MakeEntry(0x1234, 77)
	l := e.WithLock()
	assert.False(t, e.Locked())
	assert.True(t, l.Locked())
	assert.Equal(t, e.Address(), l.Address())
	assert.Equal(t, e.Tag(), l.Tag())
	assert.False(t, l.Tentative())
	assert.Equal(t, e, l.WithoutLock())
	assert.True(t, l.WithAddress(9).Locked(), "WithAddress keeps the lock")
	assert.False(t, hashidx.MakeEntry(0, 1).WithLock().IsEmpty())
}

// A locked entry is found like any other (a commit holds it), and a
// snapshot holds it unlocked: a lock never survives a restart.
func TestLockedEntryFoundAndSnapshotUnlocked(t *testing.T) {
	x, err := hashidx.New(64)
	require.NoError(t, err)
	const h = uint64(0xABCD) << 48
	slot, e := x.FindOrCreate(h)
	require.True(t, hashidx.CompareAndSwap(slot, e, hashidx.MakeEntry(0x500, e.Tag())))
	e = hashidx.Load(slot)
	require.True(t, hashidx.CompareAndSwap(slot, e, e.WithLock()))
	s2, e2, ok := x.Find(h)
	require.True(t, ok)
	assert.Equal(t, slot, s2)
	assert.True(t, e2.Locked())
	s3, e3 := x.FindOrCreate(h)
	assert.Equal(t, slot, s3, "FindOrCreate finds the locked entry, not a second one")
	assert.True(t, e3.Locked())

	var buf bytes.Buffer
	_, overflow, _, err := x.WriteSnapshot(&buf)
	require.NoError(t, err)
	y, err := hashidx.LoadSnapshot(&buf, 64, overflow)
	require.NoError(t, err)
	_, got, ok := y.Find(h)
	require.True(t, ok)
	assert.False(t, got.Locked())
	assert.Equal(t, uint64(0x500), got.Address())
}
