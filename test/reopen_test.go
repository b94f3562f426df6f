package test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// TestReopenKeepsEverything writes, overwrites and deletes keys over several
// open/close cycles, through memory and disk, and checks after every reopen
// that each key is intact and Len is exact.
func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	opts := smallOptions()
	want := map[string][]byte{}
	rng := rand.New(rand.NewPCG(3, 4))
	for cycle := range 4 {
		s, err := rskv.Open(dir, opts)
		require.NoError(t, err)
		rec := s.Stats().Recovery
		require.Equal(t, cycle == 0, rec.Created)
		require.Zero(t, rec.TornAt, "a closed store has no torn tail")
		requireContents(t, s, want)

		for range scaled(3000) {
			i := rng.IntN(800)
			k := key(i)
			switch r := rng.IntN(10); {
			case r < 6:
				v := versioned(k, rng.Uint64(), rng.IntN(100))
				require.NoError(t, s.Put(k, v))
				want[string(k)] = v
			case r < 8:
				require.NoError(t, s.Delete(k))
				delete(want, string(k))
			case r < 9:
				v := bytes.Repeat([]byte{byte(i)}, rng.IntN(3)) // short and empty values
				require.NoError(t, s.Put(k, v))
				want[string(k)] = v
			default:
				ok, err := s.Has(k)
				require.NoError(t, err)
				_, live := want[string(k)]
				require.Equal(t, live, ok)
			}
		}
		require.Equal(t, len(want), s.Len())
		require.NoError(t, s.Close())
	}
	s := openStore(t, dir, opts)
	requireContents(t, s, want)
	st := s.Stats()
	// Close checkpoints when replaying would cost more than writing the
	// index; either way Open restored the store from disk.
	require.True(t, st.Recovery.CheckpointID > 0 || st.Recovery.Records > 0, "%+v", st.Recovery)
}

func TestDeleteSemantics(t *testing.T) {
	dir := t.TempDir()
	s, err := rskv.Open(dir, smallOptions())
	require.NoError(t, err)

	// Deleting an absent key is not an error and changes nothing.
	require.NoError(t, s.Delete([]byte("never-written")))
	require.Equal(t, 0, s.Len())
	require.EqualValues(t, 1, s.Stats().Deletes)

	require.NoError(t, s.Put([]byte("a"), []byte("1")))
	require.NoError(t, s.Put([]byte("b"), []byte("2")))
	require.NoError(t, s.Put([]byte("c"), nil))
	require.Equal(t, 3, s.Len())
	require.NoError(t, s.Delete([]byte("a")))
	require.NoError(t, s.Delete([]byte("a")), "deleting twice")
	require.Equal(t, 2, s.Len())
	_, err = s.Get([]byte("a"))
	require.ErrorIs(t, err, rskv.ErrNotFound)
	buf, err := s.AppendValue([]byte("prefix"), []byte("a"))
	require.ErrorIs(t, err, rskv.ErrNotFound)
	require.Equal(t, []byte("prefix"), buf, "AppendValue returns dst unchanged when absent")
	ok, err := s.Has([]byte("a"))
	require.NoError(t, err)
	require.False(t, ok)

	// An empty value is a live key.
	v, err := s.Get([]byte("c"))
	require.NoError(t, err)
	require.NotNil(t, v)
	require.Empty(t, v)
	ok, err = s.Has([]byte("c"))
	require.NoError(t, err)
	require.True(t, ok)

	// Delete then re-put, and delete of a key whose record is on disk.
	require.NoError(t, s.Put([]byte("b"), []byte("3")))
	require.NoError(t, s.Delete([]byte("b")))
	require.NoError(t, s.Put([]byte("b"), []byte("4")))
	require.NoError(t, s.Put([]byte("cold"), []byte("x")))
	end := s.Stats().TailAddress
	fill(t, s, "push", func(st rskv.Stats) bool { return st.HeadAddress > end })
	pushed := s.Len() - 3
	require.NoError(t, s.Delete([]byte("cold")))
	require.NoError(t, s.Delete([]byte("cold")))
	require.Equal(t, pushed+2, s.Len())
	require.NoError(t, s.Close())

	s = openStore(t, dir, smallOptions())
	require.Equal(t, pushed+2, s.Len())
	for k, want := range map[string]string{"b": "4", "c": ""} {
		v, err := s.Get([]byte(k))
		require.NoError(t, err, k)
		require.Equal(t, want, string(v))
	}
	for _, k := range []string{"a", "cold", "never-written"} {
		_, err := s.Get([]byte(k))
		require.ErrorIs(t, err, rskv.ErrNotFound, k)
	}
}

// TestGetReturnsCallersCopy: the caller may change what Get returned and
// what it passed to Put without affecting the store.
func TestGetReturnsCallersCopy(t *testing.T) {
	s := openStore(t, t.TempDir(), smallOptions())
	k, v := []byte("key"), []byte("value")
	require.NoError(t, s.Put(k, v))
	k[0], v[0] = 'X', 'X'
	got, err := s.Get([]byte("key"))
	require.NoError(t, err)
	require.Equal(t, []byte("value"), got)
	got[0] = 'Y'
	got2, err := s.Get([]byte("key"))
	require.NoError(t, err)
	require.Equal(t, []byte("value"), got2)
	_, err = s.Get([]byte("Xey"))
	require.ErrorIs(t, err, rskv.ErrNotFound)
}

// TestManyKeysSharingBuckets stresses hash chains: many more keys than index
// entries, so buckets overflow and keys share tags, across reopen.
func TestManyKeysSharingBuckets(t *testing.T) {
	dir := t.TempDir()
	opts := smallOptions()
	opts.IndexBuckets = 1024 // the minimum: ~7k entries for 20k keys
	s, err := rskv.Open(dir, opts)
	require.NoError(t, err)
	n := scaled(20000)
	for i := range n {
		require.NoError(t, s.Put(key(i), fmt.Appendf(nil, "v%d", i)))
	}
	require.Positive(t, s.Stats().IndexOverflowBuckets)
	for i := 0; i < n; i += 3 {
		require.NoError(t, s.Delete(key(i)))
	}
	check := func(s *rskv.Store) {
		live := 0
		for i := range n {
			v, err := s.Get(key(i))
			if i%3 == 0 {
				require.ErrorIs(t, err, rskv.ErrNotFound, "key %d", i)
				continue
			}
			live++
			require.NoError(t, err, "key %d", i)
			require.Equal(t, fmt.Sprintf("v%d", i), string(v))
		}
		require.Equal(t, live, s.Len())
	}
	check(s)
	require.NoError(t, s.Close())
	check(openStore(t, dir, opts))
}

// TestLargeValuesSurviveReopen: with large pages a value may be far larger
// than a megabyte; the store must reopen with it, whether it is in the
// middle of the log or at its end.
func TestLargeValuesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	opts := &rskv.Options{MemorySize: 8 << 20, PageSize: 2 << 20, DisableBackground: true}
	s, err := rskv.Open(dir, opts)
	require.NoError(t, err)
	big := bytes.Repeat([]byte("0123456789abcdef"), (1<<21-4096)/16)
	require.NoError(t, s.Put([]byte("big-1"), big[:1500<<10]))
	require.NoError(t, s.Put([]byte("small"), []byte("x")))
	require.NoError(t, s.Put([]byte("big-2"), big))
	require.NoError(t, s.Close())

	s = openStore(t, dir, opts)
	requireContents(t, s, map[string][]byte{"big-1": big[:1500<<10], "small": []byte("x"), "big-2": big})
}
