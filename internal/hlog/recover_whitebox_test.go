package hlog

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/internal/epoch"
	"github.com/rskv-go/rskv/log/vfs"
)

func openMemLog(t *testing.T, fs vfs.FS) *Log {
	t.Helper()
	l, err := Open(Config{FS: fs, Dir: ".", StoreID: 7, PageBits: 12, SegmentBits: 14,
		MemoryPages: 8, MutablePages: 4, Epoch: epoch.New()})
	require.NoError(t, err)
	rep, err := l.Recover(FirstAddress, FirstAddress, 0, func(DiskRecord) error { return nil })
	require.NoError(t, err)
	require.NoError(t, l.Start(FirstAddress, rep.End))
	return l
}

// TestRecoverAfterSyncAtOverflowedTail: when two writers race for the end
// of a page, the loser's reservation carries the tail past the page's end
// until it turns the page, and Tail() reads as the page's end. A SyncAll
// (Close, Checkpoint) in that window flushes the page's zero padding and
// records the page's end as durable. If nothing follows (the writer got
// ErrClosed, or the process died), recovery must accept a log whose
// records end before the durable mark in verified padding, and continue
// after it.
func TestRecoverAfterSyncAtOverflowedTail(t *testing.T) {
	fs := vfs.NewMem()
	l := openMemLog(t, fs)
	key, val := []byte("key"), bytes.Repeat([]byte{'v'}, 100)
	size := RecordSize(len(key), len(val))
	n := 0
	for {
		g := l.em.Protect()
		addr, ok := l.Allocate(size)
		if !ok {
			g.Release()
			break
		}
		l.NewRecord(addr, MakeInfo(0, 0), key, val, 0)
		g.Release()
		n++
	}
	last := l.Tail()
	// The losing writer's reservation, as Allocate makes it when two
	// writers pass its room check at once.
	l.tail.Add(size)
	require.Equal(t, l.pageSize, l.Tail())
	require.NoError(t, l.SyncAll())
	require.NoError(t, l.Close())

	l = openMemLog(t, fs) // fails before the fix: "the log ends at 0xfd8 ... but data up to 0x1000 was durable"
	require.Equal(t, l.pageSize, l.Tail(), "the log continues after the durable padding")
	require.Less(t, last, l.Tail())
	// Records appended now go to the next page, and a crash that tears
	// them is a torn tail, not damage below the durable mark.
	g := l.em.Protect()
	addr, ok := l.Allocate(size)
	require.True(t, ok)
	require.Equal(t, l.pageSize, addr)
	l.NewRecord(addr, MakeInfo(0, 0), key, val, 0)
	g.Release()
	require.NoError(t, l.SyncAll())
	require.NoError(t, l.Close())
	var records int
	l2, err := Open(l.cfg)
	require.NoError(t, err)
	rep, err := l2.Recover(FirstAddress, FirstAddress, 0, func(DiskRecord) error { records++; return nil })
	require.NoError(t, err)
	require.Equal(t, n+1, records)
	require.Equal(t, l.pageSize+size, rep.End)
	require.NoError(t, l2.Close())
}
