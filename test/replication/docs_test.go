package replication

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsThreeNodeCluster runs docs/replication.md's "Running a 3-node
// cluster" block as written — ./rskv serve lines in the background with
// their D1..D3 directories, its until-loops waiting for them by sh, then
// each redis-cli line — with only the ports
// moved to free ones, and checks each redis-cli output against its
// comment: SET answers OK, INCR the number in its comment, INFO raft every
// field its comment names, RAFT REMOVE OK.
func TestDocsThreeNodeCluster(t *testing.T) {
	needRaft(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-cli not found (CI installs redis-tools)")
		}
		t.Skip("redis-cli not found: apt-get install redis-tools")
	}
	lines := docBlock(t, filepath.Join("..", "..", "docs", "replication.md"), "## Running a 3-node cluster")
	dir := t.TempDir()
	out, err := exec.Command("cp", rskvBin, filepath.Join(dir, "rskv")).CombinedOutput()
	require.NoError(t, err, "%s", out)

	// The documented ports (7001.. and 8001..), each moved to a free one.
	ports := map[string]string{}
	for _, m := range regexp.MustCompile(`\b[78]00\d\b`).FindAllString(strings.Join(lines, "\n"), -1) {
		if _, ok := ports[m]; !ok {
			_, p, _ := net.SplitHostPort(freeAddr(t))
			ports[m] = p
		}
	}
	subst := func(s string) string {
		return regexp.MustCompile(`\b[78]00\d\b`).ReplaceAllStringFunc(s, func(m string) string { return ports[m] })
	}

	var servers []*exec.Cmd
	t.Cleanup(func() {
		for _, c := range servers {
			_ = c.Process.Signal(syscall.SIGKILL)
			_ = c.Wait()
		}
	})
	waited := false
	for _, raw := range lines {
		cmdline, comment, _ := strings.Cut(raw, "#")
		cmdline = strings.TrimSpace(subst(cmdline))
		comment = strings.TrimSpace(comment)
		f := strings.Fields(cmdline)
		switch {
		case len(f) == 0:
		case f[0] == "go" && len(f) > 1 && f[1] == "build":
			// Built once by TestMain already; copied in as ./rskv above.
		case f[0] == "./rskv":
			require.Equal(t, "&", f[len(f)-1], "a serve line runs in the background: %s", raw)
			c := exec.Command(filepath.Join(dir, "rskv"), f[1:len(f)-1]...)
			c.Dir = dir
			logf, err := os.Create(filepath.Join(dir, "serve-"+f[len(f)-2]+".log"))
			require.NoError(t, err)
			c.Stdout, c.Stderr = logf, logf
			require.NoError(t, c.Start(), raw)
			_ = logf.Close()
			servers = append(servers, c)
		case f[0] == "until":
			// The block's waits (until redis-cli ... PING; do sleep; done),
			// run by sh as written, bounded: the block must wait for the
			// servers itself, so that it works pasted as a script.
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			c := exec.CommandContext(ctx, "sh", "-c", cmdline)
			c.Dir = dir
			out, err := c.CombinedOutput()
			cancel()
			require.NoError(t, err, "%s: %s", raw, out)
			waited = true
		case f[0] == "redis-cli":
			require.True(t, waited, "docs/replication.md runs redis-cli before waiting for the servers: %s", raw)
			got, err := exec.Command(cli, f[1:]...).CombinedOutput()
			require.NoError(t, err, "%s: %s", raw, got)
			checkDocOutput(t, raw, f[3:], comment, strings.TrimSpace(string(got)))
		default:
			t.Fatalf("docs/replication.md: unexpected line in the cluster block: %s", raw)
		}
	}
	require.Len(t, servers, 3, "serve lines in the block")
}

func checkDocOutput(t *testing.T, raw string, args []string, comment, got string) {
	t.Helper()
	cmd := strings.ToUpper(args[0])
	switch {
	case regexp.MustCompile(`^-?\d+$`).MatchString(strings.Fields(comment + " x")[0]):
		assert.Equal(t, strings.Fields(comment)[0], got, raw)
	case cmd == "SET", cmd == "RAFT":
		assert.Equal(t, "OK", got, raw)
	case cmd == "INFO":
		for _, name := range regexp.MustCompile(`raft_\w+`).FindAllString(comment, -1) {
			assert.Regexp(t, "(?m)^"+name+":", got, raw)
		}
		assert.Contains(t, got, "raft_peers:3", raw)
	default:
		t.Errorf("no expected output known for %s", raw)
	}
	t.Logf("%s -> %q", raw, got)
}

// docBlock returns the lines of the first ```sh block after heading in
// the markdown file.
func docBlock(t *testing.T, path, heading string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []string
	state := 0 // 0: before heading, 1: before block, 2: in block
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case state == 0 && strings.TrimSpace(l) == heading:
			state = 1
		case state == 1 && strings.HasPrefix(l, "```sh"):
			state = 2
		case state == 2 && strings.HasPrefix(l, "```"):
			return lines
		case state == 2:
			lines = append(lines, l)
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("%s: no sh block after %q", path, heading)
	return nil
}
