package rskv

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/hashidx"
	"github.com/rskv-go/rskv/internal/hlog"
	"github.com/rskv-go/rskv/internal/racecheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ikey(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

// emptyEntries counts index entries with no chain (address 0).
func emptyEntries(s *Store) int {
	n := 0
	s.index.Range(func(_ hashidx.Slot, e hashidx.Entry) bool {
		if e.Address() == 0 {
			n++
		}
		return true
	})
	return n
}

// TestFailedUpsertsLeaveNoEmptyEntries: an RMW of an absent key creates an
// index entry before its fn runs; when the write then fails (the value is
// too large, or fn panics) the entry must not stay behind with address 0.
func TestFailedUpsertsLeaveNoEmptyEntries(t *testing.T) {
	s, err := Open(t.TempDir(), &Options{MemorySize: 1 << 20, DisableBackground: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()

	huge := make([]byte, 2<<20) // more than a page
	for i := 0; i < 500; i++ {
		_, err := s.RMW(ikey(i), func([]byte, bool) []byte { return huge })
		require.True(t, errors.Is(err, ErrValueTooLarge), "%v", err)
	}
	for i := 500; i < 600; i++ {
		require.Panics(t, func() {
			_, _ = s.RMW(ikey(i), func([]byte, bool) []byte { panic("boom") })
		})
	}
	require.Zero(t, emptyEntries(s), "failed upserts left empty index entries")
	require.Zero(t, s.Len())

	// The keys work normally afterwards.
	for i := 0; i < 600; i += 50 {
		require.NoError(t, s.Put(ikey(i), []byte("v")))
		v, err := s.Get(ikey(i))
		require.NoError(t, err)
		require.Equal(t, []byte("v"), v)
	}
	require.Zero(t, emptyEntries(s))
}

// TestCompactionClearsStrayEmptyEntries: an empty entry that got past the
// failure path (one a checkpoint kept, say) is cleared by compaction's
// index sweep.
func TestCompactionClearsStrayEmptyEntries(t *testing.T) {
	s, err := Open(t.TempDir(), &Options{MemorySize: 1 << 20, DisableBackground: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, s.Put(ikey(1), []byte("one")))
	for i := 100; i < 110; i++ {
		s.index.FindOrCreate(hashKey(ikey(i)))
	}
	require.Equal(t, 10, emptyEntries(s))
	s.clearEntriesBelow(s.log.Begin())
	require.Zero(t, emptyEntries(s))
	v, err := s.Get(ikey(1))
	require.NoError(t, err)
	require.Equal(t, []byte("one"), v)
}

// measureDead returns, per segment, the bytes of records in the log that
// are not their key's newest version (tombstones and invalid records
// included): what the conditional append's accounting must add up to.
func measureDead(t *testing.T, s *Store) map[uint64]int64 {
	t.Helper()
	dead := map[uint64]int64{}
	g := s.em.Protect()
	defer g.Release()
	buf := getBuf()
	defer putBuf(buf)
	sc := s.log.NewScanner(s.log.Begin(), s.log.Tail()) // quiescent: the whole log
	for {
		it, ok, err := sc.Next()
		require.NoError(t, err)
		if !ok {
			return dead
		}
		seg := it.Address >> s.dead.segBits
		if it.Info&(hlog.FlagInvalid|hlog.FlagTombstone) != 0 {
			dead[seg] += int64(it.Size)
			continue
		}
		newest, err := s.isNewest(g, it.Key, it.Address, buf)
		require.NoError(t, err)
		if !newest {
			dead[seg] += int64(it.Size)
		}
	}
}

// TestDeadBytesMatchTheLog runs concurrent Puts, Deletes and RMWs (in place
// and appending, with lost index races), read promotion, the residency copy
// and compactions, then checks that each segment's dead-byte estimate is
// exactly the bytes of the dead records in it: every path that supersedes a
// version counts it once, where it lives.
func TestDeadBytesMatchTheLog(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keys, ops int
	}{
		{"spills", 6000, 6000}, // larger than memory: promotion, disk reads
		{"fits", 300, 20000},   // live data fits: the residency copy runs
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No background services: nothing may change the log between
			// the measurement and the comparison. Writers make room inline,
			// which runs the residency copy as the log shifter would.
			s, err := Open(t.TempDir(), &Options{MemorySize: 256 << 10, PageSize: 4 << 10, SegmentSize: 16 << 10,
				DisableBackground: true})
			require.NoError(t, err)
			defer func() { require.NoError(t, s.Close()) }()
			var wg sync.WaitGroup
			ops := racecheck.Scale(tc.ops, 4)
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					for op := 0; op < ops; op++ {
						// A tenth of the keys takes most of the writes, so
						// the others' versions are live when evicted.
						k := ikey(rng.IntN(tc.keys / 10))
						if rng.IntN(4) == 0 {
							k = ikey(rng.IntN(tc.keys))
						}
						var err error
						switch r := rng.IntN(20); {
						case r == 0:
							err = s.Delete(k)
						case r < 4:
							_, err = s.RMW(k, func(old []byte, found bool) []byte {
								if len(old) > 200 {
									old = old[:0]
								}
								return append(bytes.Clone(old), byte(op)) // grows: appends
							})
						case r < 10:
							if _, err = s.Get(k); errors.Is(err, ErrNotFound) {
								err = nil
							}
						default:
							err = s.Put(k, make([]byte, 16+rng.IntN(48)))
						}
						if err == nil && op%500 == 0 {
							err = s.Sync()
						}
						if !assert.NoError(t, err) {
							return
						}
					}
				}(w)
			}
			for i := 0; i < 5; i++ {
				_, err := s.Compact()
				require.NoError(t, err)
			}
			wg.Wait()
			_, err = s.Compact()
			require.NoError(t, err)
			require.NoError(t, s.Sync())

			measured := measureDead(t, s)
			st := s.Stats()
			t.Logf("dead %d of %d bytes, promotions %d, kept resident %d, retries %d, compactions %d",
				st.DeadBytes, st.TailAddress-st.BeginAddress, st.Promotions, st.KeptResident, st.Retries, st.Compactions)
			var total int64
			for seg := st.BeginAddress >> s.dead.segBits; seg <= (s.log.Tail()-1)>>s.dead.segBits; seg++ {
				require.Equal(t, measured[seg], s.dead.segment(seg), "segment %d", seg)
				total += measured[seg]
			}
			require.Positive(t, total)
		})
	}
}

// TestDeadBytesTable checks the per-segment counters: growth while adding,
// dropping compacted segments, measured values and spreading a total.
func TestDeadBytesTable(t *testing.T) {
	var d deadBytes
	d.init(10, 64) // 1 KiB segments
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				d.add(uint64(i)<<10|5, uint64(w)<<61, 1) // the table grows meanwhile
			}
		}(w)
	}
	wg.Wait()
	require.Equal(t, int64(4000), d.sum())
	require.Equal(t, int64(4), d.segment(999))
	d.set(999, 100)
	require.Equal(t, int64(100), d.segment(999))
	d.dropBelow(200 << 10)
	require.Zero(t, d.segment(199))
	require.Equal(t, int64(4), d.segment(200))
	require.Equal(t, int64(4*800-4+100), d.sum())
	d.add(5<<10, 0, 1) // below the table: ignored
	require.Zero(t, d.segment(5))

	var e deadBytes
	e.init(10, 0)
	e.spread(512, 3<<10, 2560)
	require.Equal(t, int64(512), e.segment(0))
	require.Equal(t, int64(1024), e.segment(1))
	require.Equal(t, int64(1024), e.segment(2))
}
