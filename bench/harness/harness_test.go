package harness_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rskv-go/rskv/bench/engines"
	"github.com/rskv-go/rskv/bench/harness"
	"github.com/rskv-go/rskv/internal/ycsb"
)

// TestRunAllEngines runs the whole matrix, every engine and both modes, on
// a tiny data set and checks the three outputs.
func TestRunAllEngines(t *testing.T) {
	scratch := t.TempDir()
	var log bytes.Buffer
	rep, err := harness.Run(context.Background(), harness.Config{
		Engines:       engines.All(),
		Workloads:     ycsb.Workloads(),
		Distributions: []ycsb.Distribution{ycsb.DistZipfian, ycsb.DistUniform},
		ValueSizes:    []int{8, 100},
		Threads:       []int{1, 2},
		Modes:         []harness.Mode{harness.InMemory, harness.LargerThanMemory},
		Records:       1000,
		Ops:           500,
		ScratchDir:    scratch,
		Seed:          1,
		Command:       "go run . -test",
		Log:           &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Per mode and value size: a load and 4x2x2 runs per engine; the
	// memory-only engines skip the larger-than-memory mode.
	all, persistent := len(engines.All()), 0
	for _, e := range engines.All() {
		if e.Persistent {
			persistent++
		}
	}
	if want := 2*all*17 + 2*persistent*17; len(rep.Rows) != want {
		t.Errorf("%d rows, want %d", len(rep.Rows), want)
	}
	for _, r := range rep.Rows {
		if r.Errors != 0 || r.NotFound != 0 {
			t.Errorf("%s %s %dB %s %s t%d: %d errors, %d not found: %s",
				r.Engine, r.Mode, r.ValueSize, r.Workload, r.Distribution, r.Threads, r.Errors, r.NotFound, r.FirstError)
		}
		if r.Workload != "load" && r.Ops != 500 {
			t.Errorf("%s %s: %d ops, want 500", r.Engine, r.Workload, r.Ops)
		}
		if r.Mode == harness.LargerThanMemory && (r.Engine == "shardmap" || r.Engine == "syncmap") {
			t.Errorf("memory-only engine %s ran larger than memory", r.Engine)
		}
	}
	if entries, _ := os.ReadDir(scratch); len(entries) != 0 {
		t.Errorf("scratch directories left behind: %v", entries)
	}
	if !strings.Contains(log.String(), "[1/") {
		t.Errorf("no progress lines logged:\n%s", log.String())
	}

	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go run . -test", "## Engines and settings", "## In memory, 8-byte values",
		"## Larger than memory, 100-byte values", "## Load", "rskv / best on-disk peer", "SyncPeriodic", "pebble.NoSync",
		"SyncWrites=false", "NoSync", "| A | zipfian | 2 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	for _, e := range engines.All() {
		if !strings.Contains(md.String(), "| "+e.Name+" |") {
			t.Errorf("markdown lacks engine %s", e.Name)
		}
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back harness.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != len(rep.Rows) || len(back.Engines) != all || back.Settings.Records != 1000 {
		t.Errorf("JSON round trip lost data: %d rows, %d engines", len(back.Rows), len(back.Engines))
	}

	var img bytes.Buffer
	if err := rep.WritePNG(&img); err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(&img)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width < 500 || cfg.Height < 500 {
		t.Errorf("plot is %dx%d", cfg.Width, cfg.Height)
	}
}

func TestBudget(t *testing.T) {
	const records = 1_000_000
	data := harness.DataBytes(records, 100)
	if data != 108_000_000 {
		t.Fatalf("DataBytes = %d", data)
	}
	if b := harness.Budget(harness.InMemory, records, 100); b != 512<<20 {
		t.Errorf("in-memory budget %d, want 512 MiB", b)
	}
	if b := harness.Budget(harness.LargerThanMemory, records, 100); b != data/4 {
		t.Errorf("larger-than-memory budget %d, want %d", b, data/4)
	}
	if b := harness.Budget(harness.InMemory, 10, 8); b != 64<<20 {
		t.Errorf("tiny in-memory budget %d, want 64 MiB", b)
	}
}

func TestShortfalls(t *testing.T) {
	row := func(engine string, ops float64) harness.Row {
		return harness.Row{Engine: engine, Mode: harness.InMemory, ValueSize: 8, Workload: "A", Distribution: "zipfian", Threads: 1, OpsPerSec: ops}
	}
	rep := &harness.Report{
		Settings: harness.Settings{Records: 10, ValueSizes: []int{8}, Workloads: []string{"A"}, Distributions: []string{"zipfian"},
			Threads: []int{1}, Modes: []harness.Mode{harness.InMemory}, DurationNs: int64(time.Second)},
		Engines: []harness.EngineInfo{{Name: "rskv", Persistent: true}, {Name: "pebble", Persistent: true}, {Name: "shardmap"}},
		Rows:    []harness.Row{row("rskv", 100), row("pebble", 150), row("shardmap", 1000)},
	}
	sf := rep.Shortfalls(harness.InMemory)
	if len(sf) != 1 || sf[0].Peer != "pebble" || sf[0].PeerOps != 150 {
		t.Errorf("Shortfalls = %+v, want rskv behind pebble", sf)
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "**0.67x**") || !strings.Contains(md.String(), "1 thread: rskv 100, pebble 150") {
		t.Errorf("markdown does not flag the shortfall:\n%s", md.String())
	}
	// The memory-only engine is faster but is not a peer for the ratio.
	rep.Rows[1].OpsPerSec = 50
	if sf := rep.Shortfalls(harness.InMemory); len(sf) != 0 {
		t.Errorf("Shortfalls = %+v, want none", sf)
	}
}

func TestParseModes(t *testing.T) {
	m, err := harness.ParseModes("memory, disk")
	if err != nil || len(m) != 2 || m[1] != harness.LargerThanMemory {
		t.Errorf("ParseModes = %v, %v", m, err)
	}
	if _, err := harness.ParseModes("ssd"); err == nil {
		t.Error("ParseModes(ssd) succeeded")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	if _, err := harness.Run(context.Background(), harness.Config{Records: 10}); err == nil {
		t.Error("Run of an empty matrix succeeded")
	}
}
