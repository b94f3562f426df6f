package rskv_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rskv-go/rskv/internal/churn"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// Benchmarks of durability: how long Open takes to recover a large log,
// and how group commit scales SyncAlways writes. They need the -bench flag
// and are not part of a plain go test run:
//
//	go test ./pkg/rskv -run '^$' -bench 'BenchmarkRecovery' -benchtime 5x
//	go test ./pkg/rskv -run '^$' -bench 'BenchmarkSyncAlwaysWriters'
//
// BenchmarkRecovery builds a store with about 1 GiB of log once, in
// $TMPDIR/rskv-bench-recovery (reused by later runs; delete it to rebuild;
// RSKV_BENCH_LOG_MIB changes the size), and the files are then in the page
// cache: the figures are recovery's CPU cost, not the disk's read rate.

const benchRecoveryVersion = "v3-delta"

func benchRecoveryOptions() *rskv.Options {
	o := &rskv.Options{
		MemorySize:         64 << 20, // 2 MiB pages, 16 MiB segments
		CheckpointInterval: -1,       // Close takes no checkpoint
		GCInterval:         -1,
		DisableBackground:  true,
	}
	o.SetSyncMode(rskv.SyncNone)
	return o
}

// benchRecoveryStore returns the directory of the cached store, building it
// if needed: logMiB of log from 1000-byte values over 500,000 keys (each
// written about twice), with a checkpoint taken when 1/16 of the log was
// still to be written: a recent checkpoint, with 64 MiB of log after it.
func benchRecoveryStore(b *testing.B) string {
	logMiB := 1024
	if s := os.Getenv("RSKV_BENCH_LOG_MIB"); s != "" {
		if _, err := fmt.Sscan(s, &logMiB); err != nil {
			b.Fatal(err)
		}
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("rskv-bench-recovery-%s-%dMiB", benchRecoveryVersion, logMiB))
	ready := filepath.Join(dir, "READY")
	restoreCheckpoints(b, dir)
	if _, err := os.Stat(ready); err == nil {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	b.Logf("building a store with %d MiB of log in %s", logMiB, dir)
	start := time.Now()
	s, err := rskv.Open(dir, benchRecoveryOptions())
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 1000)
	for i := range val {
		val[i] = byte('a' + i%26)
	}
	key := make([]byte, 12)
	checkpointAt := uint64(logMiB) << 20 / 16 * 15
	for i := 0; s.Stats().TailAddress < uint64(logMiB)<<20; i++ {
		if checkpointAt != 0 && s.Stats().TailAddress >= checkpointAt {
			if _, err := s.Checkpoint(); err != nil {
				b.Fatal(err)
			}
			checkpointAt = 0
		}
		copy(key, "key-")
		binary.BigEndian.PutUint64(key[4:], uint64(i%500_000))
		binary.BigEndian.PutUint64(val, uint64(i))
		if err := s.Put(key, val); err != nil {
			b.Fatal(err)
		}
	}
	st := s.Stats()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("built in %v: %d keys, log %#x..%#x, %d MiB on disk", time.Since(start).Round(time.Millisecond),
		st.Keys, st.BeginAddress, st.TailAddress, st.DiskBytes>>20)
	return dir
}

// Checkpoints are moved aside (not deleted) for the full-scan case and
// moved back afterwards, even after an interrupted run.
func asideDir(dir string) string { return dir + "-checkpoints-aside" }

func moveCheckpoints(b *testing.B, from, to string) {
	if err := os.MkdirAll(to, 0o755); err != nil {
		b.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join(from, "checkpoint-*"))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range names {
		if err := os.Rename(n, filepath.Join(to, filepath.Base(n))); err != nil {
			b.Fatal(err)
		}
	}
}

func restoreCheckpoints(b *testing.B, dir string) {
	if _, err := os.Stat(asideDir(dir)); err == nil {
		moveCheckpoints(b, asideDir(dir), dir)
	}
}

// BenchmarkRecovery measures Open (and Close, which writes only a durable
// mark) of a store with about 1 GiB of log: from a recent checkpoint, and
// with the checkpoints moved aside so recovery scans the whole log.
func BenchmarkRecovery(b *testing.B) {
	dir := benchRecoveryStore(b)
	for _, c := range []struct {
		name       string
		checkpoint bool
	}{{"recent-checkpoint", true}, {"full-log-scan", false}} {
		b.Run(c.name, func(b *testing.B) {
			if !c.checkpoint {
				moveCheckpoints(b, dir, asideDir(dir))
				b.Cleanup(func() { restoreCheckpoints(b, dir) })
			}
			var rec rskv.RecoveryInfo
			var openTime time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				s, err := rskv.Open(dir, benchRecoveryOptions())
				if err != nil {
					b.Fatal(err)
				}
				openTime += time.Since(t0)
				rec = s.Stats().Recovery
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			if (rec.CheckpointID != 0) != c.checkpoint {
				b.Fatalf("recovery used checkpoint %d", rec.CheckpointID)
			}
			secs := openTime.Seconds() / float64(b.N)
			b.ReportMetric(secs*1000, "open-ms")
			b.ReportMetric(float64(rec.BytesReplayed)/(1<<20), "replayed-MiB")
			b.ReportMetric(float64(rec.Records), "replayed-records")
			if rec.BytesReplayed > 0 {
				b.ReportMetric(float64(rec.BytesReplayed)/(1<<20)/secs, "replay-MiB/s")
			}
		})
	}
}

// BenchmarkSyncAlwaysWriters measures SyncAlways Puts (100-byte values)
// from 1, 8 and 64 goroutines on the OS file system in a temporary
// directory. Each Put returns only once it is durable; concurrent writers
// share fsyncs (group commit), which fsyncs/write shows.
func BenchmarkSyncAlwaysWriters(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			rec := errorfs.Record(nil, 0)
			o := &rskv.Options{
				MemorySize: 64 << 20,
				FS:         errorfs.Wrap(vfs.Default, rec),
			}
			o.SetSyncMode(rskv.SyncAlways)
			s, err := rskv.Open(b.TempDir(), o)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			val := []byte(strings.Repeat("v", 100))
			rec.Reset()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := 0; w < writers; w++ {
				n := b.N / writers
				if w < b.N%writers {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < n; i++ {
						if err := s.Put([]byte(fmt.Sprintf("w%02d-%08d", w, i%100_000)), val); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
			b.ReportMetric(float64(rec.Count(errorfs.OpSync))/float64(b.N), "fsyncs/write")
		})
	}
}

// BenchmarkChurn is the churn of issue 11: 500,000 keys of 100-byte values,
// overwritten at random by 2 goroutines, with default options and with
// SyncNone (the collector and checkpointer on in both). Each iteration runs
// one pair, the two modes back to back (the order alternating between
// iterations), so that the ratio compares runs under the same machine load.
// It reports, per mode, puts/s, the share of Puts done in place, the peak
// directory size during the churn and the size after an idle period, both
// over the live data (keys and values), and the pair's puts/s ratio. Use
//
//	go test ./pkg/rskv -run '^$' -bench 'BenchmarkChurn' -benchtime 1x -count 3
//
// RSKV_CHURN_SECONDS (default 10) and RSKV_CHURN_IDLE_SECONDS (default 15)
// change the churn and idle periods; RSKV_CHURN_VERBOSE=1 logs the
// directory at its peak and the truncations; RSKV_CHURN_MODE=def (or none)
// runs one mode alone, for a CPU profile of it.
func BenchmarkChurn(b *testing.B) {
	churnFor := envSeconds(b, "RSKV_CHURN_SECONDS", 10)
	idle := envSeconds(b, "RSKV_CHURN_IDLE_SECONDS", 15)
	modes := []struct {
		name string
		mode rskv.SyncMode
	}{{"def", rskv.SyncPeriodic}, {"none", rskv.SyncNone}}
	only := os.Getenv("RSKV_CHURN_MODE") // "def" or "none": run that mode alone (for profiles)
	for i := 0; i < b.N; i++ {
		var res [2]churn.Result
		for k := range modes {
			m := (k + churnPairs) % 2
			if only != "" {
				if modes[m].name != only {
					continue
				}
				o := &rskv.Options{SyncMode: modes[m].mode}
				if os.Getenv("RSKV_CHURN_VERBOSE") != "" {
					o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
				}
				r := runChurn(b, o, churnFor, idle)
				b.ReportMetric(r.PutsPerSec, only+"-puts/s")
				b.ReportMetric(r.PeakDisk/r.Live, only+"-peak/live")
				if modes[m].mode == rskv.SyncPeriodic {
					b.ReportMetric(float64(r.SyncLag.Milliseconds()), only+"-synclag-ms")
				}
				continue
			}
			o := &rskv.Options{SyncMode: modes[m].mode}
			if os.Getenv("RSKV_CHURN_VERBOSE") != "" {
				o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			}
			res[m] = runChurn(b, o, churnFor, idle)
		}
		churnPairs++
		if only != "" {
			continue
		}
		for m, r := range res {
			n := modes[m].name
			b.ReportMetric(r.PutsPerSec, n+"-puts/s")
			b.ReportMetric(r.InPlace*100, n+"-%in-place")
			b.ReportMetric(r.PeakDisk/r.Live, n+"-peak/live")
			b.ReportMetric(r.SettledDisk/r.Live, n+"-settled/live")
			if modes[m].mode == rskv.SyncPeriodic {
				b.ReportMetric(float64(r.SyncLag.Milliseconds()), n+"-synclag-ms")
				b.ReportMetric(float64(r.PacedWrites), n+"-paced")
			}
		}
		b.ReportMetric(res[0].PutsPerSec/res[1].PutsPerSec, "def/none-puts")
	}
}

// churnPairs counts the pairs BenchmarkChurn ran, to alternate their order.
var churnPairs int

func envSeconds(b *testing.B, name string, def int) time.Duration {
	if s := os.Getenv(name); s != "" {
		if _, err := fmt.Sscan(s, &def); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
	}
	return time.Duration(def) * time.Second
}

// runChurn runs the churn (internal/churn) from 2 goroutines on 500,000
// keys of 100-byte values in a fresh directory; RSKV_CHURN_VERBOSE=1 logs
// where the bytes were at the peak and after the idle period.
func runChurn(b *testing.B, o *rskv.Options, churnFor, idle time.Duration) churn.Result {
	r, err := churn.Run(context.Background(), churn.Config{
		Keys: 500_000, ValueSize: 100, Writers: 2,
		Churn: churnFor, Idle: idle, Dir: b.TempDir(),
	}, o)
	if err != nil {
		b.Fatal(err)
	}
	if os.Getenv("RSKV_CHURN_VERBOSE") != "" {
		b.Logf("peak at %s; after idle: %s", r.PeakAt, r.SettledAt)
	}
	return r
}

// BenchmarkRecoveryRedo measures Open after a crash that left the delta
// log in place: the churn's 500,000 keys of 100-byte values, overwritten in
// place at random in rounds of 200,000 Puts, each round followed by a Sync
// (the truncation policy folding the delta log into the segments as it
// would), and the directory copied after the last Sync while the store is
// still open: the image a kill -9 leaves. Each iteration opens a fresh copy
// (written and synced outside the timer) and reports the delta log it
// redid; the open includes the redo's writes and fsyncs, the replay from
// the checkpoint taken after the load, and reloading the last pages.
//
//	go test ./pkg/rskv -run '^$' -bench BenchmarkRecoveryRedo -benchtime 3x -count 3
func BenchmarkRecoveryRedo(b *testing.B) {
	src := b.TempDir()
	o := func() *rskv.Options {
		o := &rskv.Options{CheckpointInterval: -1, GCInterval: -1, DisableBackground: true}
		o.SetSyncMode(rskv.SyncNone)
		return o
	}
	s, err := rskv.Open(src, o())
	if err != nil {
		b.Fatal(err)
	}
	const keys = 500_000
	kb, v := make([]byte, 12), make([]byte, 100)
	key := func(i uint64) []byte {
		copy(kb, "key-")
		binary.BigEndian.PutUint64(kb[4:], i)
		return kb
	}
	for i := range uint64(keys) {
		if err := s.Put(key(i), v); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.Checkpoint(); err != nil {
		b.Fatal(err)
	}
	x := uint64(1)
	for round := range 5 {
		for range 200_000 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			binary.LittleEndian.PutUint64(v, x)
			if err := s.Put(key(x%keys), v); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Sync(); err != nil {
			b.Fatalf("round %d: %v", round, err)
		}
	}
	image := b.TempDir()
	copyDir(b, src, image)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	var deltaBytes int64
	ents, err := os.ReadDir(image)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), "delta-") {
			deltaBytes += info.Size()
		}
	}
	if deltaBytes < 1<<20 {
		b.Fatalf("the crash image has only %d bytes of delta log", deltaBytes)
	}
	var openTime time.Duration
	var rec rskv.RecoveryInfo
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "db")
		copyDir(b, image, dir)
		b.StartTimer()
		t0 := time.Now()
		c, err := rskv.Open(dir, o())
		if err != nil {
			b.Fatal(err)
		}
		openTime += time.Since(t0)
		b.StopTimer()
		rec = c.Stats().Recovery
		if got, err := c.Get(key(x % keys)); err != nil || string(got) != string(v) {
			b.Fatalf("the last value written before the Sync is lost: %q, %v", got, err)
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(openTime.Seconds()*1000/float64(b.N), "open-ms")
	b.ReportMetric(float64(deltaBytes)/(1<<20), "delta-MiB")
	b.ReportMetric(float64(rec.BytesReplayed)/(1<<20), "replayed-MiB")
}

// copyDir copies the files of src into dst (created).
func copyDir(b *testing.B, src, dst string) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		b.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		// Synced, so that Open's fsyncs do not pay for the copy.
		f, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
