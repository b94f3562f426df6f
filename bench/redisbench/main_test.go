package main

import "testing"

// TestMedianRatio checks that ratios pair rep i with rep i: for the second
// case a ratio of medians would give 200/150 = 1.33, the per-rep ratios
// (2, 0.5, 2) have the median 2.
func TestMedianRatio(t *testing.T) {
	num := []float64{100, 200, 300}
	den := []float64{100, 200, 300}
	if got := medianRatio([]float64{300, 100, 200}, []float64{300, 100, 200}); got != 1 {
		t.Fatalf("medianRatio of equal pairs = %v, want 1", got)
	}
	if got := medianRatio(num, []float64{50, 400, 150}); got != 2 {
		t.Fatalf("medianRatio = %v, want 2 (ratios 2, 0.5, 2)", got)
	}
	if got := medianRatio(num, den[:2]); got != 1 {
		t.Fatalf("medianRatio over unequal lengths = %v, want 1", got)
	}
	if got := medianRatio(num, []float64{0, 0, 0}); got != 0 {
		t.Fatalf("medianRatio with no usable pair = %v, want 0", got)
	}
}

// TestServerFlags checks -flags parsing: FLAGS split at spaces, a name
// and flags required, redis-server's names refused.
func TestServerFlags(t *testing.T) {
	var f serverFlags
	if err := f.Set("nohold=--io-hold=-1ns --io-loops 1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("main=--io-hold=50us"); err != nil {
		t.Fatal(err)
	}
	if len(f) != 2 || f[0].name != "nohold" || len(f[0].flags) != 3 || f[0].flags[2] != "1" || f[1].name != "main" {
		t.Fatalf("parsed %#v", f)
	}
	if got := f.String(); got != "nohold=--io-hold=-1ns --io-loops 1,main=--io-hold=50us" {
		t.Fatalf("String() = %q", got)
	}
	for _, bad := range []string{"", "nohold", "=--x", "x=", "x=  ", "redis=--x", "redis-aof=--x"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("Set(%q) = nil, want an error", bad)
		}
	}
	if len(f) != 2 {
		t.Fatalf("a refused -flags was kept: %#v", f)
	}
}
