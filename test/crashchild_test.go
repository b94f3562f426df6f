package test_test

// The child side of TestCrashKill. The test binary re-executes itself with
// RSKV_CRASH_CHILD=1; init below then runs the child instead of the tests,
// so no test function has to be skipped in normal runs. The child opens the
// store, writes what it found to the journal (R and O lines), prints
// "ready" on stdout, and runs the workload until the parent kills it with
// SIGKILL. It never stops by itself: any error (an operation failing, a
// read that contradicts the child's own writes) makes it exit with status
// 3 and the message on stderr, which the parent reports as a failure.

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/rskv-go/rskv/pkg/rskv"
)

const (
	envChild   = "RSKV_CRASH_CHILD"
	envDir     = "RSKV_CRASH_DIR"
	envJournal = "RSKV_CRASH_JOURNAL"
	envMode    = "RSKV_CRASH_MODE"
	envBG      = "RSKV_CRASH_BG"
	envSeed    = "RSKV_CRASH_SEED"
	envRound   = "RSKV_CRASH_ROUND"
)

func init() {
	if os.Getenv(envChild) != "1" {
		return
	}
	if err := crashChild(); err != nil {
		fmt.Fprintf(os.Stderr, "crash child: %+v\n", err)
		os.Exit(3)
	}
	// The workload only ends on an error; reaching here is a bug too.
	fmt.Fprintln(os.Stderr, "crash child: workload ended without being killed")
	os.Exit(4)
}

// crashWorkload is the child's workload; the parent uses it to know the keys.
func crashWorkload(round, seed uint64, background bool) workload {
	return workload{
		writers:       4,
		keysPerWriter: 48,
		maintEvery:    8 * time.Millisecond,
		manual:        !background,
		round:         round,
		seed:          seed,
		opPause:       200 * time.Microsecond,
	}
}

func crashChild() error {
	round, _ := strconv.ParseUint(os.Getenv(envRound), 10, 64)
	seed, _ := strconv.ParseUint(os.Getenv(envSeed), 10, 64)
	background := os.Getenv(envBG) == "1"
	mode := parseMode(os.Getenv(envMode))

	jf, err := os.OpenFile(os.Getenv(envJournal), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	j := &journal{w: jf}
	s, err := rskv.Open(os.Getenv(envDir), smallOptions(mode, background, nil))
	if err != nil {
		return err
	}
	start, _, err := scanState(s)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(start))
	for k := range start {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		j.add(event{typ: 'R', key: k, ver: start[k]})
	}
	j.add(event{typ: 'O', ver: uint64(len(keys))})
	fmt.Println("ready")
	return crashWorkload(round, seed, background).run(context.Background(), s, j, start)
}
