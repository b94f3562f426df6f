// Package churn is the workload of issue 11's churn benchmark, in one place
// for its two front ends (BenchmarkChurn in pkg/rskv and `bench churn`):
// fixed-size values under Keys keys, loaded once, then overwritten at random
// by Writers goroutines for Churn while the store directory's size is
// sampled, then an Idle period in which the background services settle.
//
// It reports puts/s, the share of updates done in place, and the directory
// size at its peak and after the idle period, over the live data (keys and
// values).
package churn
