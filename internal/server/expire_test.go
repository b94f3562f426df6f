package server

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// farMs is a fixed Unix ms time far in the future (2100-01-01), so that
// absolute expiry times have exact, reproducible replies.
const farMs = "4102444800000"

// expireCases are expiry and transaction commands with their exact replies;
// each is checked against a real redis-server too.
var expireCases = []struct {
	args []string
	want string
}{
	// EXPIRE and friends on missing keys, bad input and options.
	{[]string{"EXPIRE", "missing", "100"}, ":0\r\n"},
	{[]string{"PEXPIRE", "missing", "100"}, ":0\r\n"},
	{[]string{"EXPIREAT", "missing", "100"}, ":0\r\n"},
	{[]string{"TTL", "missing"}, ":-2\r\n"},
	{[]string{"PTTL", "missing"}, ":-2\r\n"},
	{[]string{"EXPIRETIME", "missing"}, ":-2\r\n"},
	{[]string{"PERSIST", "missing"}, ":0\r\n"},
	{[]string{"EXPIRE", "k"}, "-ERR wrong number of arguments for 'expire' command\r\n"},
	{[]string{"EXPIRE", "k", "abc"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"EXPIRE", "k", "10", "FOO"}, "-ERR Unsupported option FOO\r\n"},
	{[]string{"EXPIRE", "k", "10", "NX", "XX"}, "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"},
	{[]string{"EXPIRE", "k", "10", "GT", "LT"}, "-ERR GT and LT options at the same time are not compatible\r\n"},
	{[]string{"EXPIRE", "k", "9223372036854775807"}, "-ERR invalid expire time in 'expire' command\r\n"},
	{[]string{"EXPIRE", "k", "-9223372036854775808"}, "-ERR invalid expire time in 'expire' command\r\n"},
	{[]string{"PEXPIRE", "k", "9223372036854775807"}, "-ERR invalid expire time in 'pexpire' command\r\n"},
	{[]string{"EXPIREAT", "k", "9223372036854775807"}, "-ERR invalid expire time in 'expireat' command\r\n"},
	// A key without expiry, then with one.
	{[]string{"SET", "k", "v"}, "+OK\r\n"},
	{[]string{"TTL", "k"}, ":-1\r\n"},
	{[]string{"PEXPIRETIME", "k"}, ":-1\r\n"},
	{[]string{"PERSIST", "k"}, ":0\r\n"},
	{[]string{"EXPIRE", "k", "100", "XX"}, ":0\r\n"},
	{[]string{"EXPIRE", "k", "100", "GT"}, ":0\r\n"},
	{[]string{"PEXPIREAT", "k", farMs, "LT"}, ":1\r\n"},
	{[]string{"PEXPIRETIME", "k"}, ":" + farMs + "\r\n"},
	{[]string{"EXPIRETIME", "k"}, ":4102444800\r\n"},
	{[]string{"EXPIRE", "k", "100", "NX"}, ":0\r\n"},
	{[]string{"PEXPIREAT", "k", "4102444800001", "LT"}, ":0\r\n"},
	{[]string{"PEXPIREAT", "k", "4102444800001", "GT"}, ":1\r\n"},
	{[]string{"PEXPIREAT", "k", farMs, "GT"}, ":0\r\n"},
	{[]string{"EXPIREAT", "k", "4102444800", "XX"}, ":1\r\n"},
	{[]string{"PEXPIRETIME", "k"}, ":" + farMs + "\r\n"},
	{[]string{"EXPIRE", "k", "1000"}, ":1\r\n"},
	{[]string{"TTL", "k"}, ":1000\r\n"},
	{[]string{"PERSIST", "k"}, ":1\r\n"},
	{[]string{"TTL", "k"}, ":-1\r\n"},
	// A past time deletes.
	{[]string{"EXPIRE", "k", "-1"}, ":1\r\n"},
	{[]string{"EXISTS", "k"}, ":0\r\n"},
	{[]string{"SET", "k", "v"}, "+OK\r\n"},
	{[]string{"PEXPIREAT", "k", "1"}, ":1\r\n"},
	{[]string{"GET", "k"}, "$-1\r\n"},
	// SET's expiry options.
	{[]string{"SET", "s", "v", "EX", "0"}, "-ERR invalid expire time in 'set' command\r\n"},
	{[]string{"SET", "s", "v", "PX", "-1"}, "-ERR invalid expire time in 'set' command\r\n"},
	{[]string{"SET", "s", "v", "EXAT", "0"}, "-ERR invalid expire time in 'set' command\r\n"},
	{[]string{"SET", "s", "v", "EX", "9223372036854775807"}, "-ERR invalid expire time in 'set' command\r\n"},
	{[]string{"SET", "s", "v", "PX", "9223372036854775807"}, "-ERR invalid expire time in 'set' command\r\n"},
	{[]string{"SET", "s", "v", "EX", "x"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"SET", "s", "v", "EX", "10", "PX", "10"}, "-ERR syntax error\r\n"},
	{[]string{"SET", "s", "v", "EXAT", "10", "PXAT", "10"}, "-ERR syntax error\r\n"},
	{[]string{"SET", "s", "v", "KEEPTTL", "EX", "10"}, "-ERR syntax error\r\n"},
	{[]string{"SET", "s", "v", "PXAT", farMs}, "+OK\r\n"},
	{[]string{"PEXPIRETIME", "s"}, ":" + farMs + "\r\n"},
	{[]string{"SET", "s", "w", "KEEPTTL"}, "+OK\r\n"},
	{[]string{"PEXPIRETIME", "s"}, ":" + farMs + "\r\n"},
	{[]string{"SET", "s", "x", "KEEPTTL", "GET"}, "$1\r\nw\r\n"},
	{[]string{"PEXPIRETIME", "s"}, ":" + farMs + "\r\n"},
	{[]string{"SET", "s", "y", "XX", "EX", "5", "EX", "100"}, "+OK\r\n"},
	{[]string{"TTL", "s"}, ":100\r\n"},
	{[]string{"SET", "s", "z"}, "+OK\r\n"},
	{[]string{"TTL", "s"}, ":-1\r\n"},
	{[]string{"SET", "s", "z", "NX", "EX", "100"}, "$-1\r\n"},
	{[]string{"TTL", "s"}, ":-1\r\n"},
	{[]string{"SET", "s", "old", "EXAT", "1", "GET"}, "$1\r\nz\r\n"},
	{[]string{"EXISTS", "s"}, ":0\r\n"},
	// SETEX, PSETEX, GETEX.
	{[]string{"SETEX", "se", "0", "v"}, "-ERR invalid expire time in 'setex' command\r\n"},
	{[]string{"SETEX", "se", "-10", "v"}, "-ERR invalid expire time in 'setex' command\r\n"},
	{[]string{"PSETEX", "se", "0", "v"}, "-ERR invalid expire time in 'psetex' command\r\n"},
	{[]string{"SETEX", "se", "x", "v"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"SETEX", "se", "100", "v"}, "+OK\r\n"},
	{[]string{"TTL", "se"}, ":100\r\n"},
	{[]string{"PSETEX", "se", "100000", "w"}, "+OK\r\n"},
	{[]string{"TTL", "se"}, ":100\r\n"},
	{[]string{"GETEX", "se", "PERSIST"}, "$1\r\nw\r\n"},
	{[]string{"TTL", "se"}, ":-1\r\n"},
	{[]string{"GETEX", "se", "PXAT", farMs}, "$1\r\nw\r\n"},
	{[]string{"PEXPIRETIME", "se"}, ":" + farMs + "\r\n"},
	{[]string{"GETEX", "se"}, "$1\r\nw\r\n"},
	{[]string{"PEXPIRETIME", "se"}, ":" + farMs + "\r\n"},
	{[]string{"GETEX", "se", "EX", "0"}, "-ERR invalid expire time in 'getex' command\r\n"},
	{[]string{"GETEX", "se", "EX", "10", "PERSIST"}, "-ERR syntax error\r\n"},
	{[]string{"GETEX", "se", "KEEPTTL"}, "-ERR syntax error\r\n"},
	{[]string{"GETEX", "missing", "EX", "10"}, "$-1\r\n"},
	{[]string{"GETEX", "se", "EXAT", "1"}, "$1\r\nw\r\n"},
	{[]string{"EXISTS", "se"}, ":0\r\n"},
	// GETSET drops the expiry, RENAME moves it, INCR and APPEND keep it.
	{[]string{"SET", "g", "1", "PXAT", farMs}, "+OK\r\n"},
	{[]string{"INCR", "g"}, ":2\r\n"},
	{[]string{"APPEND", "g", "0"}, ":2\r\n"},
	{[]string{"SETRANGE", "g", "0", "3"}, ":2\r\n"},
	{[]string{"PEXPIRETIME", "g"}, ":" + farMs + "\r\n"},
	{[]string{"RENAME", "g", "g2"}, "+OK\r\n"},
	{[]string{"PEXPIRETIME", "g2"}, ":" + farMs + "\r\n"},
	{[]string{"GETSET", "g2", "x"}, "$2\r\n30\r\n"},
	{[]string{"TTL", "g2"}, ":-1\r\n"},
	// A hash's expiry is its key's; HSET keeps it.
	{[]string{"HSET", "h", "a", "1", "b", "2"}, ":2\r\n"},
	{[]string{"PEXPIREAT", "h", farMs}, ":1\r\n"},
	{[]string{"HSET", "h", "c", "3"}, ":1\r\n"},
	{[]string{"HDEL", "h", "a"}, ":1\r\n"},
	{[]string{"PEXPIRETIME", "h"}, ":" + farMs + "\r\n"},
	{[]string{"RENAME", "h", "h2"}, "+OK\r\n"},
	{[]string{"PEXPIRETIME", "h2"}, ":" + farMs + "\r\n"},
	{[]string{"HLEN", "h2"}, ":2\r\n"},
	{[]string{"EXPIRE", "h2", "0"}, ":1\r\n"},
	{[]string{"HGET", "h2", "c"}, "$-1\r\n"},
	{[]string{"HSET", "h2", "z", "1"}, ":1\r\n"},
	{[]string{"HLEN", "h2"}, ":1\r\n"},
	// MULTI, EXEC, DISCARD, WATCH.
	{[]string{"EXEC"}, "-ERR EXEC without MULTI\r\n"},
	{[]string{"DISCARD"}, "-ERR DISCARD without MULTI\r\n"},
	{[]string{"MULTI"}, "+OK\r\n"},
	{[]string{"MULTI"}, "-ERR MULTI calls can not be nested\r\n"},
	{[]string{"WATCH", "x"}, "-ERR WATCH inside MULTI is not allowed\r\n"},
	{[]string{"SET", "t", "1"}, "+QUEUED\r\n"},
	{[]string{"INCR", "t"}, "+QUEUED\r\n"},
	{[]string{"GET", "t"}, "+QUEUED\r\n"},
	{[]string{"HSET", "t", "f", "v"}, "+QUEUED\r\n"},
	{[]string{"EXPIRE", "t", "100"}, "+QUEUED\r\n"},
	{[]string{"TTL", "t"}, "+QUEUED\r\n"},
	{[]string{"EXEC"}, "*6\r\n+OK\r\n:2\r\n$1\r\n2\r\n-" + errWrongType + "\r\n:1\r\n:100\r\n"},
	{[]string{"MULTI"}, "+OK\r\n"},
	{[]string{"SET", "t", "9"}, "+QUEUED\r\n"},
	{[]string{"GET"}, "-ERR wrong number of arguments for 'get' command\r\n"},
	{[]string{"EXEC"}, "-EXECABORT Transaction discarded because of previous errors.\r\n"},
	{[]string{"GET", "t"}, "$1\r\n2\r\n"},
	{[]string{"MULTI"}, "+OK\r\n"},
	{[]string{"NOSUCH"}, "-ERR unknown command 'NOSUCH', with args beginning with: \r\n"},
	{[]string{"EXEC"}, "-EXECABORT Transaction discarded because of previous errors.\r\n"},
	{[]string{"MULTI"}, "+OK\r\n"},
	{[]string{"SET", "t", "9"}, "+QUEUED\r\n"},
	{[]string{"DISCARD"}, "+OK\r\n"},
	{[]string{"GET", "t"}, "$1\r\n2\r\n"},
	{[]string{"MULTI"}, "+OK\r\n"},
	{[]string{"EXEC"}, "*0\r\n"},
	{[]string{"WATCH", "t"}, "+OK\r\n"},
	{[]string{"SET", "t", "3"}, "+OK\r\n"},
	{[]string{"MULTI"}, "+OK\r\n"},
	{[]string{"GET", "t"}, "+QUEUED\r\n"},
	{[]string{"EXEC"}, "*-1\r\n"},
	{[]string{"WATCH", "t"}, "+OK\r\n"},
	{[]string{"UNWATCH"}, "+OK\r\n"},
	{[]string{"SET", "t", "4"}, "+OK\r\n"},
	{[]string{"MULTI"}, "+OK\r\n"},
	{[]string{"GET", "t"}, "+QUEUED\r\n"},
	{[]string{"EXEC"}, "*1\r\n$1\r\n4\r\n"},
	{[]string{"WATCH", "t", "nokey"}, "+OK\r\n"},
	{[]string{"MULTI"}, "+OK\r\n"},
	{[]string{"DEL", "t", "nokey"}, "+QUEUED\r\n"},
	{[]string{"EXEC"}, "*1\r\n:1\r\n"},
	{[]string{"MULTI"}, "+OK\r\n"},
	{[]string{"MSET", "m1", "a", "m2", "b"}, "+QUEUED\r\n"},
	{[]string{"RENAME", "m1", "m3"}, "+QUEUED\r\n"},
	{[]string{"MGET", "m1", "m2", "m3"}, "+QUEUED\r\n"},
	{[]string{"EXEC"}, "*3\r\n+OK\r\n+OK\r\n*3\r\n$-1\r\n$1\r\nb\r\n$1\r\na\r\n"},
	{[]string{"MSETNX", "m2", "x", "m4", "y"}, ":0\r\n"},
	{[]string{"MSETNX", "m5", "x", "m4", "y"}, ":1\r\n"},
	{[]string{"DEL", "m2", "m3", "m4", "m5", "none"}, ":4\r\n"},
	// RESET ends MULTI and WATCH.
	{[]string{"WATCH", "t"}, "+OK\r\n"},
	{[]string{"MULTI"}, "+OK\r\n"},
	{[]string{"SET", "t", "5"}, "+QUEUED\r\n"},
	{[]string{"RESET"}, "+RESET\r\n"},
	{[]string{"EXEC"}, "-ERR EXEC without MULTI\r\n"},
	{[]string{"GET", "t"}, "$-1\r\n"},
	// SET ... GET with an expiry; GETDEL takes the expiry with the key.
	{[]string{"SET", "t", "a", "PX", "100000", "GET"}, "$-1\r\n"},
	{[]string{"SET", "t", "b", "EX", "100", "GET"}, "$1\r\na\r\n"},
	{[]string{"TTL", "t"}, ":100\r\n"},
	{[]string{"GETDEL", "t"}, "$1\r\nb\r\n"},
	{[]string{"SET", "t", "c"}, "+OK\r\n"},
	{[]string{"TTL", "t"}, ":-1\r\n"},
	{[]string{"SETNX", "t", "d"}, ":0\r\n"},
	{[]string{"EXPIRE", "t", "100", "LT"}, ":1\r\n"},
	{[]string{"EXPIRE", "t", "50", "GT"}, ":0\r\n"},
	{[]string{"EXPIRE", "t", "200", "GT"}, ":1\r\n"},
	{[]string{"TTL", "t"}, ":200\r\n"},
	{[]string{"MSET", "t", "e"}, "+OK\r\n"},
	{[]string{"TTL", "t"}, ":-1\r\n"},
}

func runCases(t *testing.T, addr string) {
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	r := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
	for _, c := range expireCases {
		r.cmd(c.args...)
		require.Equal(t, c.want, r.reply(), "%q", c.args)
	}
}

func TestExpireReplies(t *testing.T) {
	ts := startServer(t, Config{})
	runCases(t, ts.addr)
}

// TestExpireRepliesOfRedisServer checks the same expectations against a
// real redis-server.
func TestExpireRepliesOfRedisServer(t *testing.T) {
	runCases(t, startRedisServer(t))
}

func TestExpiryGoRedis(t *testing.T) {
	ctx := context.Background()
	bothProtocols(t, func(t *testing.T, c *redis.Client) {
		require.NoError(t, c.Set(ctx, "a", "1", 150*time.Millisecond).Err())
		require.NoError(t, c.SetEx(ctx, "b", "2", time.Hour).Err())
		ttl, err := c.PTTL(ctx, "a").Result()
		require.NoError(t, err)
		assert.True(t, ttl > 0 && ttl <= 150*time.Millisecond, "%v", ttl)
		ok, err := c.Expire(ctx, "b", 10*time.Second).Result()
		require.NoError(t, err)
		assert.True(t, ok)
		require.Equal(t, 10*time.Second, c.TTL(ctx, "b").Val())
		require.NoError(t, c.HSet(ctx, "h", "f1", "v1", "f2", "v2").Err())
		require.True(t, c.PExpire(ctx, "h", 150*time.Millisecond).Val())
		v, err := c.GetEx(ctx, "b", time.Hour).Result()
		require.NoError(t, err)
		require.Equal(t, "2", v)
		require.Equal(t, int64(3), c.DBSize(ctx).Val())
		// Active expiry: DBSIZE falls without the keys being read.
		require.Eventually(t, func() bool { return c.DBSize(ctx).Val() == 1 }, 5*time.Second, 20*time.Millisecond)
		require.Equal(t, redis.Nil, c.Get(ctx, "a").Err())
		require.Equal(t, int64(0), c.HLen(ctx, "h").Val())
		require.True(t, c.Persist(ctx, "b").Val())
		require.Equal(t, time.Duration(-1), c.TTL(ctx, "b").Val())
		at := time.UnixMilli(4102444800000)
		require.True(t, c.PExpireAt(ctx, "b", at).Val())
		require.Equal(t, time.Duration(at.UnixMilli())*time.Millisecond, c.PExpireTime(ctx, "b").Val())
	})
}

// TestExpiredHashFieldsAreRemoved: the fields of an expired hash carry no
// expiry of their own; the sweeper (and startup) delete them.
func TestExpiredHashFieldsAreRemoved(t *testing.T) {
	ts := startServer(t, Config{})
	ctx := context.Background()
	c := ts.client(3)
	for i := 0; i < 50; i++ {
		require.NoError(t, c.HSet(ctx, "h", "f"+strconv.Itoa(i), i).Err())
	}
	require.NoError(t, c.Set(ctx, "keep", "x", 0).Err())
	require.True(t, c.PExpire(ctx, "h", 50*time.Millisecond).Val())
	countFields := func() int {
		n := 0
		require.NoError(t, ts.st.Scan(nil, func(k, v []byte) bool {
			if k[0] == nsField || k[0] == nsSlot {
				n++
			}
			return true
		}))
		return n
	}
	require.Equal(t, 100, countFields())
	require.Eventually(t, func() bool { return countFields() == 0 }, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, int64(1), c.DBSize(ctx).Val())
}
