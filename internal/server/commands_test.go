package server

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bothProtocols runs fn against one server with a RESP2 and a RESP3 client.
func bothProtocols(t *testing.T, fn func(t *testing.T, c *redis.Client)) {
	ts := startServer(t, Config{})
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			c := ts.client(proto)
			require.NoError(t, c.FlushDB(context.Background()).Err())
			fn(t, c)
		})
	}
}

func TestStrings(t *testing.T) {
	bothProtocols(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		require.Equal(t, "PONG", c.Ping(ctx).Val())
		_, err := c.Get(ctx, "missing").Result()
		require.ErrorIs(t, err, redis.Nil)
		require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
		require.Equal(t, "v", c.Get(ctx, "k").Val())
		require.Equal(t, int64(1), c.StrLen(ctx, "k").Val())
		require.Equal(t, int64(4), c.Append(ctx, "k", "abc").Val())
		require.Equal(t, "vabc", c.Get(ctx, "k").Val())
		require.Equal(t, int64(3), c.Append(ctx, "new", "xyz").Val())

		// SET options.
		ok, err := c.SetNX(ctx, "k", "x", 0).Result()
		require.NoError(t, err)
		require.False(t, ok)
		ok, err = c.SetXX(ctx, "nope", "x", 0).Result()
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, int64(0), c.Exists(ctx, "nope").Val())
		ok, err = c.SetXX(ctx, "k", "w", 0).Result()
		require.NoError(t, err)
		require.True(t, ok)
		old, err := c.SetArgs(ctx, "k", "z", redis.SetArgs{Get: true}).Result()
		require.NoError(t, err)
		require.Equal(t, "w", old)
		_, err = c.SetArgs(ctx, "fresh", "1", redis.SetArgs{Get: true, Mode: "NX"}).Result()
		require.ErrorIs(t, err, redis.Nil)
		require.Equal(t, "1", c.Get(ctx, "fresh").Val())
		old, err = c.SetArgs(ctx, "fresh", "2", redis.SetArgs{Get: true, Mode: "NX"}).Result()
		require.NoError(t, err)
		require.Equal(t, "1", old)
		require.Equal(t, "1", c.Get(ctx, "fresh").Val())
		require.NoError(t, c.SetArgs(ctx, "fresh", "3", redis.SetArgs{KeepTTL: true}).Err())
		require.Equal(t, "3", c.Get(ctx, "fresh").Val())

		require.Equal(t, "z", c.GetSet(ctx, "k", "y").Val())
		require.Equal(t, redis.Nil, c.GetSet(ctx, "gs", "1").Err())
		require.Equal(t, "y", c.GetDel(ctx, "k").Val())
		require.Equal(t, redis.Nil, c.GetDel(ctx, "k").Err())
		require.True(t, c.SetNX(ctx, "nx", "1", 0).Val())
		require.False(t, c.SetNX(ctx, "nx", "2", 0).Val())

		// MGET/MSET/MSETNX.
		require.NoError(t, c.MSet(ctx, "a", "1", "b", "2").Err())
		require.Equal(t, []any{"1", "2", nil}, c.MGet(ctx, "a", "b", "c").Val())
		require.False(t, c.MSetNX(ctx, "c", "3", "a", "x").Val())
		require.Equal(t, redis.Nil, c.Get(ctx, "c").Err())
		require.True(t, c.MSetNX(ctx, "c", "3", "d", "4").Val())
		require.Equal(t, "3", c.Get(ctx, "c").Val())

		// Ranges.
		require.NoError(t, c.Set(ctx, "r", "Hello World", 0).Err())
		require.Equal(t, "Hello", c.GetRange(ctx, "r", 0, 4).Val())
		require.Equal(t, "World", c.GetRange(ctx, "r", -5, -1).Val())
		require.Equal(t, int64(11), c.SetRange(ctx, "r", 6, "Redis").Val())
		require.Equal(t, "Hello Redis", c.Get(ctx, "r").Val())
		require.Equal(t, int64(8), c.SetRange(ctx, "pad", 5, "abc").Val())
		require.Equal(t, "\x00\x00\x00\x00\x00abc", c.Get(ctx, "pad").Val())

		// Counters.
		require.Equal(t, int64(1), c.Incr(ctx, "n").Val())
		require.Equal(t, int64(11), c.IncrBy(ctx, "n", 10).Val())
		require.Equal(t, int64(10), c.Decr(ctx, "n").Val())
		require.Equal(t, int64(-5), c.DecrBy(ctx, "n", 15).Val())
		require.Equal(t, 10.5, c.IncrByFloat(ctx, "f", 10.5).Val())
		require.Equal(t, "10.5", c.Get(ctx, "f").Val())
		// Long double arithmetic, as Redis's: 0.1 + 0.2 is 0.3 here.
		require.NoError(t, c.IncrByFloat(ctx, "g", 0.1).Err())
		require.Equal(t, "0.3", c.Do(ctx, "INCRBYFLOAT", "g", "0.2").Val())
		require.NoError(t, c.Set(ctx, "g", "5.0e3", 0).Err())
		require.Equal(t, "5200", c.Do(ctx, "INCRBYFLOAT", "g", "2.0e2").Val())
	})
}

func TestKeys(t *testing.T) {
	bothProtocols(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		for i := 0; i < 50; i++ {
			require.NoError(t, c.Set(ctx, fmt.Sprintf("key:%02d", i), i, 0).Err())
		}
		require.NoError(t, c.HSet(ctx, "hash", "f", "v").Err())
		require.Equal(t, int64(51), c.DBSize(ctx).Val())
		require.Equal(t, "string", c.Type(ctx, "key:01").Val())
		require.Equal(t, "hash", c.Type(ctx, "hash").Val())
		require.Equal(t, "none", c.Type(ctx, "nope").Val())
		require.Equal(t, int64(3), c.Exists(ctx, "key:01", "key:01", "hash", "nope").Val())

		keys := c.Keys(ctx, "key:1?").Val()
		sort.Strings(keys)
		require.Equal(t, []string{"key:10", "key:11", "key:12", "key:13", "key:14", "key:15", "key:16", "key:17", "key:18", "key:19"}, keys)
		require.Len(t, c.Keys(ctx, "*").Val(), 51)

		// SCAN returns every key exactly once here, in COUNT-sized steps.
		seen := map[string]int{}
		var cursor uint64
		calls := 0
		for {
			ks, next, err := c.Scan(ctx, cursor, "", 7).Result()
			require.NoError(t, err)
			require.LessOrEqual(t, len(ks), 7)
			for _, k := range ks {
				seen[k]++
			}
			calls++
			if next == 0 {
				break
			}
			cursor = next
		}
		require.Len(t, seen, 51)
		require.Greater(t, calls, 5)
		for k, n := range seen {
			require.Equal(t, 1, n, k)
		}
		ks, _, err := c.ScanType(ctx, 0, "*", 1000, "hash").Result()
		require.NoError(t, err)
		require.Equal(t, []string{"hash"}, ks)
		ks, _, err = c.Scan(ctx, 0, "key:4*", 1000).Result()
		require.NoError(t, err)
		require.Len(t, ks, 10)

		require.NotEmpty(t, c.RandomKey(ctx).Val())
		require.NoError(t, c.Rename(ctx, "key:00", "renamed").Err())
		require.Equal(t, "0", c.Get(ctx, "renamed").Val())
		require.Equal(t, redis.Nil, c.Get(ctx, "key:00").Err())
		require.False(t, c.RenameNX(ctx, "renamed", "key:01").Val())
		require.True(t, c.RenameNX(ctx, "renamed", "key:00").Val())
		require.EqualError(t, c.Rename(ctx, "nope", "x").Err(), "ERR no such key")
		require.NoError(t, c.Rename(ctx, "hash", "hash2").Err())
		require.Equal(t, "v", c.HGet(ctx, "hash2", "f").Val())
		// A rename onto a hash drops the old hash.
		require.NoError(t, c.HSet(ctx, "hash3", "g", "w").Err())
		require.NoError(t, c.Rename(ctx, "hash2", "hash3").Err())
		require.Equal(t, map[string]string{"f": "v"}, c.HGetAll(ctx, "hash3").Val())

		require.Equal(t, int64(-1), c.TTL(ctx, "key:01").Val().Nanoseconds())
		require.Equal(t, int64(-2), c.TTL(ctx, "nope").Val().Nanoseconds())
		require.False(t, c.Persist(ctx, "key:01").Val())
		require.Equal(t, int64(-1), c.PTTL(ctx, "key:01").Val().Nanoseconds())
		require.Equal(t, int64(-2), c.PTTL(ctx, "nope").Val().Nanoseconds())
		require.Equal(t, int64(-1), c.Do(ctx, "EXPIRETIME", "key:01").Val())
		require.Equal(t, int64(-2), c.Do(ctx, "PEXPIRETIME", "nope").Val())

		require.Equal(t, int64(2), c.Del(ctx, "key:01", "key:02", "nope").Val())
		require.Equal(t, int64(1), c.Unlink(ctx, "hash3").Val())
		require.Equal(t, int64(48), c.DBSize(ctx).Val())
		require.NoError(t, c.FlushDB(ctx).Err())
		require.Equal(t, int64(0), c.DBSize(ctx).Val())
		require.Empty(t, c.Keys(ctx, "*").Val())
		require.NoError(t, c.Set(ctx, "x", "y", 0).Err())
		require.NoError(t, c.FlushAll(ctx).Err())
		require.Equal(t, int64(0), c.DBSize(ctx).Val())
		require.Equal(t, redis.Nil, c.RandomKey(ctx).Err())
	})
}

func TestHashes(t *testing.T) {
	bothProtocols(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		require.Equal(t, int64(3), c.HSet(ctx, "h", "a", "1", "b", "2", "c", "3").Val())
		require.Equal(t, int64(1), c.HSet(ctx, "h", "a", "10", "d", "4").Val())
		require.True(t, c.HMSet(ctx, "h", "e", "5").Val())
		require.False(t, c.HSetNX(ctx, "h", "a", "x").Val())
		require.True(t, c.HSetNX(ctx, "h", "f", "6").Val())
		require.Equal(t, "10", c.HGet(ctx, "h", "a").Val())
		require.Equal(t, redis.Nil, c.HGet(ctx, "h", "zz").Err())
		require.Equal(t, redis.Nil, c.HGet(ctx, "nohash", "a").Err())
		require.Equal(t, []any{"10", nil, "2"}, c.HMGet(ctx, "h", "a", "zz", "b").Val())
		require.Equal(t, int64(6), c.HLen(ctx, "h").Val())
		require.True(t, c.HExists(ctx, "h", "a").Val())
		require.False(t, c.HExists(ctx, "h", "zz").Val())
		require.Equal(t, int64(2), c.HStrLen(ctx, "h", "a").Val())
		require.Equal(t, int64(0), c.HStrLen(ctx, "h", "zz").Val())
		require.False(t, c.HExists(ctx, "nohash", "a").Val())
		require.Equal(t, int64(0), c.HStrLen(ctx, "nohash", "a").Val())
		want := map[string]string{"a": "10", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}
		require.Equal(t, want, c.HGetAll(ctx, "h").Val())
		keys := c.HKeys(ctx, "h").Val()
		sort.Strings(keys)
		require.Equal(t, []string{"a", "b", "c", "d", "e", "f"}, keys)
		require.Len(t, c.HVals(ctx, "h").Val(), 6)

		require.Equal(t, int64(2), c.HDel(ctx, "h", "a", "c", "zz").Val())
		delete(want, "a")
		delete(want, "c")
		require.Equal(t, want, c.HGetAll(ctx, "h").Val())
		require.Equal(t, int64(4), c.HLen(ctx, "h").Val())

		require.Equal(t, int64(7), c.HIncrBy(ctx, "h", "b", 5).Val())
		require.Equal(t, int64(-1), c.HIncrBy(ctx, "h", "new", -1).Val())
		require.Equal(t, 1.5, c.HIncrByFloat(ctx, "h", "fl", 1.5).Val())
		require.Equal(t, 8.5, c.HIncrByFloat(ctx, "h", "b", 1.5).Val())

		// HSCAN visits every field once.
		for i := 0; i < 100; i++ {
			require.NoError(t, c.HSet(ctx, "big", fmt.Sprintf("f%03d", i), i).Err())
		}
		seen := map[string]string{}
		var cursor uint64
		for {
			kv, next, err := c.HScan(ctx, "big", cursor, "", 10).Result()
			require.NoError(t, err)
			for i := 0; i < len(kv); i += 2 {
				_, dup := seen[kv[i]]
				require.False(t, dup, kv[i])
				seen[kv[i]] = kv[i+1]
			}
			if next == 0 {
				break
			}
			cursor = next
		}
		require.Len(t, seen, 100)
		require.Equal(t, "42", seen["f042"])
		kv, _, err := c.HScan(ctx, "big", 0, "f09*", 1000).Result()
		require.NoError(t, err)
		require.Len(t, kv, 20)

		// A hash left empty is deleted.
		require.Equal(t, int64(1), c.HSet(ctx, "one", "x", "y").Val())
		require.Equal(t, int64(1), c.HDel(ctx, "one", "x").Val())
		require.Equal(t, int64(0), c.Exists(ctx, "one").Val())
		// SET replaces a hash; its fields go with it.
		require.NoError(t, c.Set(ctx, "big", "s", 0).Err())
		require.Equal(t, "s", c.Get(ctx, "big").Val())
		require.Equal(t, int64(1), c.HSet(ctx, "big2", "only", "1").Val())
	})
}

func TestHScanGuaranteeUnderRemovals(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.client(3)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		require.NoError(t, c.HSet(ctx, "h", fmt.Sprintf("f%d", i), i).Err())
	}
	// Fields f0..f99 stay for the whole scan; f100..f199 are removed and new
	// ones added while it runs. Every stayer must be returned.
	seen := map[string]bool{}
	var cursor uint64
	step := 0
	for {
		kv, next, err := c.HScan(ctx, "h", cursor, "", 5).Result()
		require.NoError(t, err)
		for i := 0; i < len(kv); i += 2 {
			seen[kv[i]] = true
		}
		if step < 100 {
			require.NoError(t, c.HDel(ctx, "h", fmt.Sprintf("f%d", 199-step)).Err())
			require.NoError(t, c.HSet(ctx, "h", fmt.Sprintf("new%d", step), step).Err())
		}
		step++
		if next == 0 {
			break
		}
		cursor = next
	}
	for i := 0; i < 100; i++ {
		require.True(t, seen[fmt.Sprintf("f%d", i)], "f%d missed", i)
	}
}

func TestScanGuaranteeUnderWrites(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.client(2)
	ctx := context.Background()
	for i := 0; i < 300; i++ {
		require.NoError(t, c.Set(ctx, fmt.Sprintf("stay%d", i), i, 0).Err())
		require.NoError(t, c.Set(ctx, fmt.Sprintf("go%d", i), i, 0).Err())
	}
	seen := map[string]bool{}
	var cursor uint64
	step := 0
	for {
		ks, next, err := c.Scan(ctx, cursor, "", 20).Result()
		require.NoError(t, err)
		for _, k := range ks {
			seen[k] = true
		}
		// Churn: delete, add, and overwrite (which moves records in the log).
		for j := 0; j < 10; j++ {
			n := step*10 + j
			require.NoError(t, c.Del(ctx, fmt.Sprintf("go%d", n)).Err())
			require.NoError(t, c.Set(ctx, fmt.Sprintf("added%d", n), n, 0).Err())
			require.NoError(t, c.Set(ctx, fmt.Sprintf("stay%d", n%300), "overwritten", 0).Err())
		}
		step++
		if next == 0 {
			break
		}
		cursor = next
	}
	for i := 0; i < 300; i++ {
		require.True(t, seen[fmt.Sprintf("stay%d", i)], "stay%d missed", i)
	}
}

func TestServerCommands(t *testing.T) {
	bothProtocols(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		require.Equal(t, "hi", c.Echo(ctx, "hi").Val())
		require.Equal(t, "hello", c.Do(ctx, "PING", "hello").Val())
		require.NoError(t, c.Do(ctx, "SELECT", "0").Err())
		require.EqualError(t, c.Do(ctx, "SELECT", "1").Err(), "ERR DB index is out of range")
		id := c.ClientID(ctx).Val()
		require.Positive(t, id)
		require.NoError(t, c.Do(ctx, "CLIENT", "SETNAME", "tester").Err())
		require.Equal(t, "tester", c.Do(ctx, "CLIENT", "GETNAME").Val())
		info := c.ClientInfo(ctx)
		require.NoError(t, info.Err())
		require.Equal(t, id, info.Val().ID)
		require.Equal(t, "tester", info.Val().Name)
		list := c.ClientList(ctx).Val()
		require.Contains(t, list, "id="+strconv.FormatInt(id, 10)+" ")
		require.Contains(t, list, "name=tester")
		require.NoError(t, c.Do(ctx, "CLIENT", "SETINFO", "LIB-NAME", "x").Err())
		require.EqualError(t, c.Do(ctx, "CLIENT", "NOPE").Err(), "ERR unknown subcommand 'NOPE'. Try CLIENT HELP.")
		require.EqualError(t, c.Do(ctx, "CLIENT", "SETNAME").Err(), "ERR wrong number of arguments for 'client|setname' command")

		n, err := c.Do(ctx, "COMMAND", "COUNT").Int64()
		require.NoError(t, err)
		require.Equal(t, int64(len(cmdSorted)), n)
		cmds, err := c.Command(ctx).Result()
		require.NoError(t, err)
		require.EqualValues(t, 2, cmds["get"].Arity)
		require.EqualValues(t, 1, cmds["get"].FirstKeyPos)
		require.True(t, cmds["get"].ReadOnly)
		require.NoError(t, c.Do(ctx, "COMMAND", "DOCS", "get").Err())
		require.NoError(t, c.Do(ctx, "COMMAND", "INFO", "get", "set").Err())

		require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
		all := c.Info(ctx).Val()
		for _, s := range []string{"# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Keyspace", "# rskv", "db0:keys=1", "connected_clients:"} {
			require.Contains(t, all, s)
		}
		require.Contains(t, c.Info(ctx, "commandstats").Val(), "cmdstat_set:calls=")
		require.NotContains(t, c.Info(ctx, "keyspace").Val(), "# Server")

		cfg := c.ConfigGet(ctx, "proto-max-bulk-len").Val()
		require.Equal(t, map[string]string{"proto-max-bulk-len": "536870912"}, cfg)
		require.Equal(t, "1", c.ConfigGet(ctx, "databases").Val()["databases"])

		before := c.LastSave(ctx).Val()
		require.NoError(t, c.Save(ctx).Err())
		require.GreaterOrEqual(t, c.LastSave(ctx).Val(), before)
		require.Equal(t, "Background saving started", c.BgSave(ctx).Val())
		require.Eventually(t, func() bool {
			return strings.Contains(c.Info(ctx, "persistence").Val(), "rdb_bgsave_in_progress:0")
		}, 10*time.Second, 5*time.Millisecond)
		require.Contains(t, c.Info(ctx, "persistence").Val(), "rdb_last_bgsave_status:ok")
		require.Contains(t, c.Info(ctx, "persistence").Val(), "store_checkpoints_on_disk:")
		tm := c.Time(ctx)
		require.NoError(t, tm.Err())
		require.False(t, tm.Val().IsZero())
	})
}

func TestPipeline(t *testing.T) {
	bothProtocols(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		const n = 5000
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := 0; i < n; i++ {
				p.Set(ctx, fmt.Sprintf("p%d", i), strings.Repeat("x", i%100), 0)
				p.Incr(ctx, "counter")
				p.HSet(ctx, "ph", fmt.Sprintf("f%d", i), i)
			}
			return nil
		})
		require.NoError(t, err)
		require.Len(t, cmds, 3*n)
		gets, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := 0; i < n; i++ {
				p.Get(ctx, fmt.Sprintf("p%d", i))
			}
			p.Get(ctx, "counter")
			p.HLen(ctx, "ph")
			return nil
		})
		require.NoError(t, err)
		for i := 0; i < n; i++ {
			assert.Equal(t, strings.Repeat("x", i%100), gets[i].(*redis.StringCmd).Val())
		}
		require.Equal(t, strconv.Itoa(n), gets[n].(*redis.StringCmd).Val())
		require.Equal(t, int64(n), gets[n+1].(*redis.IntCmd).Val())
	})
}

func TestAuth(t *testing.T) {
	ts := startServer(t, Config{Password: "s3cret"})
	ctx := context.Background()
	anon := redis.NewClient(&redis.Options{Addr: ts.addr, Protocol: 2, DisableIdentity: true})
	defer anon.Close()
	require.EqualError(t, anon.Get(ctx, "k").Err(), "NOAUTH Authentication required.")
	require.EqualError(t, anon.Do(ctx, "AUTH", "wrong").Err(), "WRONGPASS invalid username-password pair or user is disabled.")

	for _, proto := range []int{2, 3} {
		c := redis.NewClient(&redis.Options{Addr: ts.addr, Protocol: proto, Password: "s3cret"})
		require.NoError(t, c.Set(ctx, "k", "v", 0).Err(), "RESP%d", proto)
		require.Equal(t, "v", c.Get(ctx, "k").Val())
		require.NoError(t, c.Close())
	}
	bad := redis.NewClient(&redis.Options{Addr: ts.addr, Protocol: 3, Password: "nope", MaxRetries: -1})
	defer bad.Close()
	require.Error(t, bad.Ping(ctx).Err())
}

func TestRestartKeepsData(t *testing.T) {
	ts := startServer(t, Config{})
	ctx := context.Background()
	c := ts.client(3)
	require.NoError(t, c.Set(ctx, "s", "v", 0).Err())
	require.NoError(t, c.HSet(ctx, "h", "a", "1", "b", "2").Err())
	require.NoError(t, c.Incr(ctx, "n").Err())
	require.NoError(t, c.Close())
	ts.restart(Config{})
	c = ts.client(2)
	require.Equal(t, "v", c.Get(ctx, "s").Val())
	require.Equal(t, map[string]string{"a": "1", "b": "2"}, c.HGetAll(ctx, "h").Val())
	require.Equal(t, "1", c.Get(ctx, "n").Val())
	require.Equal(t, int64(3), c.DBSize(ctx).Val())
}

// TestConcurrentWriters: many clients on the same counter and the same
// hash; the counter is exact and the hash's count, fields and slots agree.
func TestConcurrentWriters(t *testing.T) {
	ts := startServer(t, Config{})
	ctx := context.Background()
	const clients, ops = 8, 300
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := ts.client(2 + w%2)
			for i := 0; i < ops; i++ {
				assert.NoError(t, c.Incr(ctx, "n").Err())
				assert.NoError(t, c.HSet(ctx, "h", fmt.Sprintf("f%d", (w*7+i)%50), i).Err())
				if i%3 == 0 {
					assert.NoError(t, c.HDel(ctx, "h", fmt.Sprintf("f%d", (w+i)%50)).Err())
				}
				assert.NoError(t, c.Append(ctx, "a", "x").Err())
			}
		}(w)
	}
	wg.Wait()
	c := ts.client(3)
	require.Equal(t, strconv.Itoa(clients*ops), c.Get(ctx, "n").Val())
	require.Equal(t, int64(clients*ops), c.StrLen(ctx, "a").Val())
	all := c.HGetAll(ctx, "h").Val()
	require.Equal(t, int64(len(all)), c.HLen(ctx, "h").Val())
	seen := 0
	var cursor uint64
	for {
		kv, next, err := c.HScan(ctx, "h", cursor, "", 7).Result()
		require.NoError(t, err)
		seen += len(kv) / 2
		if next == 0 {
			break
		}
		cursor = next
	}
	require.Equal(t, len(all), seen)
}

// TestScanSnapshotAndStatelessPaths: a scan continued on its own
// connection is served from that connection's snapshot; continued on
// another connection it is served statelessly; both keep the guarantee
// under churn, and the snapshot's memory is given back at the end.
func TestScanSnapshotAndStatelessPaths(t *testing.T) {
	ts := startServer(t, Config{})
	ctx := context.Background()
	c := ts.client(2)
	for i := 0; i < 400; i++ {
		require.NoError(t, c.Set(ctx, fmt.Sprintf("stay%d", i), i, 0).Err())
	}
	for _, alternate := range []bool{false, true} {
		a, b := ts.raw(), ts.raw()
		seen := map[string]int{}
		cursor := "0"
		for step := 0; ; step++ {
			conn := a
			if alternate && step%2 == 1 {
				conn = b
			}
			conn.cmd("SCAN", cursor, "COUNT", "25")
			reply := conn.reply()
			if step == 0 && !alternate {
				require.Positive(t, ts.srv.scanCacheBytes.Load(), "SCAN 0 took no snapshot")
			}
			lines := strings.Split(reply, "\r\n")
			// *2, $n, cursor, *m, then $len/key pairs.
			cursor = lines[2]
			for i := 4; i+1 < len(lines); i += 2 {
				seen[lines[i+1]]++
			}
			// Churn while scanning.
			require.NoError(t, c.Set(ctx, fmt.Sprintf("new%d-%v", step, alternate), 1, 0).Err())
			require.NoError(t, c.Set(ctx, fmt.Sprintf("stay%d", step), "moved", 0).Err())
			if cursor == "0" {
				break
			}
		}
		for i := 0; i < 400; i++ {
			require.GreaterOrEqual(t, seen[fmt.Sprintf("stay%d", i)], 1, "stay%d missed (alternate=%v)", i, alternate)
		}
		if !alternate {
			require.Zero(t, ts.srv.scanCacheBytes.Load(), "snapshot kept after the scan ended")
		}
	}
}
