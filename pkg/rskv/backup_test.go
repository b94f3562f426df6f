package rskv_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rskv-go/rskv/actors/actorstest"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// contents returns every live key's value and expiry.
func contents(t *testing.T, s *rskv.Store) map[string]string {
	t.Helper()
	m := map[string]string{}
	require.NoError(t, s.Scan(nil, func(k, v []byte) bool {
		at, err := s.ExpiresAt(k)
		require.NoError(t, err)
		exp := "none"
		if !at.IsZero() {
			exp = fmt.Sprint(at.UnixNano())
		}
		m[string(k)] = string(v) + "|" + exp
		return true
	}))
	return m
}

func TestBackupRoundTrip(t *testing.T) {
	clk := actorstest.NewClock(t0)
	fs := vfs.NewMem()
	s := openClock(t, fs, clk, rskv.Options{MemorySize: 1 << 20, DisableBackground: true})
	for i := 0; i < 500; i++ {
		k := []byte(fmt.Sprintf("k%04d", i))
		switch i % 4 {
		case 0:
			require.NoError(t, s.Put(k, []byte(fmt.Sprint("v", i))))
		case 1:
			require.NoError(t, s.PutTTL(k, []byte(fmt.Sprint("ttl", i)), time.Duration(i)*time.Second))
		case 2:
			require.NoError(t, s.PutTTL(k, []byte{}, time.Hour))
		case 3:
			require.NoError(t, s.Put(k, []byte("gone")))
			require.NoError(t, s.Delete(k))
		}
	}
	pushToDisk(t, s) // some keys on disk, some in memory
	for i := 0; i < 500; i += 8 {
		require.NoError(t, s.Put([]byte(fmt.Sprintf("k%04d", i)), []byte("newer")))
	}
	clk.Advance(100 * time.Second) // some TTL keys expire before the backup
	want := contents(t, s)
	var stream bytes.Buffer
	info, err := s.Backup(&stream)
	require.NoError(t, err)
	require.Equal(t, len(want), info.Keys)
	require.Equal(t, int64(stream.Len()), info.Bytes)
	require.True(t, info.Time.Equal(clk.Now()), "%v", info.Time)
	require.NoError(t, s.Close())

	rinfo, err := rskv.RestoreWith("restored", bytes.NewReader(stream.Bytes()), rskv.SetClock(&rskv.Options{FS: fs, MemorySize: 1 << 20}, clk))
	require.NoError(t, err)
	require.Equal(t, info.Keys, rinfo.Keys)
	require.Equal(t, info.Bytes, rinfo.Bytes)
	require.True(t, rinfo.Time.Equal(info.Time))
	r, err := rskv.Open("restored", rskv.SetClock(&rskv.Options{FS: fs, MemorySize: 1 << 20, DisableBackground: true}, clk))
	require.NoError(t, err)
	require.Equal(t, want, contents(t, r))
	require.Equal(t, len(want), r.Len())
	// Expiry is kept: the restored TTL keys expire on time.
	clk.Advance(time.Hour)
	for k := range contents(t, r) {
		at, err := r.ExpiresAt([]byte(k))
		require.NoError(t, err)
		require.True(t, at.IsZero(), "%s should have expired", k)
	}
	require.NoError(t, r.Close())

	// Restoring into a directory that holds something is refused.
	_, err = rskv.RestoreWith("restored", bytes.NewReader(stream.Bytes()), &rskv.Options{FS: fs})
	require.ErrorIs(t, err, rskv.ErrInvalidOptions)
	require.Contains(t, err.Error(), "not empty")
}

func smallStream(t *testing.T) []byte {
	t.Helper()
	fs := vfs.NewMem()
	s, err := rskv.Open("src", &rskv.Options{FS: fs, MemorySize: 1 << 20, DisableBackground: true})
	require.NoError(t, err)
	for i := 0; i < 40; i++ {
		require.NoError(t, s.Put([]byte(fmt.Sprint("key", i)), bytes.Repeat([]byte{byte(i)}, i)))
	}
	require.NoError(t, s.PutTTL([]byte("ttl"), []byte("x"), time.Hour))
	var b bytes.Buffer
	_, err = s.Backup(&b)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	return b.Bytes()
}

// refused checks that restoring stream fails with ErrCorruption and leaves
// dir as it was.
func refused(t *testing.T, fs *vfs.MemFS, stream []byte, what string) {
	t.Helper()
	for _, existed := range []bool{false, true} {
		dir := "target"
		if existed {
			dir = "empty"
			require.NoError(t, fs.MkdirAll(dir, 0o755))
		}
		_, err := rskv.RestoreWith(dir, bytes.NewReader(stream), &rskv.Options{FS: fs, MemorySize: 1 << 20})
		require.ErrorIs(t, err, rskv.ErrCorruption, what)
		_, serr := fs.Stat(dir + ".rskv-restore")
		require.ErrorIs(t, serr, os.ErrNotExist, "%s: the store being built is removed", what)
		if existed {
			names, err := fs.List(dir)
			require.NoError(t, err)
			require.Empty(t, names, what)
		} else {
			_, err := fs.Stat(dir)
			require.ErrorIs(t, err, os.ErrNotExist, what)
		}
	}
}

func TestRestoreRefusesTruncatedStreams(t *testing.T) {
	stream := smallStream(t)
	fs := vfs.NewMem()
	for cut := 0; cut < len(stream); cut += 1 + cut/40 {
		refused(t, fs, stream[:cut], fmt.Sprint("cut at ", cut))
	}
	refused(t, fs, stream[:len(stream)-1], "last byte cut")
	refused(t, fs, append(bytes.Clone(stream), 0), "a byte after the trailer")
	// The whole stream restores, into an empty directory too, and the
	// debris of an interrupted restore (its sibling build directory) is
	// cleared first.
	_, err := rskv.RestoreWith("ok", bytes.NewReader(stream), &rskv.Options{FS: fs, MemorySize: 1 << 20})
	require.NoError(t, err)
	require.NoError(t, fs.MkdirAll("empty2", 0o755))
	require.NoError(t, fs.MkdirAll("empty2.rskv-restore", 0o755))
	f, err := fs.Create("empty2.rskv-restore/seg-0000000000000000.log")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	info, err := rskv.RestoreWith("empty2", bytes.NewReader(stream), &rskv.Options{FS: fs, MemorySize: 1 << 20})
	require.NoError(t, err)
	_, err = fs.Stat("empty2.rskv-restore")
	require.ErrorIs(t, err, os.ErrNotExist)
	s, err := rskv.Open("empty2", &rskv.Options{FS: fs, MemorySize: 1 << 20, DisableBackground: true})
	require.NoError(t, err)
	require.Equal(t, info.Keys, s.Len())
	require.NoError(t, s.Close())
}

func TestRestoreRefusesCorruptStreams(t *testing.T) {
	stream := smallStream(t)
	fs := vfs.NewMem()
	for pos := 0; pos < len(stream); pos += 1 + pos/60 {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(stream)
			bad[pos] ^= bit
			refused(t, fs, bad, fmt.Sprintf("bit %#x of byte %d flipped", bit, pos))
		}
	}
}

// TestBackupDuringWrites: a backup taken while writers run restores to a
// state that existed. Each counter only grows, so a restored counter lies
// between its values before and after the backup; and one writer puts
// a=i then b=i in turn, so any real state has b <= a <= b+1 (an in-place
// update racing the cut would break that).
func TestBackupDuringWrites(t *testing.T) {
	fs := vfs.NewMem()
	s, err := rskv.Open("src", &rskv.Options{FS: fs, MemorySize: 2 << 20})
	require.NoError(t, err)
	const counters = 64
	ctr := func(i int) []byte { return []byte(fmt.Sprintf("ctr%02d", i)) }
	read := func(st *rskv.Store) []uint64 {
		out := make([]uint64, counters)
		for i := range out {
			v, err := st.Get(ctr(i))
			if err == nil {
				out[i] = binary.LittleEndian.Uint64(v)
			} else {
				require.ErrorIs(t, err, rskv.ErrNotFound)
			}
		}
		return out
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				_, err := s.RMW(ctr((n*7+w)%counters), func(old []byte, found bool) []byte {
					var c uint64
					if found {
						c = binary.LittleEndian.Uint64(old)
					}
					return binary.LittleEndian.AppendUint64(nil, c+1)
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(1); !stop.Load(); i++ {
			v := binary.LittleEndian.AppendUint64(nil, i)
			if s.Put([]byte("a"), v) != nil || s.Put([]byte("b"), v) != nil {
				t.Error("put failed")
				return
			}
		}
	}()
	for round := 0; round < 5; round++ {
		time.Sleep(5 * time.Millisecond)
		before := read(s)
		var stream bytes.Buffer
		_, err := s.Backup(&stream)
		require.NoError(t, err)
		after := read(s)
		dir := fmt.Sprint("restored", round)
		_, err = rskv.RestoreWith(dir, &stream, &rskv.Options{FS: fs, MemorySize: 1 << 20})
		require.NoError(t, err)
		r, err := rskv.Open(dir, &rskv.Options{FS: fs, MemorySize: 1 << 20, DisableBackground: true, ReadOnly: true})
		require.NoError(t, err)
		got := read(r)
		for i := range got {
			require.GreaterOrEqual(t, got[i], before[i], "counter %d", i)
			require.LessOrEqual(t, got[i], after[i], "counter %d", i)
		}
		av, aerr := r.Get([]byte("a"))
		bv, berr := r.Get([]byte("b"))
		if aerr == nil && berr == nil {
			a, b := binary.LittleEndian.Uint64(av), binary.LittleEndian.Uint64(bv)
			require.True(t, b <= a && a <= b+1, "a=%d b=%d is no state that existed", a, b)
		} else {
			require.False(t, aerr != nil && berr == nil, "b without a")
		}
		require.NoError(t, r.Close())
	}
	stop.Store(true)
	wg.Wait()
	require.NoError(t, s.Close())
}

// TestBackupReadOnly: a read-only store can be backed up, and Backup after
// Close is ErrClosed.
func TestBackupReadOnly(t *testing.T) {
	fs := vfs.NewMem()
	s, err := rskv.Open("src", &rskv.Options{FS: fs, MemorySize: 1 << 20})
	require.NoError(t, err)
	require.NoError(t, s.Put([]byte("k"), []byte("v")))
	require.NoError(t, s.Close())
	ro, err := rskv.Open("src", &rskv.Options{FS: fs, MemorySize: 1 << 20, ReadOnly: true})
	require.NoError(t, err)
	var b bytes.Buffer
	info, err := ro.Backup(&b)
	require.NoError(t, err)
	require.Equal(t, 1, info.Keys)
	require.NoError(t, ro.Close())
	_, err = ro.Backup(&b)
	require.ErrorIs(t, err, rskv.ErrClosed)
}
