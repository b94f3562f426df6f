package test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// TestExpiryBlackBox: TTL keys through the public API on the real clock
// (tiny TTLs), across a reopen.
func TestExpiryBlackBox(t *testing.T) {
	dir := t.TempDir()
	s, err := rskv.Open(dir, smallOptions())
	require.NoError(t, err)
	require.NoError(t, s.PutTTL([]byte("soon"), []byte("x"), 20*time.Millisecond))
	require.NoError(t, s.PutTTL([]byte("later"), []byte("y"), time.Hour))
	require.ErrorIs(t, s.PutTTL([]byte("bad"), []byte("z"), 0), rskv.ErrInvalidTTL)
	at, err := s.ExpiresAt([]byte("later"))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(time.Hour), at, time.Minute)
	require.NoError(t, s.Close())

	time.Sleep(30 * time.Millisecond)
	s, err = rskv.Open(dir, smallOptions())
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	_, err = s.Get([]byte("soon"))
	require.ErrorIs(t, err, rskv.ErrNotFound)
	ok, err := s.Has([]byte("soon"))
	require.NoError(t, err)
	require.False(t, ok)
	v, err := s.Get([]byte("later"))
	require.NoError(t, err)
	require.Equal(t, []byte("y"), v)
	at2, err := s.ExpiresAt([]byte("later"))
	require.NoError(t, err)
	require.True(t, at.Equal(at2), "the expiry is absolute")
}

// TestBackupDuringTransfers: while workers move units between accounts,
// one RMW of a single key holding every balance at a time (so each
// transfer is one atomic write), and a sequencer writes a=i then b=i,
// backups restore to states that existed: the total is kept, and b <= a
// <= b+1.
func TestBackupDuringTransfers(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	s, err := rskv.Open(src, smallOptions())
	require.NoError(t, err)
	const accounts, initial = 16, 1000
	bank := make([]byte, 8*accounts)
	for i := 0; i < accounts; i++ {
		binary.LittleEndian.PutUint64(bank[8*i:], initial)
	}
	require.NoError(t, s.Put([]byte("bank"), bank))
	total := func(v []byte) (sum uint64) {
		for i := 0; i < accounts; i++ {
			sum += binary.LittleEndian.Uint64(v[8*i:])
		}
		return sum
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := w; !stop.Load(); n++ {
				from, to := n%accounts, (n*7+3)%accounts
				_, err := s.RMW([]byte("bank"), func(old []byte, found bool) []byte {
					out := bytes.Clone(old)
					if f := binary.LittleEndian.Uint64(out[8*from:]); f > 0 {
						binary.LittleEndian.PutUint64(out[8*from:], f-1)
						binary.LittleEndian.PutUint64(out[8*to:], binary.LittleEndian.Uint64(out[8*to:])+1)
					}
					return out
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
	for round := 0; round < 3; round++ {
		time.Sleep(5 * time.Millisecond)
		var stream bytes.Buffer
		info, err := s.Backup(&stream)
		require.NoError(t, err)
		require.GreaterOrEqual(t, info.Keys, 1)
		dst := filepath.Join(t.TempDir(), "restored")
		rinfo, err := rskv.Restore(dst, &stream)
		require.NoError(t, err)
		require.Equal(t, info.Keys, rinfo.Keys)
		r, err := rskv.Open(dst, &rskv.Options{ReadOnly: true})
		require.NoError(t, err)
		v, err := r.Get([]byte("bank"))
		require.NoError(t, err)
		require.Equal(t, uint64(accounts*initial), total(v))
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

	// A damaged stream is refused and leaves no directory behind.
	var stream bytes.Buffer
	s, err = rskv.Open(src, smallOptions())
	require.NoError(t, err)
	_, err = s.Backup(&stream)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	bad := stream.Bytes()
	bad[len(bad)/2] ^= 0x10
	dst := filepath.Join(t.TempDir(), "bad")
	_, err = rskv.Restore(dst, bytes.NewReader(bad))
	require.ErrorIs(t, err, rskv.ErrCorruption)
	_, err = os.Stat(dst)
	require.ErrorIs(t, err, os.ErrNotExist)
}
