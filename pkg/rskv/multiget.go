package rskv

import (
	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/hashidx"
)

// multiGetGroup is how many keys MultiGet looks up together: enough
// independent index and record loads for the processor to overlap their
// cache misses, few enough that they fit its reorder window.
const multiGetGroup = 16

// MultiGet appends the values of keys to dst, one after the other, and
// returns the extended slice with ends: ends[i] is the end in dst of key i's
// value (its start is ends[i-1], or len(dst) as passed, for i = 0), or -1
// if key i has no value. ends is appended to and returned the same way, so
// that a caller reusing both buffers allocates nothing for keys held in
// memory.
//
// The result is what calling AppendValue for each key in order would
// return, but faster for many keys: keys are looked up in groups, each
// group under one epoch protection, first all their index buckets, then all
// their records, so that the cache misses of different keys overlap instead
// of following each other. It is not a snapshot: another goroutine's write
// may land between two keys (use View for that). A bad key (empty or too
// large) fails the whole call with its error and nothing appended.
func (s *Store) MultiGet(dst []byte, keys [][]byte, ends []int) ([]byte, []int, error) {
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return dst, ends, err
		}
	}
	var hs [multiGetGroup]uint64
	var es [multiGetGroup]hashidx.Entry
	var found [multiGetGroup]bool
	for first := 0; first < len(keys); first += multiGetGroup {
		group := keys[first:min(first+multiGetGroup, len(keys))]
		for j, k := range group {
			hs[j] = hashKey(k)
			s.index.Prefetch(hs[j]) // the group's bucket misses overlap
		}
		g, err := s.protect()
		if err != nil {
			return dst, ends, err
		}
		g.Count(cntGet)
		for j := range group {
			_, es[j], found[j] = s.index.Find(hs[j])
		}
		// Then the records' misses: each record's lines, fetched before
		// any is read.
		head := s.log.Head()
		for j := range group {
			if a := es[j].Address(); found[j] && a >= head && !es[j].Locked() {
				s.log.Mem(a).Prefetch()
			}
		}
		for j, k := range group {
			if !found[j] {
				ends = append(ends, -1)
				continue
			}
			if !es[j].Locked() {
				if addr, r, inMem := s.walkMem(k, es[j].Address(), noLimit); inMem {
					var ok bool
					if dst, ok = s.memValue(dst, r, addr); ok {
						ends = append(ends, len(dst))
					} else {
						ends = append(ends, -1)
					}
					continue
				} else if addr < s.log.Begin() || addr == 0 {
					ends = append(ends, -1)
					continue
				}
			}
			// On disk, or locked by a commit: the one read path, which may
			// wait unprotected, so leave the protection first.
			g.Release()
			v, err := s.read(dst, k, nil)
			switch {
			case err == nil:
				dst = v
				ends = append(ends, len(dst))
			case errors.Is(err, ErrNotFound):
				ends = append(ends, -1)
			default:
				return dst, ends, err
			}
			if g, err = s.protect(); err != nil {
				return dst, ends, err
			}
		}
		g.Release()
	}
	return dst, ends, nil
}
