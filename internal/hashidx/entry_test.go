package hashidx_test

import (
	"testing"

	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestEntryPackingRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		addr := rapid.Uint64Range(0, hashidx.AddressMask).Draw(t, "addr")
		tag := uint16(rapid.IntRange(0, 1<<hashidx.TagBits-1).Draw(t, "tag"))
		e := hashidx.MakeEntry(addr, tag)
		if e.Address() != addr || e.Tag() != tag || e.Tentative() {
			t.Fatalf("MakeEntry(%#x, %d) = %#x: address %#x tag %d tentative %v", addr, tag, uint64(e), e.Address(), e.Tag(), e.Tentative())
		}
		if uint64(e)>>63 != 0 {
			t.Fatalf("bit 63 set in %#x", uint64(e))
		}
		addr2 := rapid.Uint64Range(0, hashidx.AddressMask).Draw(t, "addr2")
		e2 := e.WithAddress(addr2)
		if e2.Address() != addr2 || e2.Tag() != tag || e2.Tentative() {
			t.Fatalf("WithAddress(%#x) on %#x = %#x", addr2, uint64(e), uint64(e2))
		}
		if e.IsEmpty() != (addr == 0 && tag == 0) {
			t.Fatalf("IsEmpty(%#x) = %v", uint64(e), e.IsEmpty())
		}
	})
}

func TestEntryMasksOutOfRangeInputs(t *testing.T) {
	e := hashidx.MakeEntry(1<<hashidx.AddressBits|0x1234, 1<<hashidx.TagBits|7)
	require.Equal(t, uint64(0x1234), e.Address())
	require.Equal(t, uint16(7), e.Tag())
	require.False(t, e.Tentative())
	require.Equal(t, uint64(0x55), e.WithAddress(1<<hashidx.AddressBits|0x55).Address())
	require.True(t, hashidx.Entry(0).IsEmpty())
}

func TestTagOfUsesTopBits(t *testing.T) {
	require.Equal(t, uint16(1<<hashidx.TagBits-1), hashidx.TagOf(^uint64(0)))
	require.Equal(t, uint16(0x2abc), hashidx.TagOf(uint64(0x2abc)<<(64-hashidx.TagBits)|0xffff))
	require.NotZero(t, hashidx.TagOf(0xffff), "tag 0 is reserved")
	rapid.Check(t, func(t *rapid.T) {
		h := rapid.Uint64().Draw(t, "hash")
		tag := hashidx.TagOf(h)
		if tag >= 1<<hashidx.TagBits {
			t.Fatalf("TagOf(%#x) = %d does not fit %d bits", h, tag, hashidx.TagBits)
		}
		if tag == 0 {
			t.Fatalf("TagOf(%#x) = 0: the entry FindOrCreate makes would be the empty slot", h)
		}
		if top := uint16(h >> (64 - hashidx.TagBits)); top != 0 && tag != top {
			t.Fatalf("TagOf(%#x) = %d, want the top bits %d", h, tag, top)
		}
	})
}
