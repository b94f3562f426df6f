// Package engines holds one small ycsb.DB adapter per store the benchmark
// harness compares: rskv, Badger v4, Pebble v2, bbolt, a sharded Go map and
// sync.Map.
//
// Every on-disk engine is opened in a fresh directory with a memory budget
// (Setup.Budget) that sizes its caches and write buffers, and with durability
// settings chosen to be comparable: no engine fsyncs each write. rskv uses its
// default SyncPeriodic (durable within 100ms when its background services
// run); Badger has SyncWrites off, Pebble writes with pebble.NoSync, bbolt
// runs with NoSync. The Engine records say exactly what each adapter does, and
// the harness prints them beside the results.
package engines
