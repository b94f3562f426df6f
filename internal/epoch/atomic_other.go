//go:build race || !amd64

package epoch

// release frees the slot with an atomic store (see plain_amd64.go).
func (h *Handle) release() { h.local.Store(0) }

// add updates the holder's own counter: a load and a store suffice, since
// only the holder writes it.
func (h *Handle) add(i int, n uint64) {
	c := &h.counters[i]
	c.Store(c.Load() + n)
}
