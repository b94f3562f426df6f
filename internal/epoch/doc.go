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
// Go has no thread-local storage, so a goroutine finds a slot by a hint, the
// address of its own stack, and takes it with one compare-and-swap that also
// records the epoch: a goroutine calling again usually gets the slot it used
// last, already in its processor's cache, and touches no shared cache line
// other than reading the global epoch and the registry. A slot held by
// someone else sends it to the next; when all are held the registry doubles.
// Slots are never freed, so the registry is as large as the peak number of
// concurrently protected sections (rounded up to a power of two). Release
// is a plain store on amd64 (plain_amd64.go).
//
// Each slot also carries a few counters that only its current holder updates.
// Summing them gives operation statistics without a shared counter on the hot
// path.
package epoch
