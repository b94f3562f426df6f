package server

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMultiGoRedis(t *testing.T) {
	ctx := context.Background()
	bothProtocols(t, func(t *testing.T, c *redis.Client) {
		// Read-your-writes in order inside EXEC.
		var get *redis.StringCmd
		var incr *redis.IntCmd
		cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "x", "10", 0)
			incr = p.IncrBy(ctx, "x", 5)
			get = p.Get(ctx, "x")
			p.HSet(ctx, "h", "a", "1", "b", "2")
			p.HDel(ctx, "h", "a")
			p.Del(ctx, "x")
			return nil
		})
		require.NoError(t, err)
		require.Len(t, cmds, 6)
		require.Equal(t, int64(15), incr.Val())
		require.Equal(t, "15", get.Val())
		require.Equal(t, int64(0), c.Exists(ctx, "x").Val())
		require.Equal(t, map[string]string{"b": "2"}, c.HGetAll(ctx, "h").Val())
		require.Equal(t, int64(1), c.DBSize(ctx).Val())

		// A runtime error inside EXEC is that command's reply only.
		cmds, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "y", "1", 0)
			p.Incr(ctx, "h")
			p.Incr(ctx, "y")
			return nil
		})
		require.Error(t, err)
		require.NoError(t, cmds[0].Err())
		require.ErrorContains(t, cmds[1].Err(), "WRONGTYPE")
		require.Equal(t, "2", c.Get(ctx, "y").Val())
	})
}

// TestWatchConflict: a write by another client between WATCH and EXEC
// makes EXEC return a nil array (go-redis: TxFailedErr), and nothing of
// the transaction is applied.
func TestWatchConflict(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, Config{})
	for _, proto := range []int{2, 3} {
		a, b := ts.client(proto), ts.client(proto)
		require.NoError(t, a.Set(ctx, "w", "0", 0).Err())
		require.NoError(t, a.HSet(ctx, "wh", "f", "0").Err())
		for _, key := range []string{"w", "wh"} {
			err := a.Watch(ctx, func(tx *redis.Tx) error {
				if key == "w" {
					require.NoError(t, b.Set(ctx, "w", "other", 0).Err())
				} else {
					// A field write leaves the header alone: it is seen too.
					require.NoError(t, b.HSet(ctx, "wh", "f", "1").Err())
				}
				_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Set(ctx, "applied", "yes", 0)
					return nil
				})
				return err
			}, key)
			require.ErrorIs(t, err, redis.TxFailedErr, "proto %d key %s", proto, key)
			require.Equal(t, int64(0), a.Exists(ctx, "applied").Val())
		}
		// Unmodified: EXEC runs.
		err := a.Watch(ctx, func(tx *redis.Tx) error {
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "applied", "yes", 0)
				return nil
			})
			return err
		}, "w", "wh")
		require.NoError(t, err)
		require.Equal(t, "yes", a.Get(ctx, "applied").Val())
		require.NoError(t, a.FlushDB(ctx).Err())
	}
}

// TestWatchOptimisticCounter is Redis's optimistic-locking example under
// contention: every successful EXEC is counted once, none lost.
func TestWatchOptimisticCounter(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, Config{})
	const workers, per = 8, 40
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ts.client(2 + w%2)
			for i := 0; i < per; i++ {
				err := c.Watch(ctx, func(tx *redis.Tx) error {
					n, err := tx.Get(ctx, "ctr").Int()
					if err != nil && err != redis.Nil {
						return err
					}
					_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Set(ctx, "ctr", strconv.Itoa(n+1), 0)
						return nil
					})
					return err
				}, "ctr")
				switch err {
				case nil:
					ok.Add(1)
				case redis.TxFailedErr:
					failed.Add(1)
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	n, err := ts.client(2).Get(ctx, "ctr").Int()
	require.NoError(t, err)
	assert.Equal(t, ok.Load(), int64(n))
	assert.Equal(t, int64(workers*per), ok.Load()+failed.Load())
}

// TestExecAtomicToReaders: MULTI transfers between two counters while
// readers MGET both: the sum never changes.
func TestExecAtomicToReaders(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, Config{})
	c := ts.client(3)
	require.NoError(t, c.MSet(ctx, "acc1", 1000, "acc2", 1000).Err())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := ts.client(2)
			for {
				select {
				case <-stop:
					return
				default:
				}
				vs, err := r.MGet(ctx, "acc1", "acc2").Result()
				if !assert.NoError(t, err) {
					return
				}
				a, _ := strconv.Atoi(vs[0].(string))
				b, _ := strconv.Atoi(vs[1].(string))
				if !assert.Equal(t, 2000, a+b) {
					return
				}
			}
		}()
	}
	for i := 0; i < 300; i++ {
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.DecrBy(ctx, "acc1", 7)
			p.IncrBy(ctx, "acc2", 7)
			return nil
		})
		require.NoError(t, err)
	}
	close(stop)
	wg.Wait()
	require.Equal(t, "-1100", c.Get(ctx, "acc1").Val())
}

// TestMultiKeyWritesAtomicToReaders: MSET, RENAME and DEL of several keys
// are one Store.Update each, MGET one View: a reader never sees half.
func TestMultiKeyWritesAtomicToReaders(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, Config{})
	c := ts.client(2)
	require.NoError(t, c.MSet(ctx, "p", 0, "q", 0, "ra", "x").Err())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := ts.client(3)
		for {
			select {
			case <-stop:
				return
			default:
			}
			vs, err := r.MGet(ctx, "p", "q", "ra", "rb").Result()
			if !assert.NoError(t, err) || !assert.Equal(t, vs[0], vs[1], "MSET or DEL seen half") {
				return
			}
			if !assert.True(t, (vs[2] == nil) != (vs[3] == nil), "RENAME seen half: %v", vs) {
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(stop)
	for i := 1; i < 300; i++ {
		require.NoError(t, c.MSet(ctx, "p", i, "q", i).Err())
		if i%3 == 0 {
			require.Equal(t, int64(2), c.Del(ctx, "p", "q").Val())
		}
		if i%2 == 1 {
			require.NoError(t, c.Rename(ctx, "ra", "rb").Err())
		} else {
			require.NoError(t, c.Rename(ctx, "rb", "ra").Err())
		}
	}
}

// TestWatchSameValueAborts: as in Redis, a write between WATCH and EXEC
// aborts the EXEC even when it leaves the key as it was (a SET of the
// same value, an HSET of the same field value); a write of another key
// does not, nor does a write that ended before WATCH.
func TestWatchSameValueAborts(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, Config{})
	for _, proto := range []int{2, 3} {
		a, b := ts.client(proto), ts.client(proto)
		require.NoError(t, a.Set(ctx, "w", "same", 0).Err())
		require.NoError(t, a.HSet(ctx, "wh", "f", "same").Err())
		run := func(between func(), keys ...string) error {
			return a.Watch(ctx, func(tx *redis.Tx) error {
				between()
				_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Incr(ctx, "applied")
					return nil
				})
				return err
			}, keys...)
		}
		err := run(func() { require.NoError(t, b.Set(ctx, "w", "same", 0).Err()) }, "w")
		require.ErrorIs(t, err, redis.TxFailedErr, "SET of the same value, proto %d", proto)
		err = run(func() { require.NoError(t, b.HSet(ctx, "wh", "f", "same").Err()) }, "wh")
		require.ErrorIs(t, err, redis.TxFailedErr, "HSET of the same value, proto %d", proto)
		err = run(func() { require.NoError(t, b.Incr(ctx, "absent-watched").Err()) }, "absent-watched")
		require.ErrorIs(t, err, redis.TxFailedErr, "a watched absent key created, proto %d", proto)
		require.Equal(t, "", a.Get(ctx, "applied").Val(), "an aborted EXEC applied its commands")

		err = run(func() { require.NoError(t, b.Set(ctx, "other", "same", 0).Err()) }, "w", "wh")
		require.NoError(t, err, "a write of another key aborted the EXEC")
		require.Equal(t, "1", a.Get(ctx, "applied").Val())
		// The stamps of the keys are gone with the watches.
		require.Equal(t, int64(0), ts.srv.db.watching.Load())
		require.NoError(t, a.FlushDB(ctx).Err())
	}
}

// TestWatchReleasedOnClose: a connection that closes while watching keys
// drops its watches.
func TestWatchReleasedOnClose(t *testing.T) {
	ts := startServer(t, Config{})
	r := ts.raw()
	r.cmd("WATCH", "a", "b", "a")
	require.Equal(t, "+OK\r\n", r.reply())
	require.Equal(t, int64(2), ts.srv.db.watching.Load())
	require.NoError(t, r.nc.Close())
	require.Eventually(t, func() bool { return ts.srv.db.watching.Load() == 0 }, 10*time.Second, 5*time.Millisecond)
}
