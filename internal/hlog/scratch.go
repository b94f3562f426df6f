package hlog

// scratch is a large work buffer of the log's maintenance (the delta
// batch, the truncation's chunk) that gives its memory back to the OS when
// a big job is done.
//
// Why not a Go slice: a store's live heap is mostly its page frames and its
// index, and the collector lets the heap grow to twice the live heap before
// it collects, so a buffer dropped after use stays in the process's memory
// for a long time, and a buffer kept for reuse stays there for good. Either
// way it is memory outside MemorySize, taken from the page cache that holds
// the log's files (what a container's limit makes scarce). A scratch buffer
// lives in an anonymous mapping instead (where the platform has them and
// the race detector is off: scratch_linux.go), and release returns its pages
// past the first ones to the OS: a later use faults zero pages back in.
//
// A buffer that must grow gets a new, larger mapping; the old ones stay
// mapped until free, so a slice of an earlier generation never points into
// unmapped memory. Growth is rare (a batch reaches its largest size once),
// so they cost address space, not memory, once released.
type scratch struct {
	buf  []byte   // the current mapping (or Go slice), len = cap
	old  [][]byte // earlier generations, unmapped by free
	heap bool     // buf is a Go slice (no mapping available)
}

// scratchKeep is the memory a released scratch buffer keeps: small batches
// reuse it without page faults.
const scratchKeep = 1 << 20

// grow returns b with a capacity of at least n and its contents kept:
// b itself if it has room, else b copied into the buffer (grown if need
// be).
func (s *scratch) grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	if len(s.buf) < n {
		nb, ok := mapScratch(n)
		if !ok {
			nb = make([]byte, n)
		}
		if s.buf != nil && !s.heap {
			s.old = append(s.old, s.buf)
		}
		s.buf, s.heap = nb, !ok
	}
	copy(s.buf, b)
	return s.buf[:len(b)]
}

// bytes returns the whole buffer, of at least n bytes (its contents are
// not kept when it grows).
func (s *scratch) bytes(n int) []byte {
	b := s.grow(nil, n)
	return b[:cap(b)]
}

// release gives the buffer's memory past scratchKeep back to the OS (its
// contents there read as zeros afterwards), and drops the earlier
// generations' memory too.
func (s *scratch) release() {
	if s.heap {
		return
	}
	if len(s.buf) > scratchKeep {
		releaseScratch(s.buf[scratchKeep:])
	}
	for _, o := range s.old {
		releaseScratch(o)
	}
}

// free unmaps the buffer. Nothing may use it after.
func (s *scratch) free() {
	if !s.heap && s.buf != nil {
		unmapScratch(s.buf)
	}
	for _, o := range s.old {
		unmapScratch(o)
	}
	s.buf, s.old, s.heap = nil, nil, false
}
