package replication

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// rskvBin is the rskv binary built once by TestMain; raftMode says whether
// its serve command has the replicated-mode flags.
var (
	rskvBin  string
	raftMode bool
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// quietLogger drops go-redis's own log lines (every refused dial while a
// node is down); the workload counts those errors itself.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...interface{}) {}

func run(m *testing.M) int {
	redis.SetLogger(quietLogger{})
	dir, err := os.MkdirTemp("", "rskv-replication-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "replication tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	rskvBin = filepath.Join(dir, "rskv")
	args := []string{"build", "-o", rskvBin}
	if os.Getenv("RSKV_RACE") == "1" {
		// The servers themselves under the race detector: the logs are
		// scanned for its reports (checkLogs). Opt-in: a race-built node
		// is several times slower, too slow for the default schedule's
		// timeouts on a loaded 2-core CI machine.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/rskv-go/rskv/cmd/rskv")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "replication tests: go build cmd/rskv: %v\n%s", err, out)
		return 1
	}
	help, err := exec.Command(rskvBin, "serve", "--help").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "replication tests: rskv serve --help: %v\n%s", err, help)
		return 1
	}
	raftMode = strings.Contains(string(help), "--raft-addr") && strings.Contains(string(help), "--node-id")
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "replication tests: goroutines leaked:", err)
			return 1
		}
	}
	return code
}

// needRaft fails the test when the binary has no replicated mode. (It
// skipped while the raft branch was not merged; this branch has it, so a
// serve without --node-id/--raft-addr is now a regression.)
func needRaft(t *testing.T) {
	t.Helper()
	if !raftMode {
		t.Fatal("rskv serve has no replicated mode (no --node-id/--raft-addr in serve --help): SERVER.md, \"Replicated mode\"")
	}
}
