// Package epoch is rskv's safe-memory-reclamation scheme: epoch protection in
// the style of FASTER's LightEpoch, adapted to goroutines.
//
// An operation that reads or writes shared log memory first calls
// [Manager.Protect], which records the current global epoch in a slot, and
// calls [Handle.Release] when it is done. A maintenance step that changes what
// memory may be touched (moving the read-only or head address of the log, or
// retiring a segment file) first publishes the change, then calls
// [Manager.Bump] and [Manager.WaitSafe]: once WaitSafe returns, every operation
// that could have seen the old state has finished, so the page frame can be
// reused, the page flushed, or the file closed.
//
// Go has no thread-local storage, so slots are handed out by a sync.Pool,
// which keeps them per-P: an operation usually gets the slot its processor
// used last, already in its cache, and touches no shared cache line other
// than reading the global epoch. Slots live in a registry for the lifetime of
// the Manager; a handle dropped by the pool at a garbage collection returns
// its slot to a free list through a runtime cleanup, so the registry stays as
// small as the peak number of concurrently protected goroutines.
//
// Each slot also carries a few counters that only its current holder updates.
// Summing them gives operation statistics without a shared counter on the hot
// path.
package epoch
