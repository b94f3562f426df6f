package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// TestMain lets the tests run `rskv serve` as a child process: the test
// binary re-executed with RSKV_SERVE_CHILD=1 is the rskv command.
func TestMain(m *testing.M) {
	if os.Getenv("RSKV_SERVE_CHILD") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
	done   chan error
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs `rskv serve` in a child process and waits until it
// answers PING (or exits).
func startServe(t *testing.T, dir, addr string, extra ...string) *child {
	t.Helper()
	args := append([]string{"serve", "--dir", dir, "--addr", addr, "--memory-size", "16MiB"}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RSKV_SERVE_CHILD=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, addr: addr, stderr: &stderr, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			c.done <- err
			return c
		default:
		}
		if err := cl.Ping(context.Background()).Err(); err == nil || strings.HasPrefix(err.Error(), "NOAUTH") {
			return c // answering (with --password: answering NOAUTH)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("rskv serve did not answer PING: %s", stderr.String())
	return nil
}

func (c *child) wait(t *testing.T) int {
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("rskv serve did not exit: %s", c.stderr.String())
	}
	return c.cmd.ProcessState.ExitCode()
}

func TestServeSecondServerOnSameDirRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	first := startServe(t, dir, freeAddr(t))
	second := startServe(t, dir, freeAddr(t))
	require.Equal(t, exitError, second.wait(t))
	require.Contains(t, second.stderr.String(), "another process (or another open Store) holds the store")
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, first.wait(t), first.stderr.String())
}

// TestServeSIGTERM: SIGTERM closes the store and exits 0; what was written
// is there after a restart, with --sync none too (Close makes it durable).
func TestServeSIGTERM(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		addr := freeAddr(t)
		s := startServe(t, dir, addr, "--sync", "none")
		cl := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
		ctx := context.Background()
		require.NoError(t, cl.Set(ctx, "sig"+strconv.Itoa(int(sig)), "v", 0).Err())
		require.NoError(t, cl.HSet(ctx, "h", "f"+strconv.Itoa(int(sig)), "v").Err())
		_ = cl.Close()
		require.NoError(t, s.cmd.Process.Signal(sig))
		require.Equal(t, 0, s.wait(t), s.stderr.String())
		require.Contains(t, s.stderr.String(), "store closed")
	}
	addr := freeAddr(t)
	s := startServe(t, dir, addr)
	cl := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer cl.Close()
	ctx := context.Background()
	require.Equal(t, int64(3), cl.DBSize(ctx).Val())
	require.Equal(t, int64(2), cl.HLen(ctx, "h").Val())
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, s.wait(t))
}

// TestServeKill9Durability: with --sync always, every success reply
// survives kill -9 of the server. Writers run SET, INCR and HSET on their
// own keys, and SET+RENAME; after the kill, every acknowledged write must
// be there, and hashes must be consistent (HLEN = fields of HGETALL).
// RSKV_LONG=1 runs more rounds.
func TestServeKill9Durability(t *testing.T) {
	rounds := 3
	if os.Getenv("RSKV_LONG") == "1" {
		rounds = 25
	}
	dir := filepath.Join(t.TempDir(), "store")
	const writers = 4
	type acked struct {
		sets   int // key w:i = i for i < sets
		incrs  int64
		fields int // field i of hash hw for i < fields
		moved  int // key r w:i = i (SET then RENAME) for i < moved
		exps   int // key e w:i = i with an expiry (SET EX) for i < exps
		msets  int // keys ma w:i, mb w:i = i (one MSET) for i < msets
		execs  int // keys ta w:i, tb w:i = i (one MULTI/EXEC) for i < execs
	}
	state := make([]acked, writers)
	for round := 0; round < rounds; round++ {
		addr := freeAddr(t)
		s := startServe(t, dir, addr, "--sync", "always")
		ctx := context.Background()
		// Check everything acknowledged in earlier rounds.
		check := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
		for w := range state {
			st := state[w]
			for i := 0; i < st.sets; i++ {
				require.Equal(t, strconv.Itoa(i), check.Get(ctx, fmt.Sprintf("s%d:%d", w, i)).Val(), "round %d: acknowledged SET lost", round)
			}
			if st.incrs > 0 {
				n, err := check.Get(ctx, fmt.Sprintf("n%d", w)).Int64()
				require.NoError(t, err)
				// An INCR in flight at the kill may or may not be there.
				require.GreaterOrEqual(t, n, st.incrs, "round %d: acknowledged INCR lost", round)
				require.LessOrEqual(t, n, st.incrs+1)
				state[w].incrs = n
			}
			all := check.HGetAll(ctx, fmt.Sprintf("h%d", w)).Val()
			for i := 0; i < st.fields; i++ {
				require.Equal(t, strconv.Itoa(i), all[strconv.Itoa(i)], "round %d: acknowledged HSET lost", round)
			}
			for i := 0; i < st.moved; i++ {
				require.Equal(t, strconv.Itoa(i), check.Get(ctx, fmt.Sprintf("r%d:%d", w, i)).Val(), "round %d: acknowledged RENAME lost", round)
			}
			for i := 0; i < st.exps; i++ {
				k := fmt.Sprintf("e%d:%d", w, i)
				require.Equal(t, strconv.Itoa(i), check.Get(ctx, k).Val(), "round %d: acknowledged SET EX lost", round)
				require.Positive(t, check.TTL(ctx, k).Val(), "round %d: SET EX lost its expiry", round)
			}
			for i := 0; i < st.msets; i++ {
				vs := check.MGet(ctx, fmt.Sprintf("ma%d:%d", w, i), fmt.Sprintf("mb%d:%d", w, i)).Val()
				require.Equal(t, []any{strconv.Itoa(i), strconv.Itoa(i)}, vs, "round %d: acknowledged MSET lost", round)
			}
			for i := 0; i <= st.execs; i++ {
				// The EXEC in flight at the kill (i == execs) is all or nothing.
				vs := check.MGet(ctx, fmt.Sprintf("ta%d:%d", w, i), fmt.Sprintf("tb%d:%d", w, i)).Val()
				if i == st.execs {
					require.Equal(t, vs[0] == nil, vs[1] == nil, "round %d: half an EXEC survived: %v", round, vs)
					if vs[0] != nil {
						state[w].execs++
					}
					continue
				}
				require.Equal(t, []any{strconv.Itoa(i), strconv.Itoa(i)}, vs, "round %d: acknowledged EXEC lost", round)
			}
			require.LessOrEqual(t, len(all), st.fields+1)
			require.Equal(t, int64(len(all)), check.HLen(ctx, fmt.Sprintf("h%d", w)).Val())
			state[w].fields = len(all)
			if _, ok := all[strconv.Itoa(st.fields)]; !ok && len(all) > st.fields {
				t.Fatalf("round %d: hash h%d has an unexpected field", round, w)
			}
		}
		_ = check.Close()

		var wg sync.WaitGroup
		stop := make(chan struct{})
		var mu sync.Mutex
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				cl := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, MaxRetries: -1, PoolSize: 1})
				defer cl.Close()
				for {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					st := state[w]
					mu.Unlock()
					if cl.Set(ctx, fmt.Sprintf("s%d:%d", w, st.sets), st.sets, 0).Err() != nil {
						return
					}
					n, err := cl.Incr(ctx, fmt.Sprintf("n%d", w)).Result()
					if err != nil {
						mu.Lock()
						state[w].sets++
						mu.Unlock()
						return
					}
					if cl.HSet(ctx, fmt.Sprintf("h%d", w), strconv.Itoa(st.fields), st.fields).Err() != nil {
						mu.Lock()
						state[w].sets++
						state[w].incrs = n
						mu.Unlock()
						return
					}
					mu.Lock()
					state[w].sets++
					state[w].incrs = n
					state[w].fields++
					mu.Unlock()
					tmp := fmt.Sprintf("t%d", w)
					if cl.Set(ctx, tmp, st.moved, 0).Err() != nil || cl.Rename(ctx, tmp, fmt.Sprintf("r%d:%d", w, st.moved)).Err() != nil {
						return
					}
					mu.Lock()
					state[w].moved++
					mu.Unlock()
					if cl.Set(ctx, fmt.Sprintf("e%d:%d", w, st.exps), st.exps, time.Hour).Err() != nil {
						return
					}
					mu.Lock()
					state[w].exps++
					mu.Unlock()
					if cl.MSet(ctx, fmt.Sprintf("ma%d:%d", w, st.msets), st.msets, fmt.Sprintf("mb%d:%d", w, st.msets), st.msets).Err() != nil {
						return
					}
					mu.Lock()
					state[w].msets++
					mu.Unlock()
					if _, err := cl.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Set(ctx, fmt.Sprintf("ta%d:%d", w, st.execs), st.execs, 0)
						p.Set(ctx, fmt.Sprintf("tb%d:%d", w, st.execs), st.execs, 0)
						return nil
					}); err != nil {
						return
					}
					mu.Lock()
					state[w].execs++
					mu.Unlock()
				}
			}(w)
		}
		time.Sleep(time.Duration(200+round*37%300) * time.Millisecond)
		require.NoError(t, s.cmd.Process.Signal(syscall.SIGKILL))
		s.wait(t)
		close(stop)
		wg.Wait()
	}
	total := 0
	for _, st := range state {
		total += st.sets
	}
	require.Positive(t, total, "no write was acknowledged")
	t.Logf("%d rounds, %d acknowledged SETs checked (%+v)", rounds, total, state)
}

func TestServeMetricsAndPassword(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	addr, maddr := freeAddr(t), freeAddr(t)
	s := startServe(t, dir, addr, "--metrics-addr", maddr, "--password", "pw")
	ctx := context.Background()
	anon := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer anon.Close()
	require.EqualError(t, anon.Get(ctx, "k").Err(), "NOAUTH Authentication required.")
	cl := redis.NewClient(&redis.Options{Addr: addr, Password: "pw"})
	defer cl.Close()
	require.NoError(t, cl.Set(ctx, "k", "v", 0).Err())
	resp, err := http.Get("http://" + maddr + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	_ = resp.Body.Close()
	for _, m := range []string{`rskv_server_commands_total{cmd="set"} 1`, "rskv_store_keys 1", `rskv_store_service_restarts_total{service="checkpointer"} 0`,
		"rskv_server_connected_clients", "rskv_server_command_duration_seconds_bucket", "go_goroutines"} {
		require.Contains(t, string(body), m)
	}
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, s.wait(t))
}
