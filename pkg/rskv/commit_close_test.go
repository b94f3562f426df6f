package rskv_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// generation returns the one generation n keys hold (0: absent), failing
// on a mix.
func generation(t *testing.T, s *rskv.Store, n int) uint64 {
	t.Helper()
	var first uint64
	for i := 0; i < n; i++ {
		g := getU64(t, s.Get, fmt.Sprintf("c%05d", i))
		if i == 0 {
			first = g
		}
		require.Equal(t, first, g, "key %d: a torn commit", i)
	}
	return first
}

// TestCloseDuringCommit closes the store while a batch larger than memory
// commits: Commit returns nil or ErrClosed, and after reopening the batch is
// wholly there (nil) or wholly absent (ErrClosed).
func TestCloseDuringCommit(t *testing.T) {
	closedMid := 0
	defer func() { t.Logf("%d of 6 commits cut short by Close", closedMid) }()
	for round := 0; round < 6; round++ {
		fs := vfs.NewMem()
		o := &rskv.Options{FS: fs, MemorySize: 256 << 10, PageSize: 4 << 10, DisableBackground: true}
		s, err := rskv.Open("db", o)
		require.NoError(t, err)
		const n = 5000
		b := s.NewBatch()
		for i := 0; i < n; i++ {
			b.Put([]byte(fmt.Sprintf("c%05d", i)), u64(1))
		}
		require.NoError(t, b.Commit())
		b.Reset()
		for i := 0; i < n; i++ {
			b.Put([]byte(fmt.Sprintf("c%05d", i)), u64(2))
		}
		before := s.Stats().TailAddress
		var wg sync.WaitGroup
		var cerr error
		var finished atomic.Bool
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer finished.Store(true)
			cerr = b.Commit()
		}()
		// Close once the commit has written round*40 KiB (the batch is
		// about 200 KiB), or has finished. (Stats walks the index: poll it
		// sparingly.)
		for !finished.Load() && s.Stats().TailAddress < before+uint64(round)*40<<10 {
			time.Sleep(20 * time.Microsecond)
		}
		require.NoError(t, s.Close())
		wg.Wait()
		require.True(t, cerr == nil || errors.Is(cerr, rskv.ErrClosed), "Commit during Close: %v", cerr)
		o.FS = fs
		r, err := rskv.Open("db", o)
		require.NoError(t, err)
		want := uint64(2)
		if cerr != nil {
			want = 1
			closedMid++
		}
		require.Equal(t, want, generation(t, r, n), "round %d (Commit returned %v)", round, cerr)
		require.Equal(t, n, r.Len())
		require.NoError(t, r.Close())
	}
}

// TestCheckpointsDuringCommits takes checkpoints while batches and
// transactions commit, then reopens from the last one: every commit is
// wholly there, and Len is right.
func TestCheckpointsDuringCommits(t *testing.T) {
	fs := vfs.NewMem()
	o := &rskv.Options{FS: fs, MemorySize: 256 << 10, PageSize: 4 << 10, DisableBackground: true}
	s, err := rskv.Open("db", o)
	require.NoError(t, err)
	const n = 300
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for gen := uint64(1); gen <= 40; gen++ {
			if gen%2 == 0 {
				b := s.NewBatch()
				for i := 0; i < n; i++ {
					b.Put([]byte(fmt.Sprintf("c%05d", i)), u64(gen))
				}
				b.Put([]byte(fmt.Sprintf("extra%03d", gen)), nil)
				require.NoError(t, b.Commit())
				continue
			}
			require.NoError(t, s.Update(func(tx *rskv.Txn) error {
				for i := 0; i < n; i++ {
					if err := tx.Put([]byte(fmt.Sprintf("c%05d", i)), u64(gen)); err != nil {
						return err
					}
				}
				return tx.Delete([]byte(fmt.Sprintf("extra%03d", gen-1)))
			}))
		}
	}()
	for i := 0; i < 10; i++ {
		_, err := s.Checkpoint()
		require.NoError(t, err)
	}
	wg.Wait()
	_, err = s.Checkpoint()
	require.NoError(t, err)
	want := s.Len()
	// Reopen from a crash copy: the checkpoint and the log after it.
	require.NoError(t, s.Sync())
	c := fs.CrashClone()
	require.NoError(t, s.Close())
	o.FS = c
	r, err := rskv.Open("db", o)
	require.NoError(t, err)
	defer r.Close()
	require.NotZero(t, r.Stats().Recovery.CheckpointID)
	require.Equal(t, uint64(40), generation(t, r, n))
	require.Equal(t, want, r.Len())
	count := 0
	require.NoError(t, r.Scan(nil, func(k, v []byte) bool { count++; return true }))
	require.Equal(t, want, count)
}
