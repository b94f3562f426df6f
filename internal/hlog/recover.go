package hlog

import (
	"encoding/binary"
	"path/filepath"

	"github.com/cockroachdb/errors"
)

// RecoveryReport says what Recover found.
type RecoveryReport struct {
	// From and End delimit the log replayed: records and, at its end, the
	// zero padding of a page. The log continues at End.
	From, End uint64
	// Records counts the valid records replayed; BytesScanned the log bytes.
	Records      int64
	BytesScanned int64
	// TornAt is the address of a torn tail that was cut off (0: none), and
	// TornBytes the bytes removed.
	TornAt    uint64
	TornBytes int64
	// Removed lists files deleted as debris: blank segments from a crash
	// while creating one, segments below begin from a crash during
	// compaction.
	Removed []string
	// Delta says what the redo of the delta log did.
	Delta DeltaRedo
}

// noLimit is the read limit during recovery, when no segment is mapped.
const noLimit = ^uint64(0)

// recoveryChunk is the read size of the recovery scan.
const recoveryChunk = 1 << 20

// Recover scans the log on disk from address from to the end of its valid
// data, calling fn for each valid record (records flagged invalid are
// skipped). It classifies the end of the data:
//
//   - the data simply ends, or ends in a damaged record with nothing valid
//     after it, in the newest segment and above its durable mark: a torn
//     tail. The damaged bytes are cut off and reported.
//   - anything else — damage below the durable mark or below durableHint (a
//     point a checkpoint proved durable), valid records after the damage, a
//     segment missing or cut short while later ones exist, a newest segment
//     missing or emptied after the log had moved into it — is corruption,
//     returned as an error marked ErrCorruption that names the file and
//     address; nothing is cut.
//
// Segments wholly below begin are debris of an interrupted compaction and are
// deleted. Before all that, the delta log is redone into the segment files
// (see redoDelta). Recover runs before Start, alone.
//
// On a read-only log (Config.ReadOnly) Recover changes nothing on disk: the
// torn tail is reported but not cut (the log ends before it in memory),
// debris is left in place and not listed in Removed.
func (l *Log) Recover(begin, from, durableHint uint64, fn func(DiskRecord) error) (RecoveryReport, error) {
	rep := RecoveryReport{From: from, End: from}
	// First the delta log: it makes the segment files whole up to the last
	// sync, as if the mutable region had been flushed then.
	var err error
	if rep.Delta, err = l.redoDelta(begin); err != nil {
		return rep, err
	}
	if debris := l.dev.detachBelow(begin); len(debris) > 0 {
		// Read-only: removeDetached only closes them; they stay on disk.
		if _, err := l.dev.removeDetached(debris); err != nil {
			return rep, err
		}
		for _, d := range debris {
			if !l.cfg.ReadOnly {
				rep.Removed = append(rep.Removed, SegmentName(d.index))
			}
		}
	}
	present, _ := l.dev.segmentsPresent()
	var lastSeg uint64
	if len(present) > 0 {
		lastSeg = present[len(present)-1]
		for s := l.dev.segmentOf(begin); s <= lastSeg; s++ {
			if l.dev.table.Load().get(s) == nil {
				return rep, corruptf("segment %s is missing (the log runs from %s to %s)",
					SegmentName(s), SegmentName(l.dev.segmentOf(begin)), SegmentName(lastSeg))
			}
		}
	}
	mark := uint64(0)
	if len(present) > 0 {
		if mark, err = l.dev.readMark(lastSeg); err != nil {
			return rep, err
		}
		if mark&markContinues != 0 {
			return rep, corruptf("segment %s is missing or empty, but %s was sealed when the log moved on into it",
				SegmentName(lastSeg+1), SegmentName(lastSeg))
		}
	}
	floor := max(mark, durableHint)
	// A newest segment without data or a valid header is debris of a crash
	// while creating it (the check above ruled out one the log had moved
	// into): remove it.
	for _, p := range l.dev.blank {
		if l.cfg.ReadOnly {
			continue // not read (openSegments left it out), left on disk
		}
		if err := l.cfg.FS.Remove(p); err != nil {
			return rep, errors.Wrapf(err, "remove blank segment %s", p)
		}
		rep.Removed = append(rep.Removed, filepath.Base(p))
	}
	l.dev.blank = nil

	if from > begin {
		// Replay starts after a checkpoint's start: the log must reach it.
		seg := l.dev.segmentOf(from - 1)
		idx, sizes := l.dev.segmentsPresent()
		var size int64
		for k, i := range idx {
			if i == seg {
				size = sizes[k]
			}
		}
		if size <= l.dev.fileOffset(from-1) {
			return rep, corruptf("the log in %s ends before %#x, where replay starts (a checkpoint covers the log up to there)",
				SegmentName(seg), from)
		}
	}
	cur, lastEnd := from, from
	buf := make([]byte, recoveryChunk)
	var stopWhy string // empty: data ended cleanly
scan:
	for len(present) > 0 && l.dev.segmentOf(cur) <= lastSeg {
		seg := l.dev.segmentOf(cur)
		segEnd := (seg + 1) << l.dev.segmentBits
		want := min(uint64(len(buf)), segEnd-cur)
		n, err := l.dev.readAt(buf[:want], cur, noLimit)
		if err != nil {
			return rep, err
		}
		if n == 0 {
			if seg < lastSeg {
				return rep, corruptf("segment %s ends at %#x but later segments exist (it was synced whole before them)",
					SegmentName(seg), cur)
			}
			break
		}
		chunk := buf[:n]
		off := uint64(0)
		for off < uint64(len(chunk)) {
			addr := cur + off
			room := l.pageSize - addr&l.pageMask
			rec, st, why := parseRecord(chunk[off:], room)
			switch st {
			case parsedOK:
				if rec.Info&FlagInvalid == 0 {
					rec.Address = addr
					if err := fn(rec); err != nil {
						return rep, err
					}
					rep.Records++
				}
				off += rec.Size
				lastEnd = addr + rec.Size
			case parsedEmpty:
				// Skip the unused end of the page, as far as this chunk
				// holds it (the next chunk checks the rest), once it is
				// seen to be one.
				rest := min(room, uint64(len(chunk))-off)
				if why := notEmpty(chunk[off:off+rest], addr, l.pageMask); why != "" {
					cur = addr
					stopWhy = why
					break scan
				}
				off += rest
			case parsedShort:
				if off == 0 && uint64(n) == want && len(chunk) >= RecordHeaderSize {
					// The chunk is full but the record is larger (pages, and
					// so records, may be larger than recoveryChunk): read it
					// whole. parseRecord checked that it fits its page.
					if size := sizeFromLengths(binary.LittleEndian.Uint64(chunk[16:])); size > uint64(len(buf)) {
						buf = make([]byte, size)
						cur = addr
						continue scan
					}
				}
				if off == 0 {
					// A whole chunk did not hold the record: the data ends
					// inside it.
					cur = addr
					stopWhy = "record cut short"
					break scan
				}
				// Read again from the record: count what was scanned.
				rep.BytesScanned += int64(off)
				cur = addr
				continue scan
			default:
				cur = addr
				stopWhy = why
				break scan
			}
		}
		cur += off
		rep.BytesScanned += int64(len(chunk))
		if uint64(n) < want {
			if seg < lastSeg {
				return rep, corruptf("segment %s ends at %#x but later segments exist (it was synced whole before them)",
					SegmentName(seg), cur)
			}
			break
		}
	}
	// The scan stopped at cur: at a damaged record (a record boundary), or
	// where the data ends. Between the last record (lastEnd) and cur there
	// is only verified zero padding at the end of a page. A flush writes
	// all of that padding, and may record the page's end as durable, when
	// it syncs a tail that a writer has just carried past the end of the
	// page; so if the data ends at the end of such padding, the log
	// continues there, not in the padding, which may lie below the durable
	// mark. (Padding cut short by a crash was never synced.)
	rep.End = cur
	if stopWhy == "" && (cur == lastEnd || cur&l.pageMask != 0) {
		rep.End = lastEnd
	}
	if len(present) > 0 {
		// The newest segment may hold no valid record: a crash right after
		// the log moved into it, or a torn tail cut back to its header.
		// The log continues there, not in the padding at the end of the
		// segment before: that one was synced whole and sealed, and data
		// written into it now, if torn by a crash, would lie before a later
		// segment and read as corruption.
		rep.End = max(rep.End, lastSeg<<l.dev.segmentBits)
	}
	if stopWhy == "" {
		if cur < floor {
			return rep, corruptf("the log ends at %#x in %s but data up to %#x was durable",
				cur, SegmentName(l.dev.segmentOf(max(cur, 1)-1)), floor)
		}
		return rep, nil
	}
	// The data ends in a damaged record at cur. Torn tail, or corruption?
	seg := l.dev.segmentOf(cur)
	if cur < floor {
		return rep, corruptf("damaged record at %#x in %s (%s), below the durable point %#x",
			cur, SegmentName(seg), stopWhy, floor)
	}
	if seg < lastSeg {
		return rep, corruptf("damaged record at %#x in %s (%s), and later segments exist",
			cur, SegmentName(seg), stopWhy)
	}
	if later, ok, err := l.findValidAfter(cur); err != nil {
		return rep, err
	} else if ok {
		return rep, corruptf("damaged record at %#x in %s (%s), but a valid record follows at %#x",
			cur, SegmentName(seg), stopWhy, later)
	}
	// Cut the newest segment at the damage (cur is in it; before cur, after
	// the last record, there is only the zeroed end of a page).
	_, sizes := l.dev.segmentsPresent()
	fileEnd := sizes[len(sizes)-1]
	rep.TornAt = cur
	rep.TornBytes = fileEnd - l.dev.fileOffset(cur)
	if l.cfg.ReadOnly {
		// Leave the file as it is: the log ends at cur in memory, so the
		// torn bytes are never read. A read-write open cuts them later.
		l.cfg.Logger.Warn("rskv: ignoring torn log tail (read-only: not cut)",
			"segment", SegmentName(seg), "address", cur, "reason", stopWhy, "bytes", rep.TornBytes)
		return rep, nil
	}
	l.cfg.Logger.Warn("rskv: cutting off torn log tail",
		"segment", SegmentName(seg), "address", cur, "reason", stopWhy, "bytes", rep.TornBytes)
	if err := l.dev.truncate(cur); err != nil {
		return rep, err
	}
	return rep, nil
}

// findValidAfter searches the rest of addr's segment file for any valid
// record at an 8-byte aligned address after addr: evidence that the damage at
// addr is not a torn tail.
func (l *Log) findValidAfter(addr uint64) (uint64, bool, error) {
	seg := l.dev.segmentOf(addr)
	segEnd := (seg + 1) << l.dev.segmentBits
	buf := make([]byte, recoveryChunk)
	var rec []byte
	for start := addr + 8; start < segEnd; {
		want := min(uint64(len(buf)), segEnd-start)
		n, err := l.dev.readAt(buf[:want], start, noLimit)
		if err != nil {
			return 0, false, err
		}
		for off := 0; off+8 <= n; off += 8 {
			if buf[off+7] != byte(recordMarker) {
				continue // cheap filter: the info word's top byte
			}
			a := start + uint64(off)
			if _, rec, err = l.ReadRecord(a, rec); err == nil {
				return a, true, nil
			} else if !errors.Is(err, ErrCorruption) {
				return 0, false, err
			}
		}
		if uint64(n) < want {
			return 0, false, nil
		}
		start += uint64(n)
	}
	return 0, false, nil
}
