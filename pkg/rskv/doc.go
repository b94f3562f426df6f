// Package rskv is an embedded key-value store in the family of Microsoft
// FASTER: a hybrid log, partly mutable in memory, partly read-only in
// memory, partly on disk, under a latch-free hash index, with checkpoints,
// compaction and log maintenance run by supervised background services.
//
// # Basics
//
// Open a store in a directory, use it from any number of goroutines, and
// Close it:
//
//	s, err := rskv.Open(dir, nil) // nil: default Options
//	...
//	err = s.Put([]byte("k"), []byte("v"))
//	v, err := s.Get([]byte("k")) // errors.Is(err, rskv.ErrNotFound) when absent
//	n, err := s.RMW([]byte("n"), func(old []byte, found bool) []byte { ... })
//	err = s.Scan(prefix, func(k, v []byte) bool { ...; return true })
//	err = s.Close()
//
// Keys are 1 to 65,535 bytes; a record (a 24-byte header, the key and the
// value, each padded to 8 bytes) must fit in one log page (Options.PageSize).
// Values passed in are copied; values returned are the caller's own, except
// with AppendValue, which appends into the caller's buffer and allocates
// nothing when it has room.
//
// # Concurrency
//
// Every method is safe for concurrent use. Reads take no lock; a write to a
// key whose newest version is in the mutable region updates it in place
// under that record's own lock; other writes append. RMW is atomic per key:
// its function may run more than once when writers race, so it must be
// pure, must not keep the old value it is given, and must not call the
// Store. Scan sees the store as it was when it started; its callback runs
// with nothing held and may call the Store, Scan and Compact included.
//
// # Batches and transactions
//
// A Batch (Store.NewBatch) is a set of blind puts and deletes that Commit
// applies atomically, like Badger's WriteBatch or Pebble's Batch but with no
// size limit beyond memory (a million writes is fine): no reader (Get, Has,
// View, Update) ever sees part of it, and after a crash all of it survives
// or none. The whole batch is checked before anything is applied; within
// it the last write to a key wins.
//
// Update and View run a function in a transaction, like bbolt's and
// Badger's. Update is serializable with respect to every other transaction
// and every single-key operation: its reads are recorded, its writes
// buffered (its own reads see them), and at commit the index entries of all
// keys it read or wrote are locked, its reads validated and its writes
// applied as a batch. If a key it read changed meanwhile, the function runs
// again, up to 100 times (with a short randomised backoff), then Update
// returns ErrConflict. An error from the function aborts: nothing is written
// and Update returns it. View is read-only (writes return ErrReadOnly); it
// validates what it read after the function returns (each key unchanged),
// so its reads hold at one moment, and it re-runs the function otherwise.
// Transactions are optimistic: while a transaction has read at most 16
// keys, each read re-validates the earlier ones and returns an error
// matching ErrConflict if one changed (return it; the function runs again),
// so the function never sees keys from different moments. Past 16 keys only
// the final validation holds, and a run that is then discarded may have
// seen keys from different moments: keep the function's effects inside the
// transaction (or idempotent), and judge what it read once Update or View
// has returned nil. Scan is not a snapshot and is not part of these
// guarantees. Commits are serialised with each other (one at a time); the
// reads and writes of single keys go on beside them, and wait only for a
// commit holding their key. Durability follows SyncMode as for Put.
//
// # Lifecycle
//
// Close stops the services, waits for every operation started before it
// (a manual Checkpoint, Compact, Sync or Scan in progress finishes or stops
// cleanly), makes all data durable and releases the directory: when Close
// returns, nothing started before it touches the directory again. Every
// later call returns ErrClosed.
//
// # Durability
//
// Options.SyncMode says when a write is durable: SyncAlways when its call
// returns (concurrent writers share one fsync); SyncPeriodic (the default)
// within Options.SyncInterval; SyncNone only at Sync, Checkpoint or Close. In
// every mode, everything acknowledged before Sync, Checkpoint or Close
// returned survives a crash, and after a crash each key holds a value it
// really had at some moment no earlier than the last successful Sync.
// Records, segments, checkpoints and the STORE file carry checksums: a torn
// tail is cut off at Open and reported in Stats().Recovery; other damage is
// ErrCorruption, never returned as data. A failed write or fsync is
// sticky: the store refuses writes (reads go on) until it is reopened.
//
// # Background services
//
// The checkpointer, the collector (compaction), the log shifter, under
// SyncPeriodic the syncer, and the expirer run under one supervision tree per store
// (BackgroundStats; Services and ServicesReport show the tree). They are
// not needed for correctness: with DisableBackground, or after
// StopBackground, writers flush and evict inline when memory is full, and
// Checkpoint and Compact can be called by hand.
//
// # Fault injection
//
// Programs that embed rskv can test their handling of its failures through
// two documented hooks, both in Options. The storage side is Options.FS:
// wrap the file system with package log/vfs/errorfs to fail, tear or count
// file operations, and use vfs.NewMem and its CrashClone for power loss. The
// service side is Options.ServiceFaults: a ServiceFaults makes a background
// service's steps fail or panic, to watch the supervisor restart it, back it
// off and give it up while the store keeps serving.
//
// # Read-only opens
//
// Options.ReadOnly opens an existing store for reading, like bbolt's and
// Badger's read-only modes: any number of read-only Stores, in this process
// and others, share a directory (a shared lock on its LOCK file), while a
// writer is refused with ErrLocked as long as one holds it, and they are
// refused while a writer does. Writes (Put, Delete, RMW, Checkpoint,
// Compact, StartBackground) return ErrReadOnly. Nothing in the directory
// changes: recovery happens in memory (a torn tail is not read, and is cut
// by the next read-write Open), no background service runs, and Close
// writes nothing. A read-only Store sees the data as it was at Open. A
// directory that holds no store is an error matching fs.ErrNotExist; a
// read-only Open never creates one.
//
// # Expiry
//
// PutTTL writes a key that expires ttl from now; Expire sets or removes an
// existing key's expiry and ExpiresAt reads it. Expiries are absolute times
// (Unix nanoseconds in the record), so they survive Close, crash and
// reopen. An expired key is absent for every read (Get, AppendValue, Has,
// Scan, ExpiresAt) and RMW sees it as not found; it still counts in Len
// until it is reclaimed, in memory by the expirer service (a sweep every
// second that deletes expired keys with a conditional tombstone, so a
// concurrent update wins) and on disk by compaction (which counts expired
// records as dead when it picks segments, and drops them). Put removes an
// expiry, RMW keeps it (like Redis SET and INCR). A key without an expiry
// pays one flag test on the read path.
//
// # Backups
//
// Backup writes a consistent point-in-time copy of the store to an
// io.Writer while reads and writes go on; Restore turns it into a new
// store in an absent or empty directory. The copy is the state at one
// moment: Backup freezes the log at a cut (no in-place update can race
// it) while it holds the batch and transaction commit lock, so each batch
// and transaction is wholly in or out. The stream is framed and
// checksummed (per chunk and whole); Restore refuses a truncated or damaged
// one with ErrCorruption; it builds the store beside dir and renames it into
// place only once the stream is verified, so dir is never left half
// restored, even by a crash. The header records
// what the copy is consistent with (log address, time, a replication
// index), the starting point for incremental backups.
//
// # Errors
//
// Errors match sentinels with errors.Is: ErrNotFound, ErrClosed,
// ErrAlreadyRunning, ErrEmptyKey, ErrKeyTooLarge, ErrValueTooLarge,
// ErrInvalidOptions, ErrCorruption, ErrLocked, ErrReadOnly, ErrConflict and
// ErrInvalidTTL. Messages say what was
// wrong and why (the option and its allowed range, the file and address of a
// damaged record).
//
// # Inside
//
// The package reads as a stack, each layer calling only the ones below:
//
//   - the API: Open and Close (store.go, lifecycle.go, readonly.go), the
//     single-key operations (ops.go, expiry.go), Scan (scan.go), batches and
//     transactions (batch.go, txn.go over the commit engine in commit.go),
//     Backup and Restore (backup.go), Options, Stats and errors;
//   - maintenance: checkpoints and recovery (checkpoint.go, recovery.go),
//     compaction (compact.go, deadbytes.go), read promotion and residency
//     (promote.go, residency.go), the background services (background.go,
//     expirer.go, faults.go) and the geometry (geometry.go);
//   - a key's versions (chain.go): the one chain walker and the one
//     conditional append (allocate, write the record, compare-and-swap it
//     into the index, on a lost race invalidate it and count its bytes
//     dead) that every writer above uses;
//   - the engine, in internal packages so that no user can break its
//     protocols: the hybrid log (internal/hlog) and the hash index
//     (internal/hashidx), with internal/epoch, internal/checkpoint,
//     internal/manifest and internal/fileformat (file names and headers).
//
// The public packages log and hashidx describe the log's and the index's
// formats and export only read-only pieces; log/vfs is the file-system
// interface (Options.FS).
//
// See docs/design.md and docs/durability.md in the repository for the
// design and what was verified.
package rskv
