package test_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// TestCrashKill runs the workload in a child process, kills it with
// SIGKILL at a random moment, reopens the store and checks it against the
// child's acknowledgement journal, then does it again on the same directory:
// every round recovers the store the previous round recovered and wrote to.
//
// What must hold after each kill (see model.check):
//   - SyncAlways: every acknowledged write is there, or a later attempted
//     one;
//   - every mode: every write acknowledged before the last completed Sync
//     started is there, or a later one;
//   - every value is one that was really written to that key, byte for
//     byte, and an RMW's value was computed from the key's previous value;
//   - Len equals the number of keys Scan finds, and Get agrees with Scan;
//   - the recovered store accepts writes and closes cleanly, and the next
//     child finds exactly what that Close left.
//
// kill -9 keeps the page cache, so this tests the engine's ordering of
// writes and acknowledgements; TestPowerLoss covers losing the page cache.
func TestCrashKill(t *testing.T) {
	rounds := pick(3, 30)
	for _, mode := range []rskv.SyncMode{rskv.SyncAlways, rskv.SyncPeriodic, rskv.SyncNone} {
		for _, bg := range []bool{true, false} {
			name := fmt.Sprintf("%s/background=%v", modeName(mode), bg)
			t.Run(name, func(t *testing.T) {
				crashRounds(t, mode, bg, rounds)
			})
		}
	}
}

func crashRounds(t *testing.T, mode rskv.SyncMode, bg bool, rounds int) {
	dir := filepath.Join(t.TempDir(), "store")
	jdir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	start, startVals := map[string]uint64{}, map[string][]byte{}
	var killedEarly, tornTails, acks, syncs, ckpts int
	for round := uint64(1); round <= uint64(rounds); round++ {
		jpath := filepath.Join(jdir, fmt.Sprintf("journal-%d", round))
		early := rng.IntN(5) == 0
		var delay time.Duration
		if early {
			delay = time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
		} else {
			delay = 20*time.Millisecond + time.Duration(rng.Int64N(int64(200*time.Millisecond)))
		}
		ready := runAndKill(t, dir, jpath, mode, bg, round, seed+round, early, delay)
		if !ready {
			killedEarly++
		}

		f, err := os.Open(jpath)
		var evs []event
		if err == nil {
			evs, err = parseJournal(f)
			_ = f.Close()
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, os.ErrNotExist)
		}
		checkChildStart(t, round, evs, start)
		for _, e := range evs {
			switch e.typ {
			case 'A':
				acks++
			case 'S':
				syncs++
			case 'C':
				ckpts++
			}
		}

		s, err := rskv.Open(dir, smallOptions(mode, false, nil))
		require.NoError(t, err, "round %d: reopen after kill", round)
		rec := s.Stats().Recovery
		if rec.TornAt != 0 {
			tornTails++
		}
		m := buildModel(start, startVals, evs, -1, mode == rskv.SyncAlways)
		vers, vals, err := verifyStore(s, m)
		require.NoError(t, err, "round %d (%d journal lines, %d syncs; recovery %+v)", round, len(evs), m.syncs, rec)

		if round == uint64(rounds) {
			st := s.Stats()
			cps, err := s.Checkpoints()
			require.NoError(t, err)
			t.Logf("last recovery: %+v; log begin %#x tail %#x, %d checkpoints on disk", rec, st.BeginAddress, st.TailAddress, len(cps))
		}
		// The recovered store takes writes, and a clean Close keeps them.
		require.NoError(t, s.Put([]byte("probe"), []byte(fmt.Sprint(round))))
		got, err := s.Get([]byte("probe"))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(round), string(got))
		require.NoError(t, s.Delete([]byte("probe")))
		require.NoError(t, s.Close())
		start, startVals = vers, vals
	}
	t.Logf("%d rounds, %d killed before the store was ready, %d torn tails cut; %d writes acknowledged, %d syncs, %d manual checkpoints; %d keys at the end",
		rounds, killedEarly, tornTails, acks, syncs, ckpts, len(start))
}

// runAndKill starts the child and kills it after delay (counted from its
// start if early, else from its "ready" line). It reports whether the child
// got ready, and fails the test if the child died of anything but the kill.
func runAndKill(t *testing.T, dir, jpath string, mode rskv.SyncMode, bg bool, round, seed uint64, early bool, delay time.Duration) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envChild+"=1",
		envDir+"="+dir,
		envJournal+"="+jpath,
		envMode+"="+modeName(mode),
		envBG+"="+map[bool]string{true: "1", false: "0"}[bg],
		fmt.Sprintf("%s=%d", envSeed, seed),
		fmt.Sprintf("%s=%d", envRound, round),
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	readyc := make(chan bool, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		got := false
		for sc.Scan() {
			if sc.Text() == "ready" && !got {
				got = true
				readyc <- true
			}
		}
		if !got {
			readyc <- false
		}
	}()
	ready := false
	if early {
		time.Sleep(delay)
	} else {
		ready = <-readyc
		if ready {
			time.Sleep(delay)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	wg.Wait()
	werr := cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL,
		"round %d: the child died on its own (%v), stderr:\n%s", round, werr, stderr.String())
	if early {
		select {
		case ready = <-readyc:
		default:
		}
	}
	return ready
}

// checkChildStart checks that the child, which opened the store the parent
// had closed cleanly, found exactly what the parent left there.
func checkChildStart(t *testing.T, round uint64, evs []event, start map[string]uint64) {
	t.Helper()
	found := map[string]uint64{}
	for _, e := range evs {
		switch e.typ {
		case 'R':
			found[e.key] = e.ver
		case 'O':
			require.Equal(t, start, found, "round %d: the child found a different store than the parent closed", round)
			return
		}
	}
}

// TestPowerLoss simulates power cuts in-process with vfs.MemFS: writers run
// on the store while the test takes a CrashClone (only synced data
// survives) or a CrashCloneTorn (plus a random prefix of the unsynced
// writes, the last one possibly cut mid-way). The clone must open — the
// strict MemFS model never reorders writes, so a torn tail is always a tail
// and recovery must cut it, never report corruption — and hold what the
// contract promises. Each seed crashes, recovers and crashes again a few
// times, so recovered stores are recovered again.
func TestPowerLoss(t *testing.T) {
	seeds := pick(5, 60)
	for _, mode := range []rskv.SyncMode{rskv.SyncAlways, rskv.SyncPeriodic, rskv.SyncNone} {
		for _, torn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/torn=%v", modeName(mode), torn), func(t *testing.T) {
				var cuts, tornBytes int64
				for seed := uint64(1); seed <= uint64(seeds); seed++ {
					c, b := powerLossSeed(t, mode, torn, seed)
					cuts += c
					tornBytes += b
				}
				t.Logf("%d seeds: %d torn tails cut (%d bytes)", seeds, cuts, tornBytes)
			})
		}
	}
}

func powerLossSeed(t *testing.T, mode rskv.SyncMode, torn bool, seed uint64) (cuts, tornBytes int64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	fs := vfs.NewMem()
	start, startVals := map[string]uint64{}, map[string][]byte{}
	for cycle := uint64(1); cycle <= 3; cycle++ {
		bg := rng.IntN(2) == 0
		s, err := rskv.Open("db", smallOptions(mode, bg, fs))
		require.NoError(t, err, "seed %d cycle %d: open", seed, cycle)
		// The previous cycle ended with a clean Close: nothing to cut.
		require.Zero(t, s.Stats().Recovery.TornAt, "seed %d cycle %d: torn tail after a clean Close", seed, cycle)
		w := workload{writers: 3, keysPerWriter: 16, maintEvery: 3 * time.Millisecond, manual: !bg,
			round: seed<<8 | cycle, seed: seed*10 + cycle}
		j := &journal{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.run(ctx, s, j, start) }()
		time.Sleep(time.Duration(2+rng.IntN(25)) * time.Millisecond)
		cut := j.len()
		var clone *vfs.MemFS
		if torn {
			clone = fs.CrashCloneTorn(rand.New(rand.NewPCG(seed, cycle)))
		} else {
			clone = fs.CrashClone()
		}
		cancel()
		require.NoError(t, <-done, "seed %d cycle %d: workload", seed, cycle)
		require.NoError(t, s.Close())

		fs = clone
		s, err = rskv.Open("db", smallOptions(mode, false, fs))
		require.NoError(t, err, "seed %d cycle %d: open after power loss", seed, cycle)
		rec := s.Stats().Recovery
		if rec.TornAt != 0 {
			cuts++
			tornBytes += rec.TornBytes
			require.Positive(t, rec.TornBytes, "seed %d cycle %d: recovery %+v", seed, cycle, rec)
		}
		evs := j.snapshot()
		m := buildModel(start, startVals, evs, cut, mode == rskv.SyncAlways)
		start, startVals, err = verifyStore(s, m)
		require.NoError(t, err, "seed %d cycle %d (%d events, cut %d, %d syncs before the cut; recovery %+v)",
			seed, cycle, len(evs), cut, m.syncs, rec)
		require.NoError(t, s.Close())
	}
	return cuts, tornBytes
}
