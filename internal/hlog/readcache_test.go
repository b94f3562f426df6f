package hlog

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/racecheck"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/stretchr/testify/require"
)

// rcRecord returns the bytes a cache test stores for addr: size bytes
// derived from addr, so that any copy of another address's bytes, or a torn
// one, is detected.
func rcRecord(addr uint64, size int) []byte {
	b := make([]byte, size)
	for i := 0; i+8 <= size; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], addr*0x9E3779B97F4A7C15+uint64(i))
	}
	return b
}

func rcSize(addr uint64) int { return 32 + int(addr%13)*8 }

func TestReadCacheHitMissAndEviction(t *testing.T) {
	c := newReadCache(1 << 20)
	require.NotNil(t, c)
	buf := make([]byte, 0, 64)
	_, ok := c.get(64, buf)
	require.False(t, ok, "empty cache")

	c.put(64, rcRecord(64, 136))
	got, ok := c.get(64, buf)
	require.True(t, ok)
	require.Equal(t, rcRecord(64, 136), got, "the bytes put, grown beyond the buffer's capacity")
	_, ok = c.get(72, buf)
	require.False(t, ok, "another address")

	// Fill far past the capacity: the early entries are overwritten and
	// must read as misses, never as someone else's bytes.
	for a := uint64(1 << 20); a < 1<<20+200_000*8; a += 8 {
		c.put(a, rcRecord(a, rcSize(a)))
	}
	_, ok = c.get(64, buf)
	require.False(t, ok, "evicted")
	hits := 0
	for a := uint64(1 << 20); a < 1<<20+200_000*8; a += 8 {
		if b, ok := c.get(a, buf); ok {
			hits++
			require.Equal(t, rcRecord(a, rcSize(a)), b, "address %#x", a)
		}
	}
	require.Positive(t, hits, "the newest entries are still there")
	require.Less(t, hits, 200_000, "the cache is bounded")
}

func TestReadCacheRefusesWhatItCannotHold(t *testing.T) {
	require.Nil(t, newReadCache(0))
	require.Nil(t, newReadCache(4096), "too small for a shard")
	c := newReadCache(1 << 20)
	big := rcRecord(8, int(c.shards[0].maxWords*8)+8)
	c.put(8, big)
	_, ok := c.get(8, nil)
	require.False(t, ok, "an entry larger than a 16th of a shard is not cached")
	c.put(16, make([]byte, 12)) // not a record size: ignored
	_, ok = c.get(16, nil)
	require.False(t, ok)
}

// TestReadCacheSecondChance: an entry read again while it is in the older
// half of its ring is copied to the head, so a hot entry outlives a stream
// of one-off inserts that would have overwritten it.
func TestReadCacheSecondChance(t *testing.T) {
	c := newReadCache(256 << 10)
	hot := uint64(64)
	c.put(hot, rcRecord(hot, 136))
	for a := uint64(1 << 30); a < 1<<30+100_000*8; a += 8 {
		c.put(a, rcRecord(a, 136))
		if a%64 == 0 {
			b, ok := c.get(hot, nil)
			require.True(t, ok, "hot entry lost after inserting up to %#x", a)
			require.Equal(t, rcRecord(hot, 136), b)
		}
	}
}

// TestReadCacheConcurrent races readers against inserters that keep
// overwriting the rings: a hit must always return exactly the bytes put for
// that address (run it under -race too: readcache_race.go).
func TestReadCacheConcurrent(t *testing.T) {
	c := newReadCache(256 << 10)
	n := uint64(racecheck.Scale(200_000, 10))
	var stop atomic.Bool
	var writers, readers sync.WaitGroup
	var hits atomic.Int64
	for w := range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := uint64(0); i < n; i++ {
				a := (i*2 + uint64(w)) % 50_000 * 8
				c.put(a, rcRecord(a, rcSize(a)))
			}
		}()
	}
	errs := make(chan error, 2)
	for r := range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 0, 256)
			for i := uint64(0); !stop.Load(); i++ {
				a := (i*7 + uint64(r)) % 50_000 * 8
				b, ok := c.get(a, buf)
				if !ok {
					continue
				}
				hits.Add(1)
				if want := rcRecord(a, rcSize(a)); string(b) != string(want) {
					errs <- errors.Newf("address %#x: cached bytes differ from the bytes put", a)
					return
				}
				buf = b
			}
		}()
	}
	writers.Wait()
	stop.Store(true)
	readers.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Positive(t, hits.Load())
}

func TestReadCacheZeroAllocHit(t *testing.T) {
	c := newReadCache(1 << 20)
	c.put(64, rcRecord(64, 136))
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := c.get(64, buf); !ok {
			t.Fatal("miss")
		}
	})
	require.Zero(t, allocs)
}

// TestCopyMappedFaultIsAnError: a read from a mapping past the end of the
// file (what the kernel does when it cannot read a mapped page) is an
// error, not SIGBUS ending the process.
func TestCopyMappedFaultIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, make([]byte, 1<<16), 0o644))
	f, err := vfs.Default.Open(path)
	require.NoError(t, err)
	defer f.Close()
	mf, ok := f.(vfs.Mapper)
	if !ok {
		t.Skip("this platform's file system cannot map files")
	}
	m, err := mf.MapRead(1 << 16)
	require.NoError(t, err)
	defer func() { require.NoError(t, vfs.Unmap(m)) }()
	dst := make([]byte, 4096)
	require.NoError(t, copyMapped(dst, m[:4096]))
	require.NoError(t, os.Truncate(path, 4096))
	err = copyMapped(dst, m[8192:8192+4096])
	require.ErrorIs(t, err, errMappedRead)
}

func TestFirstReadSize(t *testing.T) {
	// Far from a block edge: the usual 512 bytes, or the buffer's size up
	// to 4 KiB, never past the page.
	require.Equal(t, uint64(512), firstReadSize(4096+8, 1<<20, 0))
	require.Equal(t, uint64(2048), firstReadSize(4096+8, 1<<20, 2048))
	require.Equal(t, uint64(4096-8), firstReadSize(4096+8, 1<<20, 1<<20))
	require.Equal(t, uint64(100), firstReadSize(4096+8, 100, 0))
	// Near an edge: up to it, unless too little is left to hold a header.
	require.Equal(t, uint64(200), firstReadSize(2*4096-200, 1<<20, 0))
	require.Equal(t, uint64(512), firstReadSize(2*4096-32, 1<<20, 0))
}

// TestReadRecordsAcrossFileBlocks reads back from disk records that cross
// 4 KiB blocks of their files (pages of 16 KiB): the first read stops at
// the block and the record is read again whole.
func TestReadRecordsAcrossFileBlocks(t *testing.T) {
	g := geometry{pageBits: 14, segmentBits: 16, frames: 8, mutable: 4}
	tl := mustOpenTestLog(t, t.TempDir(), g)
	defer tl.close()
	addrs := tl.writeRecords(0, 3000)
	crossing := 0
	onDisk := 0
	for i, a := range addrs {
		if a >= tl.l.Head() {
			continue
		}
		onDisk++
		off := g.fileOffset(a)
		if size := RecordSize(len(testKey(i)), len(testValue(i))); off/4096 != (off+int64(size)-1)/4096 {
			crossing++
		}
	}
	require.Greater(t, onDisk, 1000)
	require.Greater(t, crossing, 50)
	tl.requireReadable(addrs, 0)
}
