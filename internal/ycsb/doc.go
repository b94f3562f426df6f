// Package ycsb runs YCSB-style workloads against any key-value store that
// implements [DB].
//
// # Basics
//
// A benchmark has two phases. [Load] writes Records items, numbered 0 to
// Records-1, each under an 8-byte key made by [AppendKey] (the big-endian
// bytes of a bijective mix of the item number, so that items are loaded in
// scattered key order, as YCSB's hashed insert order does). [Run] then
// performs a [Workload] — A (50% reads, 50% updates), B (95/5), C (reads
// only) or F (50% reads, 50% read-modify-writes) — choosing items with a
// [Chooser]: [Uniform] or [ScrambledZipfian] (YCSB's default skew, theta
// 0.99, with popular items scattered over the key space).
//
// Both phases run Threads goroutines, each with its own deterministic random
// source derived from the seed, its own key and value buffers (the hot path
// does not allocate; what the DB does is up to the DB) and its own
// HdrHistogram; the histograms are merged when the phase ends. Latency is
// timed on one operation in SampleEvery (default 16) so that reading the
// clock does not dominate sub-microsecond operations; throughput counts every
// operation. A [KeyRing] pre-draws the items so that the cost of drawing
// them (a math.Pow per zipfian item) is not charged to the store.
//
// # Caveats
//
// A DB must be safe for concurrent use by Threads goroutines. The key and
// value slices passed to a DB are reused by the caller as soon as the call
// returns: a DB that keeps them must copy them. The runner never asserts on
// timing; its [Result] reports what happened, including errors, which do not
// stop a run (the first one is kept).
package ycsb
