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
