package engines

import (
	"math/bits"

	"github.com/rskv-go/rskv/internal/ycsb"
	"github.com/rskv-go/rskv/internal/ycsb/rskvdb"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// RSKV returns the rskv engine: default Options except MemorySize, which is
// the budget, and IndexBuckets, sized for the record count.
func RSKV() Engine {
	return Engine{
		Name:       "rskv",
		Module:     rskvModule,
		Persistent: true,
		Durability: "default SyncPeriodic: durable within SyncInterval (100ms) while the background services run; " +
			"everything is durable at Sync, Checkpoint and Close",
		Memory: "MemorySize = budget (the in-memory hybrid log); the hash index is sized for the key count " +
			"(one 64-byte bucket per 4 keys) and comes on top, as FASTER's index does",
		Operations: "Read = Store.AppendValue; Update = Store.Put; RMW = Store.RMW (atomic; the new value is built " +
			"in the caller's buffer, so it allocates nothing)",
		Open: openRSKV,
	}
}

// indexBuckets returns one bucket per four records, a power of two within
// the store's limits.
func indexBuckets(records uint64) int64 {
	want := max(records/4, 1024)
	b := int64(1) << (64 - bits.LeadingZeros64(want-1))
	return min(b, 1<<26)
}

func openRSKV(s Setup) (ycsb.DB, error) {
	return rskvdb.Open(s.Dir, &rskv.Options{
		MemorySize:   s.Budget,
		IndexBuckets: indexBuckets(s.Records),
	})
}

// RSKVNoBackground returns rskv with DisableBackground: no syncer, log
// shifter, checkpointer or collector. It is not part of All: its durability
// is weaker than the peers', and it exists to measure what the background
// services cost (run it with -engines rskv,rskv-nobg,...).
func RSKVNoBackground() Engine {
	e := RSKV()
	e.Name = "rskv-nobg"
	e.Durability = "DisableBackground: SyncPeriodic has no syncer to act, so writes are durable only at Sync, " +
		"Checkpoint, Close or when a full memory flushes pages; a process crash loses the in-memory tail " +
		"(weaker than the peers: shown only to measure the background services)"
	e.Open = func(s Setup) (ycsb.DB, error) {
		return rskvdb.Open(s.Dir, &rskv.Options{
			MemorySize:        s.Budget,
			IndexBuckets:      indexBuckets(s.Records),
			DisableBackground: true,
		})
	}
	return e
}

// RSKVMmap returns rskv with MmapReads: records below the head are read
// through memory maps of the segment files rather than a pread each. Same
// durability as rskv; a device error during a mapped read is returned as an
// error too (the fault is caught), and mapped pages count in the process's
// RSS as file pages.
func RSKVMmap() Engine {
	e := RSKV()
	e.Name = "rskv-mmap"
	e.Memory += "; reads below the head through read-only mmaps of the segment files (MmapReads)"
	e.Operations += "; cold reads copy from a mapping instead of calling pread"
	e.Open = func(s Setup) (ycsb.DB, error) {
		return rskvdb.Open(s.Dir, &rskv.Options{
			MemorySize:   s.Budget,
			IndexBuckets: indexBuckets(s.Records),
			MmapReads:    true,
		})
	}
	return e
}

// RSKVGrow returns rskv opened without an index size: the index starts at
// the default 1 Ki buckets (64 KiB) and doubles online while the load runs,
// the way a store that was not told its key count grows. Same durability
// and budget as rskv; it exists to show what online index growth costs
// against an index sized up front (run it with -engines rskv,rskv-grow,...).
func RSKVGrow() Engine {
	e := RSKV()
	e.Name = "rskv-grow"
	e.Memory = "MemorySize = budget (the in-memory hybrid log); the hash index starts at the default 1 Ki " +
		"buckets (64 KiB) and doubles online as keys arrive (about one bucket per four keys at the end), on top"
	e.Open = func(s Setup) (ycsb.DB, error) {
		return rskvdb.Open(s.Dir, &rskv.Options{MemorySize: s.Budget})
	}
	return e
}
