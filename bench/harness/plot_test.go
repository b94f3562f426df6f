package harness

import (
	"bytes"
	"image/png"
	"os"
	"testing"

	"gonum.org/v1/plot"
)

func TestEngineColorsFixedAndDistinct(t *testing.T) {
	seen := map[any]string{}
	for _, n := range []string{"rskv", "shardmap", "syncmap", "badger", "pebble", "bbolt"} {
		c := engineColor(n)
		if other, dup := seen[c]; dup {
			t.Errorf("%s and %s share a colour", n, other)
		}
		seen[c] = n
		if engineColor(n) != c {
			t.Errorf("%s's colour changes between calls", n)
		}
	}
	// An unknown engine's colour depends on its name only.
	if engineColor("newengine") != engineColor("newengine") {
		t.Error("an unknown engine's colour is not fixed")
	}
}

func TestBarLogScale(t *testing.T) {
	var s plot.Normalizer = barLogScale{}
	if got := s.Normalize(0.01, 100, 0); got != 0 {
		t.Errorf("a bar's base (0) normalizes to %v, want the axis bottom 0", got)
	}
	if got := s.Normalize(0.01, 100, 1); got != 0.5 {
		t.Errorf("1 on [0.01, 100] normalizes to %v, want 0.5 (log scale)", got)
	}
	for _, c := range []struct{ lo, hi, min, max float64 }{
		{0.02, 3, 0.01, 100},  // decades around, one of headroom
		{0.5, 0.5, 0.1, 10},   // one value
		{0, 2, 1, 100},        // no positive minimum: the maximum's decade
		{0, 0, 0.001, 1},      // nothing to draw
		{1e-4, 40, 1e-4, 1e3}, // exact decade kept
	} {
		lo, hi := logRange(c.lo, c.hi)
		if !near(lo, c.min) || !near(hi, c.max) {
			t.Errorf("logRange(%v, %v) = %v, %v; want %v, %v", c.lo, c.hi, lo, hi, c.min, c.max)
		}
	}
}

func near(a, b float64) bool { return a > b*0.999999 && a < b*1.000001 }

// TestWritePNGLogScale draws engines whose throughput differs by three
// orders of magnitude, with a missing value (a bar of 0), and a subset of
// engines: the log scale must not fail on the zero.
func TestWritePNGLogScale(t *testing.T) {
	r := &Report{Settings: Settings{Workloads: []string{"A", "C"}, Distributions: []string{"zipfian"},
		ValueSizes: []int{100}, Threads: []int{2}, Modes: []Mode{InMemory}}}
	for i, e := range []string{"rskv", "bbolt", "pebble"} {
		r.Engines = append(r.Engines, EngineInfo{Name: e, Persistent: true})
		for j, wl := range []string{"A", "C"} {
			ops := 3e7 / float64(1+i*i*300) * float64(1+j)
			if e == "pebble" && wl == "A" {
				ops = 0
			}
			r.Rows = append(r.Rows, Row{Engine: e, Mode: InMemory, ValueSize: 100, Workload: wl,
				Distribution: "zipfian", Threads: 2, OpsPerSec: ops})
		}
	}
	var buf bytes.Buffer
	if err := r.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("RSKV_PLOT_OUT"); out != "" {
		_ = os.WriteFile(out, buf.Bytes(), 0o644) // to look at it
	}
	if _, err := png.Decode(&buf); err != nil {
		t.Fatal(err)
	}
}
