// Command bench runs the YCSB benchmark of rskv against peer stores — Badger
// v4, Pebble v2, bbolt, a sharded Go map and sync.Map — in one process, and
// writes results.md, results.json and throughput.png.
//
// Usage, from the bench directory:
//
//	go run . [flags]
//
// The defaults (500,000 records; values of 8 and 100 bytes; workloads A, B,
// C, F; zipfian and uniform keys; 1 and 2 threads; in memory and larger than
// memory; 1s per run) take about seven minutes on a 2-core machine. See
// README.md for the results and the command that produced them.
package main
