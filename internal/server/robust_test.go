package server

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBadProtocolClosesOnlyThatConnection sends each kind of bad input on
// its own connection: the server answers Redis's protocol error and closes
// that connection; a bystander keeps its answers and the data is intact.
func TestBadProtocolClosesOnlyThatConnection(t *testing.T) {
	ts := startServer(t, Config{})
	ctx := context.Background()
	bystander := ts.client(2)
	require.NoError(t, bystander.Set(ctx, "k", "v", 0).Err())
	cases := []struct {
		name, input, want string
	}{
		{"garbage multibulk", "*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"binary garbage", "*\x00\xff\xfe\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"bulk length 2^40", "*1\r\n$1099511627776\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"bulk length over proto-max-bulk-len", "*2\r\n$3\r\nSET\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"negative bulk length", "*1\r\n$-3\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"not a bulk", "*1\r\n:5\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
		{"huge array", "*99999999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"bad bulk terminator", "*1\r\n$4\r\nPINGxx", "-ERR Protocol error: invalid bulk length\r\n"},
		{"inline too long", strings.Repeat("a", 70<<10), "-ERR Protocol error: too big inline request\r\n"},
		{"mbulk count too long", "*" + strings.Repeat("1", 70<<10), "-ERR Protocol error: too big mbulk count string\r\n"},
		{"bulk count too long", "*1\r\n$" + strings.Repeat("1", 70<<10), "-ERR Protocol error: too big bulk count string\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.raw()
			r.send(c.input)
			require.Equal(t, c.want, r.reply())
			require.True(t, r.closed(), "connection left open")
			require.Equal(t, "v", bystander.Get(ctx, "k").Val())
		})
	}
}

// TestNegativeArrayIsSkipped: Redis ignores "*-1" and "*0" requests and
// keeps the connection; so does the server.
func TestNegativeArrayIsSkipped(t *testing.T) {
	ts := startServer(t, Config{})
	r := ts.raw()
	r.send("*-1\r\n*0\r\n*-5\r\n*1\r\n$4\r\nPING\r\n")
	require.Equal(t, "+PONG\r\n", r.reply())
}

// TestUnauthenticatedLargeArray: before AUTH, arrays over 10 elements are
// refused, as Redis does, so an anonymous client cannot make the server
// hold a large argument table.
func TestUnauthenticatedLargeArray(t *testing.T) {
	ts := startServer(t, Config{Password: "pw"})
	r := ts.raw()
	r.send("*11\r\n")
	require.Equal(t, "-ERR Protocol error: invalid multibulk length\r\n", r.reply())
	require.True(t, r.closed())
	r = ts.raw()
	r.cmd("AUTH", "pw")
	require.Equal(t, "+OK\r\n", r.reply())
	args := []string{"MSET"}
	for i := 0; i < 20; i++ {
		args = append(args, fmt.Sprint("k", i), "v")
	}
	r.cmd(args...)
	require.Equal(t, "+OK\r\n", r.reply())
}

// TestUnterminatedAndDroppedConnections opens many connections, sends each
// a command cut off at a different point (or a whole command without
// reading the reply), and drops them. The server stays up, forgets them,
// answers others, and the half-sent writes are not applied.
func TestUnterminatedAndDroppedConnections(t *testing.T) {
	// 10,000 connections, at most 500 open at a time (each holds two file
	// descriptors of this process: the client's and the server's).
	const n, open = 10000, 500
	ts := startServer(t, Config{})
	sem := make(chan struct{}, open)
	full := "*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$5\r\nvalue\r\n"
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			nc, err := net.Dial("tcp", ts.addr)
			if err != nil {
				errs <- err
				return
			}
			cut := i % (len(full) - 1) // never the whole command
			_, err = nc.Write([]byte(full[:cut+1]))
			if err != nil {
				errs <- err
			}
			if i%2 == 0 {
				_ = nc.(*net.TCPConn).SetLinger(0) // a reset rather than a FIN
			}
			_ = nc.Close()
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	c := ts.client(2)
	ctx := context.Background()
	require.Equal(t, "PONG", c.Ping(ctx).Val())
	require.Equal(t, int64(0), c.Exists(ctx, "half").Val())
	require.Eventually(t, func() bool {
		ts.srv.mu.Lock()
		defer ts.srv.mu.Unlock()
		return len(ts.srv.clients) <= 1
	}, 20*time.Second, 10*time.Millisecond, "dropped connections are not forgotten")
}

// TestSlowConsumer: a client pipelines 100k GETs of a 4 KiB value without
// reading. Its connection blocks on its own socket (memory stays bounded by
// OutputFlush) and is closed after WriteTimeout; another client keeps
// getting answers all along.
func TestSlowConsumer(t *testing.T) {
	ts := startServer(t, Config{WriteTimeout: 2 * time.Second})
	ctx := context.Background()
	c := ts.client(2)
	require.NoError(t, c.Set(ctx, "big", strings.Repeat("x", 4096), 0).Err())

	nc, err := net.Dial("tcp", ts.addr)
	require.NoError(t, err)
	defer nc.Close()
	writeDone := make(chan struct{})
	go func() {
		defer close(writeDone)
		req := []byte("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")
		batch := []byte(strings.Repeat(string(req), 1000))
		_ = nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		for i := 0; i < 100; i++ {
			if _, err := nc.Write(batch); err != nil {
				return // the server closed us: expected
			}
		}
	}()
	// The other client is served while the slow one is stuck, and the
	// server does not buffer the 400 MB of replies the stuck client asked for.
	// The heap is measured from a collected baseline: the garbage of the
	// tests before (10,000 connections' buffers) is not this test's.
	runtime.GC()
	var peak uint64
	for i := 0; i < 50; i++ {
		if i%10 == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		require.NoError(t, c.Set(ctx, "k", i, 0).Err())
		require.Equal(t, fmt.Sprint(i), c.Get(ctx, "k").Val())
		time.Sleep(20 * time.Millisecond)
	}
	require.Less(t, peak, uint64(100<<20), "heap grew with the unread replies")
	require.Eventually(t, func() bool { return ts.srv.slowClosed.Load() == 1 }, 20*time.Second, 10*time.Millisecond)
	<-writeDone
	require.Equal(t, "PONG", c.Ping(ctx).Val())
}

// TestMaxClients: a client beyond maxclients gets Redis's error.
func TestMaxClients(t *testing.T) {
	ts := startServer(t, Config{MaxClients: 2})
	a, b := ts.raw(), ts.raw()
	a.cmd("PING")
	require.Equal(t, "+PONG\r\n", a.reply())
	b.cmd("PING")
	require.Equal(t, "+PONG\r\n", b.reply())
	c := ts.raw()
	require.Equal(t, "-ERR max number of clients reached\r\n", c.reply())
}

// TestShutdownFinishesReceivedCommands: commands the server has read before
// Shutdown are run and answered; Serve returns only after every connection
// goroutine has ended, and the store can then be closed.
func TestShutdownFinishesReceivedCommands(t *testing.T) {
	ts := startServer(t, Config{})
	r := ts.raw()
	var b strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$1\r\nv\r\n", len(fmt.Sprint("k", i)), i)
	}
	r.send(b.String())
	r.cmd("PING")
	// Wait until the server has at least started on them.
	require.Equal(t, "+OK\r\n", r.reply())
	done := make(chan struct{})
	go func() { ts.stop(); close(done) }()
	got := 1
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			break
		}
		if line == "+OK\r\n" {
			got++
		}
	}
	<-done
	// The server runs what it has read and answers all of it before it
	// closes: what was answered is exactly what was applied, and it is in
	// the store after Close.
	ts.open(Config{})
	c := ts.client(2)
	require.Equal(t, int64(got), c.DBSize(context.Background()).Val())
	require.GreaterOrEqual(t, got, 1)
}

// TestShutdownDoesNotWaitForSlowConsumer: a client that does not read its
// replies delays Shutdown by ShutdownGrace at most, not WriteTimeout.
func TestShutdownDoesNotWaitForSlowConsumer(t *testing.T) {
	ts := startServer(t, Config{WriteTimeout: time.Hour, ShutdownGrace: 200 * time.Millisecond})
	c := ts.client(2)
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, "big", strings.Repeat("x", 64<<10), 0).Err())
	nc, err := net.Dial("tcp", ts.addr)
	require.NoError(t, err)
	defer nc.Close()
	req := []byte(strings.Repeat("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", 20000))
	go func() {
		_ = nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
		_, _ = nc.Write(req)
	}()
	// Wait until the server is stuck writing to it.
	require.Eventually(t, func() bool { return ts.srv.stats.netOut() > 1<<20 }, 10*time.Second, 5*time.Millisecond)
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	require.NoError(t, ts.srv.Shutdown(ctx2), "Shutdown waited for the slow consumer beyond its grace")
}

// TestLargeCommandsInSmallReads: a command of 100,001 arguments and a
// 256 KiB value, sent 1,000 bytes at a time, are parsed incrementally and
// run.
func TestLargeCommandsInSmallReads(t *testing.T) {
	ts := startServer(t, Config{})
	r := ts.raw()
	var b strings.Builder
	const pairs = 50000
	b.WriteString(fmt.Sprintf("*%d\r\n$4\r\nMSET\r\n", 1+2*pairs))
	for i := 0; i < pairs; i++ {
		k := fmt.Sprint("m", i)
		fmt.Fprintf(&b, "$%d\r\n%s\r\n$1\r\nv\r\n", len(k), k)
	}
	val := strings.Repeat("z", 256<<10)
	fmt.Fprintf(&b, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n", len(val), val)
	data := b.String()
	go func() {
		for i := 0; i < len(data); i += 1000 {
			if _, err := r.nc.Write([]byte(data[i:min(i+1000, len(data))])); err != nil {
				return
			}
		}
	}()
	require.Equal(t, "+OK\r\n", r.reply())
	require.Equal(t, "+OK\r\n", r.reply())
	r.cmd("DBSIZE")
	require.Equal(t, fmt.Sprintf(":%d\r\n", pairs+1), r.reply())
	r.cmd("STRLEN", "big")
	require.Equal(t, fmt.Sprintf(":%d\r\n", len(val)), r.reply())
}
