package hashidx

// Releasing old tables.
//
// A growth leaves the old table behind (grow.go). On linux a large table is
// a mapping off the Go heap (huge_linux.go), and touching it once unmapped
// faults the whole process, so it is unmapped only when nothing can reach
// it any more. Who can hold a pointer into an old table t after the growth
// that replaced it ended (x.t holds the new table, x.g is nil):
//
//   - An operation (Find, FindOrCreate, Prefetch) that loaded x.t before the
//     growth ended: tableFor may hand it t, and it may keep a Slot in t
//     until it is done with it. Such an operation finds t's words frozen
//     and retries on the new table, but it still reads t to learn that. The
//     index cannot see these readers; the caller runs them inside its
//     epoch-protected sections, and after the growth it bumps the epoch and
//     waits until every section entered before the bump is released
//     (FASTER's bump-with-action: the action here is ReleaseRetired). A
//     section entered after the bump loads x.t after the growth ended (the
//     bump's atomic add orders it), so it never sees t.
//   - A holder of Slots across unprotected waits (a multi-key commit's
//     locked entries): the caller serialises those holders with Grow (the
//     store's commitMu) and drains them like the sections above.
//   - A growth's helpers: g.old is t, but a helper only reads t for a chunk
//     that is not done, and when the growth ended every chunk was done.
//   - A walk (Range, Stats, WriteSnapshot), which may run outside any epoch
//     section and take long (a snapshot writes the table to disk): each
//     holds walkMu shared from before it loads x.t until it stops reading,
//     and ReleaseRetired takes walkMu exclusively, so it unmaps nothing a
//     walk reads.
//
// Retired and ReleaseRetired split the action in two so that a caller that
// drains through its epoch can release precisely what it drained: it reads
// Retired after its wait, and releases up to that, even if another growth
// retires a table meanwhile (that one waits for its own drain).

// Retired returns the number of tables retired so far: every growth retires
// the table it replaced. A caller that read n after a growth ended and after
// every goroutine that could have seen an old table was drained passes n to
// ReleaseRetired.
func (x *Index) Retired() int {
	x.retireMu.Lock()
	defer x.retireMu.Unlock()
	return x.nRetire
}

// ReleaseRetired frees the first n retired tables (those Retired counted
// when it returned n) that are still held: unmaps them now where they are
// mappings, drops them for the GC otherwise. The caller must make sure that
// no goroutine can still reach those tables except through the index's own
// walks (see the comment above); it must not hold walkMu's readers, i.e.
// not call it from inside a Range callback. It returns the number of bytes
// unmapped.
func (x *Index) ReleaseRetired(n int) int64 {
	x.walkMu.Lock()
	defer x.walkMu.Unlock()
	x.retireMu.Lock()
	defer x.retireMu.Unlock()
	var freed int64
	keep := x.retired[:0]
	for _, r := range x.retired {
		if r.seq > n {
			keep = append(keep, r)
			continue
		}
		freed += r.t.release()
	}
	clear(x.retired[len(keep):])
	x.retired = keep
	return freed
}

// retire records old, just replaced by a growth, for ReleaseRetired.
func (x *Index) retire(old *table) {
	x.retireMu.Lock()
	defer x.retireMu.Unlock()
	x.nRetire++
	x.retired = append(x.retired, retiredTable{t: old, seq: x.nRetire})
}

// MappedBytes returns the bytes of buckets the index holds mapped off the
// Go heap: its table's and those of retired tables not yet released (0 off
// linux and for tables under a huge page).
func (x *Index) MappedBytes() int64 {
	x.walkMu.RLock()
	defer x.walkMu.RUnlock()
	if x.closed {
		return 0
	}
	x.retireMu.Lock()
	defer x.retireMu.Unlock()
	n := x.t.Load().mappedBytes()
	for _, r := range x.retired {
		n += r.t.mappedBytes()
	}
	return n
}

// Close unmaps every table of the index, the current one included. The
// caller must make sure that no goroutine uses the index afterwards except
// for Buckets, OverflowBuckets and WantsGrowth (which read no buckets) and
// the walks, which find a closed index empty: a lookup would fault. It is
// idempotent.
func (x *Index) Close() {
	if x == nil {
		return
	}
	x.walkMu.Lock()
	defer x.walkMu.Unlock()
	if x.closed {
		return
	}
	x.closed = true
	x.retireMu.Lock()
	defer x.retireMu.Unlock()
	for _, r := range x.retired {
		r.t.release()
	}
	x.retired = nil
	x.t.Load().release()
}

// release frees t's buckets if they are mapped and returns the bytes
// unmapped. The table's buckets must not be read afterwards (its slice
// header stays, so Buckets still answers).
func (t *table) release() int64 {
	n := t.mappedBytes()
	if t.mapped {
		freeBuckets(t.buckets)
		t.mapped = false
	}
	return n
}
