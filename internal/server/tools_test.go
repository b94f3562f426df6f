package server

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// needTool returns the path of a Redis tool. Outside CI a missing tool skips
// the test with the way to install it; in CI (CI=true, where .ci/run
// installs redis-tools and redis-server) it fails the test.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI=true: .ci/run installs redis-tools and redis-server", name)
	}
	t.Skipf("%s is not installed (apt-get install -y redis-tools redis-server); CI installs it", name)
	return ""
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startRedisServer runs a throwaway redis-server on 127.0.0.1 without
// persistence and returns its address.
func startRedisServer(t *testing.T) string {
	bin := needTool(t, "redis-server")
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--daemonize", "no", "--loglevel", "warning")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	return addr
}

// cliScript is a redis-cli session; its output must be the same from the
// server and from a real redis-server.
const cliScript = `PING
SET a 1
INCR a
INCRBY a 40
GET a
APPEND a xyz
GET a
GET nope
SET a b NX
SET c d XX GET
MSET k1 v1 k2 v2
MGET k1 k2 nope
HSET h f1 v1 f2 v2
HGET h f1
HLEN h
HEXISTS h f3
HDEL h f1
HGETALL h
HINCRBY h n 5
HINCRBYFLOAT h fl 1.5
GET h
INCR h
TYPE h
TYPE a
EXISTS a h nope
STRLEN a
GETRANGE a 0 1
SETRANGE a 1 ZZ
GET a
RENAME a a2
GET a2
DEL a2 k1
DBSIZE
SELECT 0
NOSUCH x
GET
ECHO "hello world"
FLUSHDB
DBSIZE
`

func runCLI(t *testing.T, cli, addr string, script string, extra ...string) string {
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	cmd := exec.Command(cli, append([]string{"-h", host, "-p", port}, extra...)...)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

func TestRedisCLIScripted(t *testing.T) {
	cli := needTool(t, "redis-cli")
	ts := startServer(t, Config{})
	got := runCLI(t, cli, ts.addr, cliScript)
	require.Contains(t, got, "WRONGTYPE Operation against a key holding the wrong kind of value")
	require.Contains(t, got, "ERR unknown command 'NOSUCH', with args beginning with: 'x'")
	want := runCLI(t, cli, startRedisServer(t), cliScript)
	require.Equal(t, want, got, "redis-cli output differs from redis-server's")

	// --scan (SCAN with a cursor) and INFO through redis-cli.
	var sb strings.Builder
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&sb, "SET key%d %d\n", i, i)
	}
	runCLI(t, cli, ts.addr, sb.String())
	keys := strings.Fields(runCLI(t, cli, ts.addr, "", "--scan"))
	require.Len(t, keys, 500)
	keys = strings.Fields(runCLI(t, cli, ts.addr, "", "--scan", "--pattern", "key1*"))
	require.Len(t, keys, 111)
	require.Contains(t, runCLI(t, cli, ts.addr, "INFO keyspace\n"), "db0:keys=500")
	// Pipe mode (redis-cli --pipe), which bulk loaders use.
	out := runCLI(t, cli, ts.addr, "*3\r\n$3\r\nSET\r\n$1\r\np\r\n$1\r\n1\r\n", "--pipe")
	require.Contains(t, out, "errors: 0, replies: 1")
}

func TestRedisCLIAuth(t *testing.T) {
	cli := needTool(t, "redis-cli")
	ts := startServer(t, Config{Password: "pw"})
	require.Contains(t, runCLI(t, cli, ts.addr, "GET k\n"), "NOAUTH Authentication required.")
	require.Equal(t, "OK\nv\n", runCLI(t, cli, ts.addr, "SET k v\nGET k\n", "--no-auth-warning", "-a", "pw"))
	require.Equal(t, "OK\nv\n", runCLI(t, cli, ts.addr, "SET k v\nGET k\n", "--no-auth-warning", "-a", "pw", "-3"))
}
