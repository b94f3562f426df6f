package rskv_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/actors/actorstest"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func openClock(t *testing.T, fs vfs.FS, clk *actorstest.Clock, o rskv.Options) *rskv.Store {
	t.Helper()
	o.FS = fs
	s, err := rskv.Open("db", rskv.SetClock(&o, clk))
	require.NoError(t, err)
	return s
}

// pushToDisk writes enough distinct live data that the records written
// before it leave memory (and the residency copy does not keep them).
func pushToDisk(t *testing.T, s *rskv.Store) {
	t.Helper()
	v := bytes.Repeat([]byte{'f'}, 1000)
	for i := 0; i < 3000; i++ {
		require.NoError(t, s.Put([]byte(fmt.Sprintf("filler-%05d", i)), v))
	}
}

// visible checks key through every read path.
func visible(t *testing.T, s *rskv.Store, key string, want []byte) {
	t.Helper()
	k := []byte(key)
	got, err := s.Get(k)
	has, herr := s.Has(k)
	require.NoError(t, herr)
	buf, aerr := s.AppendValue([]byte("x"), k)
	var scanned []byte
	require.NoError(t, s.Scan(k, func(kk, v []byte) bool {
		if string(kk) == key {
			scanned = v
		}
		return true
	}))
	if want == nil {
		require.ErrorIs(t, err, rskv.ErrNotFound, key)
		require.False(t, has, key)
		require.ErrorIs(t, aerr, rskv.ErrNotFound, key)
		require.Equal(t, []byte("x"), buf)
		require.Nil(t, scanned, key)
		_, err = s.ExpiresAt(k)
		require.ErrorIs(t, err, rskv.ErrNotFound, key)
		return
	}
	require.NoError(t, err, key)
	require.Equal(t, want, got, key)
	require.True(t, has, key)
	require.NoError(t, aerr)
	require.Equal(t, append([]byte("x"), want...), buf)
	require.Equal(t, want, scanned, key)
}

func TestExpiryReadPaths(t *testing.T) {
	for _, onDisk := range []bool{false, true} {
		t.Run(fmt.Sprintf("onDisk=%v", onDisk), func(t *testing.T) {
			clk := actorstest.NewClock(t0)
			s := openClock(t, vfs.NewMem(), clk, rskv.Options{MemorySize: 1 << 20, DisableBackground: true, DisableReadPromotion: true})
			defer func() { require.NoError(t, s.Close()) }()

			require.NoError(t, s.PutTTL([]byte("a"), []byte("alpha"), time.Minute))
			require.NoError(t, s.PutTTL([]byte("c"), []byte{}, time.Hour))
			require.NoError(t, s.Put([]byte("b"), []byte("beta")))
			require.NoError(t, s.PutTTL([]byte("n"), []byte("7"), time.Minute))
			if onDisk {
				pushToDisk(t, s)
			}
			visible(t, s, "a", []byte("alpha"))
			visible(t, s, "c", []byte{})
			at, err := s.ExpiresAt([]byte("a"))
			require.NoError(t, err)
			require.True(t, at.Equal(t0.Add(time.Minute)), "%v", at)
			at, err = s.ExpiresAt([]byte("b"))
			require.NoError(t, err)
			require.True(t, at.IsZero())

			// RMW keeps the expiry and sees the user's value.
			v, err := s.RMW([]byte("n"), func(old []byte, found bool) []byte {
				require.True(t, found)
				require.Equal(t, []byte("7"), old)
				return append(old, '8')
			})
			require.NoError(t, err)
			require.Equal(t, []byte("78"), v)
			at, err = s.ExpiresAt([]byte("n"))
			require.NoError(t, err)
			require.True(t, at.Equal(t0.Add(time.Minute)))

			clk.Advance(time.Minute) // expiry is inclusive: at the deadline the key is gone
			visible(t, s, "a", nil)
			visible(t, s, "n", nil)
			visible(t, s, "b", []byte("beta"))
			visible(t, s, "c", []byte{})
			require.ErrorIs(t, s.Expire([]byte("a"), t0.Add(time.Hour)), rskv.ErrNotFound)
			// RMW of an expired key: not found, and the new value has no expiry.
			v, err = s.RMW([]byte("a"), func(old []byte, found bool) []byte {
				require.False(t, found)
				require.Nil(t, old)
				return []byte("new")
			})
			require.NoError(t, err)
			require.Equal(t, []byte("new"), v)
			visible(t, s, "a", []byte("new"))
			at, err = s.ExpiresAt([]byte("a"))
			require.NoError(t, err)
			require.True(t, at.IsZero())
		})
	}
}

func TestExpireAndPutTTLEdges(t *testing.T) {
	clk := actorstest.NewClock(t0)
	s := openClock(t, vfs.NewMem(), clk, rskv.Options{MemorySize: 1 << 20, DisableBackground: true})
	defer func() { require.NoError(t, s.Close()) }()
	k := []byte("k")

	for _, ttl := range []time.Duration{0, -time.Second} {
		err := s.PutTTL(k, []byte("v"), ttl)
		require.ErrorIs(t, err, rskv.ErrInvalidTTL)
		require.Contains(t, err.Error(), "must be positive")
		require.Equal(t, 1, countStr(err.Error(), "rskv:"), err.Error())
	}
	require.ErrorIs(t, s.PutTTL(nil, []byte("v"), time.Second), rskv.ErrEmptyKey)
	require.ErrorIs(t, s.Expire(k, t0.Add(time.Hour)), rskv.ErrNotFound, "absent")
	require.Zero(t, s.Len())

	require.NoError(t, s.Put(k, []byte("v")))
	require.NoError(t, s.Expire(k, t0.Add(time.Hour)))
	at, err := s.ExpiresAt(k)
	require.NoError(t, err)
	require.True(t, at.Equal(t0.Add(time.Hour)))
	// The zero Time removes the expiry.
	require.NoError(t, s.Expire(k, time.Time{}))
	at, err = s.ExpiresAt(k)
	require.NoError(t, err)
	require.True(t, at.IsZero())
	clk.Advance(2 * time.Hour)
	visible(t, s, "k", []byte("v"))

	// Put onto a key with an expiry drops it; PutTTL onto one without sets it.
	require.NoError(t, s.PutTTL(k, []byte("v2"), time.Minute))
	require.NoError(t, s.Put(k, []byte("v3")))
	at, err = s.ExpiresAt(k)
	require.NoError(t, err)
	require.True(t, at.IsZero(), "Put drops the expiry")
	require.NoError(t, s.PutTTL(k, []byte("v4"), time.Minute))
	at, err = s.ExpiresAt(k)
	require.NoError(t, err)
	require.True(t, at.Equal(clk.Now().Add(time.Minute)))

	// A past time expires now: the key is deleted, Len drops at once.
	require.Equal(t, 1, s.Len())
	require.NoError(t, s.Expire(k, t0))
	visible(t, s, "k", nil)
	require.Zero(t, s.Len())
}

func countStr(s, sub string) int { return bytes.Count([]byte(s), []byte(sub)) }

func TestExpirySurvivesReopenAndCrash(t *testing.T) {
	clk := actorstest.NewClock(t0)
	fs := vfs.NewMem()
	o := rskv.Options{MemorySize: 1 << 20, DisableBackground: true, SyncMode: rskv.SyncAlways}
	s := openClock(t, fs, clk, o)
	require.NoError(t, s.PutTTL([]byte("short"), []byte("s"), time.Minute))
	require.NoError(t, s.PutTTL([]byte("long"), []byte("l"), time.Hour))
	crashed := fs.CrashClone() // SyncAlways: both are durable
	require.NoError(t, s.Close())

	for name, fs := range map[string]vfs.FS{"reopen": fs, "crash": crashed} {
		t.Run(name, func(t *testing.T) {
			clk := actorstest.NewClock(t0)
			s := openClock(t, fs, clk, o)
			defer func() { require.NoError(t, s.Close()) }()
			at, err := s.ExpiresAt([]byte("long"))
			require.NoError(t, err)
			require.True(t, at.Equal(t0.Add(time.Hour)), "%v", at)
			visible(t, s, "short", []byte("s"))
			clk.Advance(30 * time.Minute)
			visible(t, s, "short", nil)
			visible(t, s, "long", []byte("l"))
			require.Equal(t, 2, s.Len(), "expired but not yet reclaimed")
		})
	}
}

// TestExpiryReclaimed: 200k keys with a TTL expire; the expirer deletes the
// ones in memory and compaction the ones on disk, so Len falls to 0 and the
// directory shrinks.
func TestExpiryReclaimed(t *testing.T) {
	if testing.Short() {
		t.Skip("200k keys")
	}
	clk := actorstest.NewClock(t0)
	fs := vfs.NewMem()
	s := openClock(t, fs, clk, rskv.Options{MemorySize: 4 << 20, DisableBackground: true, DisableReadPromotion: true})
	const n = 200_000
	var k [8]byte
	v := bytes.Repeat([]byte{'v'}, 128)
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint64(k[:], uint64(i))
		require.NoError(t, s.PutTTL(k[:], v, time.Duration(1+i%100)*time.Second))
	}
	require.NoError(t, s.Put([]byte("keep"), []byte("me")))
	require.Equal(t, n+1, s.Len())
	before := s.Stats().DiskBytes
	require.Positive(t, before)

	swept, err := s.SweepExpiredForTest()
	require.NoError(t, err)
	require.Zero(t, swept, "nothing has expired yet")
	clk.Advance(2 * time.Minute)
	swept, err = s.SweepExpiredForTest()
	require.NoError(t, err)
	require.Positive(t, swept, "the expirer deletes the expired keys in memory")
	require.Less(t, s.Len(), n+1)
	for i := 0; i < 5 && s.Len() > 1; i++ {
		_, err := s.Compact()
		require.NoError(t, err)
		_, err = s.SweepExpiredForTest()
		require.NoError(t, err)
	}
	require.Equal(t, 1, s.Len(), "only the key without expiry is left")
	// The tombstones that replaced the expired records are dead at once:
	// later compactions drop them as they leave memory.
	for i := 0; i < 10; i++ {
		st, err := s.Compact()
		require.NoError(t, err)
		if st.BytesReclaimed == 0 {
			break
		}
	}
	after := s.Stats().DiskBytes
	require.Less(t, after, before/2, "directory size: %d before, %d after", before, after)
	t.Logf("directory: %d bytes before expiry, %d after the expirer and compaction", before, after)
	visible(t, s, "keep", []byte("me"))
	require.NoError(t, s.Close())
	// And the count is exact after recovery.
	s2 := openClock(t, fs, clk, rskv.Options{MemorySize: 4 << 20, DisableBackground: true})
	require.Equal(t, 1, s2.Len())
	visible(t, s2, "keep", []byte("me"))
	require.NoError(t, s2.Close())
}

// TestExpirerService: the supervised expirer runs on the injected clock,
// reclaims expired keys, and is restarted after an injected fault.
func TestExpirerService(t *testing.T) {
	clk := actorstest.NewClock(t0)
	faults := &rskv.ServiceFaults{}
	s := openClock(t, vfs.NewMem(), clk, rskv.Options{MemorySize: 1 << 20, ServiceFaults: faults,
		CheckpointInterval: -1, GCInterval: -1})
	defer func() { require.NoError(t, s.Close()) }()
	for i := 0; i < 100; i++ {
		require.NoError(t, s.PutTTL([]byte(fmt.Sprint("k", i)), []byte("v"), time.Second))
	}
	require.Equal(t, 100, s.Len())

	require.NoError(t, faults.FailNext("expirer", errors.New("injected expirer fault")))
	require.NoError(t, faults.Trigger("expirer"))
	eventually(t, "the expirer to be restarted", func() bool {
		st := serviceNamed(t, s, "expirer")
		return st.Restarts >= 1 && st.Running
	})
	require.Equal(t, 100, s.Len(), "nothing expired yet")
	clk.Advance(2 * time.Second) // also fires the expirer's ticker
	eventually(t, "the expirer to reclaim the keys", func() bool {
		_ = faults.Trigger("expirer")
		return s.Len() == 0
	})
	visible(t, s, "k1", nil)
}

func serviceNamed(t *testing.T, s *rskv.Store, name string) rskv.ServiceStatus {
	t.Helper()
	for _, st := range s.Services() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no service %q", name)
	return rskv.ServiceStatus{}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestExpiryReclaimCrash: the expirer's and compaction's tombstones are
// ordinary log records: after a crash, recovery counts them, so Len is
// exact, and a sweep after the crash finishes what the lost ones left.
func TestExpiryReclaimCrash(t *testing.T) {
	clk := actorstest.NewClock(t0)
	fs := vfs.NewMem()
	o := rskv.Options{MemorySize: 1 << 20, DisableBackground: true}
	s := openClock(t, fs, clk, o)
	const n = 3000
	for i := 0; i < n; i++ {
		require.NoError(t, s.PutTTL([]byte(fmt.Sprint("k", i)), bytes.Repeat([]byte{'v'}, 100), time.Minute))
	}
	require.NoError(t, s.Put([]byte("keep"), []byte("me")))
	require.NoError(t, s.Sync())
	clk.Advance(time.Hour)
	_, err := s.SweepExpiredForTest()
	require.NoError(t, err)
	unsynced := fs.CrashClone() // the tombstones may be lost
	_, err = s.Compact()
	require.NoError(t, err)
	require.Equal(t, 1, s.Len())
	require.NoError(t, s.Sync())
	synced := fs.CrashClone()
	require.NoError(t, s.Close())

	s = openClock(t, synced, clk, o)
	require.Equal(t, 1, s.Len(), "the durable tombstones are counted by recovery")
	visible(t, s, "k1", nil)
	visible(t, s, "keep", []byte("me"))
	require.NoError(t, s.Close())

	s = openClock(t, unsynced, clk, o)
	require.GreaterOrEqual(t, s.Len(), 1)
	require.LessOrEqual(t, s.Len(), n+1)
	visible(t, s, "k1", nil)
	// Recovery loads only the newest pages into memory: the expirer sweeps
	// those, and compaction takes the rest once the log has grown past
	// them.
	_, err = s.SweepExpiredForTest()
	require.NoError(t, err)
	pushToDisk(t, s)
	const fillers = 3000
	for i := 0; i < 5 && s.Len() > 1+fillers; i++ {
		_, err = s.Compact()
		require.NoError(t, err)
	}
	require.Equal(t, 1+fillers, s.Len(), "the lost tombstones are written again")
	require.NoError(t, s.Close())
}
