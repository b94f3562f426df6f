package hlog

import (
	"maps"
	"path/filepath"
	"slices"

	"github.com/cockroachdb/errors"
)

// DeltaRedo says what recovery found in the delta log and wrote back.
type DeltaRedo struct {
	// Generations is the number of delta files found; Batches and Images
	// the batches and images applied, Bytes the image bytes written.
	Generations int
	Batches     int64
	Images      int64
	Bytes       int64
	// End is the tail the newest applied batch covered (0: none).
	End uint64
	// TornFile and TornAt locate a torn batch cut off the newest delta
	// file ("" if none).
	TornFile string
	TornAt   int64
}

// redoDelta writes the delta log back into the segment files (see
// delta.go), then deletes the delta files. Only complete batches are
// applied, in order; images below begin, or below the newest batch's
// flushed address (the segment files hold newer, final images there), are
// skipped. A damaged batch at the end of the newest generation, with no
// valid batch after it, is a torn tail; any other damage is corruption. A
// crash during the redo leaves the delta files in place: the redo runs
// again, writing the same images.
func (l *Log) redoDelta(begin uint64) (DeltaRedo, error) {
	var rep DeltaRedo
	d := l.delta
	gens, err := deltaGens(l.cfg.FS, l.cfg.Dir)
	if err != nil || len(gens) == 0 {
		return rep, err
	}
	if l.cfg.ReadOnly {
		// Delta files outlive only a crash (Close folds them in), and
		// redoing them writes the segments: a read-only open cannot.
		return rep, errors.Wrapf(ErrReadOnly, "rskv/log: %s was not closed cleanly: its delta log (%d files) must be redone into the segments by one read-write open first",
			l.cfg.Dir, len(gens))
	}
	rep.Generations = len(gens)
	d.gen = gens[len(gens)-1] + 1
	type genFrames struct {
		r    *deltaReader
		offs []int64
	}
	var all []genFrames
	defer func() {
		for _, g := range all {
			_ = g.r.f.Close()
		}
	}()
	var base, flushed, seq uint64
	var buf []byte
	for i, gen := range gens {
		last := i == len(gens)-1
		r, err := openDelta(l.cfg.FS, l.cfg.Dir, gen, l.cfg.StoreID, l.cfg.PageBits, l.cfg.SegmentBits)
		if err != nil {
			if last && errors.Is(err, ErrCorruption) {
				// A crash while creating the newest file: no batch in it
				// was ever synced, if it has no room for one.
				if st, serr := l.cfg.FS.Stat(filepath.Join(l.cfg.Dir, DeltaName(gen))); serr == nil && st.Size() <= deltaHeaderSize {
					continue
				}
			}
			return rep, err
		}
		g := genFrames{r: r}
		all = append(all, g)
		for off := int64(deltaHeaderSize); off < r.size; {
			f, b, why, err := r.frameAt(off, buf)
			buf = b
			if err != nil {
				return rep, err
			}
			if why == "" && f.seq <= seq {
				why = "batch out of sequence"
			}
			if why != "" {
				if !last {
					return rep, corruptf("delta log %s: damaged batch at offset %d (%s), and a newer generation exists", r.name, off, why)
				}
				if o, ok, err := r.validAfter(off); err != nil {
					return rep, err
				} else if ok {
					return rep, corruptf("delta log %s: damaged batch at offset %d (%s), but a valid batch follows at offset %d", r.name, off, why, o)
				}
				rep.TornFile, rep.TornAt = r.name, off
				l.cfg.Logger.Warn("rskv: cutting off torn delta log tail", "file", r.name, "offset", off, "reason", why)
				break
			}
			seq = f.seq
			base, flushed = max(base, f.base), max(flushed, f.flushed)
			all[len(all)-1].offs = append(all[len(all)-1].offs, off)
			off += frameHeaderSize + int64(len(f.payload))
		}
	}
	d.seq = seq
	floor := max(flushed, begin)
	touched := map[uint64]bool{}
	lo, hi := ^uint64(0), uint64(0)
	// The images are applied to page buffers (each read from its segment
	// once) and each page is written once at the end, from its first to
	// its last patched byte: one system call per image made the redo of
	// 25 MiB of the churn's delta log take seconds (BenchmarkRecoveryRedo).
	// The images lie within the mutable region the crash left, so the
	// buffers stay within the store's memory.
	type patched struct {
		buf      []byte
		from, to uint64 // patched span, offsets in the page
	}
	pages := map[uint64]*patched{}
	for _, g := range all {
		if g.r.gen < base {
			continue
		}
		for _, off := range g.offs {
			f, b, why, err := g.r.frameAt(off, buf)
			buf = b
			if err != nil {
				return rep, err
			}
			if why != "" {
				return rep, corruptf("delta log %s: batch at offset %d changed while recovering (%s)", g.r.name, off, why)
			}
			rep.Batches++
			rep.End = max(rep.End, f.tail)
			err = f.entries(l.pageSize, func(addr uint64, img []byte) error {
				if addr+uint64(len(img)) <= floor {
					return nil
				}
				if addr < floor {
					img, addr = img[floor-addr:], floor
				}
				seg := l.dev.segmentOf(addr)
				if l.dev.table.Load().get(seg) == nil {
					if _, err := l.dev.create(seg); err != nil {
						return err
					}
					l.dev.unblank(seg)
				}
				page, off := addr>>l.pageBits, addr&l.pageMask
				p := pages[page]
				if p == nil {
					p = &patched{buf: make([]byte, l.pageSize), from: l.pageSize}
					// limit 0: read the file, never a mapping.
					if _, err := l.dev.readAt(p.buf, page<<l.pageBits, 0); err != nil {
						return err
					}
					pages[page] = p
				}
				copy(p.buf[off:], img)
				p.from, p.to = min(p.from, off), max(p.to, off+uint64(len(img)))
				touched[seg] = true
				lo, hi = min(lo, seg), max(hi, seg)
				rep.Images++
				rep.Bytes += int64(len(img))
				return nil
			})
			if err != nil {
				return rep, err
			}
		}
	}
	for _, page := range slices.Sorted(maps.Keys(pages)) {
		p := pages[page]
		if err := l.dev.writeAt(p.buf[p.from:p.to], page<<l.pageBits+p.from); err != nil {
			return rep, err
		}
	}
	if len(touched) > 0 {
		for s := lo; s <= hi; s++ {
			if err := l.dev.sync(s); err != nil {
				return rep, err
			}
		}
		present, _ := l.dev.segmentsPresent()
		newest := present[len(present)-1]
		for s := lo; s <= hi; s++ {
			if s < newest {
				// A later segment exists (created durably): say that the
				// log goes on into it.
				if err := l.dev.writeMark(s, (s+1)<<l.dev.segmentBits|markContinues); err != nil {
					return rep, err
				}
			} else {
				m, err := l.dev.readMark(s)
				if err != nil {
					return rep, err
				}
				if m&markContinues == 0 && m < rep.End {
					if err := l.dev.writeMark(s, rep.End); err != nil {
						return rep, err
					}
				}
			}
			if err := l.dev.sync(s); err != nil {
				return rep, err
			}
		}
	}
	// Everything is in the segment files now.
	for _, g := range all {
		_ = g.r.f.Close()
	}
	all = nil
	for _, gen := range gens {
		if err := l.cfg.FS.Remove(filepath.Join(l.cfg.Dir, DeltaName(gen))); err != nil {
			return rep, errors.Wrapf(err, "remove delta log %s", DeltaName(gen))
		}
	}
	if err := l.cfg.FS.SyncDir(l.cfg.Dir); err != nil {
		return rep, errors.Wrapf(err, "sync directory %s", l.cfg.Dir)
	}
	return rep, nil
}
