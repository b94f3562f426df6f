// Package harness runs the YCSB benchmark matrix over several engines in one
// process and writes the results as a markdown report, JSON and a PNG plot.
//
// For each mode (in memory, larger than memory), value size and engine, the
// harness opens the engine in a fresh directory with that mode's memory
// budget, loads the records, runs every workload with every key distribution
// and thread count, closes the engine and removes its files. Engines that keep
// no data on disk skip the larger-than-memory mode. Key sequences are drawn
// once per distribution (a ycsb.KeyRing) and replayed identically for every
// engine.
package harness
