package hlog

// scanChunk is the read size of a scan of the on-disk part of the log.
const scanChunk = 256 << 10

// ScanItem is one record yielded by a Scanner. Key and Value are the
// scanner's own buffers, valid until the next call to Next.
type ScanItem struct {
	Address uint64
	Info    uint64
	Size    uint64
	Key     []byte
	Value   []byte
}

// Tombstone reports whether the record marks a deletion.
func (it *ScanItem) Tombstone() bool { return it.Info&FlagTombstone != 0 }

// Scanner reads the records of an address range in log order, from memory
// where the range is resident and from the segment files below the head.
//
// The range must hold only complete records: its end must be at most the
// safe read-only address, or a tail address sampled before an epoch bump the
// caller waited out (every record allocated below it is then written). Each
// call to Next must be made under epoch protection; the caller may release
// and re-protect between calls.
type Scanner struct {
	l        *Log
	cur, end uint64

	chunk     []byte // disk data read ahead
	chunkAddr uint64
	chunkLen  int

	key, value []byte
}

// NewScanner returns a scanner over [from, to).
func (l *Log) NewScanner(from, to uint64) *Scanner {
	return &Scanner{l: l, cur: from, end: to}
}

// Position returns the address of the next record to be read.
func (s *Scanner) Position() uint64 { return s.cur }

// Next returns the next record, including tombstones and records flagged
// invalid (the caller filters), or ok=false at the end of the range.
func (s *Scanner) Next() (item ScanItem, ok bool, err error) {
	l := s.l
	for s.cur < s.end {
		s.cur = max(s.cur, l.Begin())
		if s.cur >= s.end {
			break
		}
		room := l.pageSize - s.cur&l.pageMask
		if s.cur >= l.Head() {
			r := l.Mem(s.cur)
			info := r.Info()
			if info == 0 {
				s.cur += room
				continue
			}
			size := r.Size()
			s.key = append(s.key[:0], r.Key()...)
			s.value = r.AppendValue(s.value[:0], s.cur < l.SafeReadOnly())
			item = ScanItem{Address: s.cur, Info: info, Size: size, Key: s.key, Value: s.value}
			s.cur += size
			return item, true, nil
		}
		rec, st, why, err := s.fromDisk(room)
		if err != nil {
			return item, false, err
		}
		switch st {
		case parsedOK:
			s.key = append(s.key[:0], rec.Key...)
			s.value = append(s.value[:0], rec.Value...)
			item = ScanItem{Address: s.cur, Info: rec.Info, Size: rec.Size, Key: s.key, Value: s.value}
			s.cur += rec.Size
			return item, true, nil
		case parsedEmpty:
			s.cur += room
		default:
			return item, false, corruptf("record at %#x in %s: %s", s.cur, SegmentName(l.dev.segmentOf(s.cur)), why)
		}
	}
	s.releaseChunk()
	return item, false, nil
}

// releaseChunk gives the scanner's read-ahead buffer to the log for the
// next scanner, at the end of the range: the scans of compaction, the
// residency copy and checkpoints come one after another, and a buffer each
// (up to a page) would be garbage that a heap made mostly of page frames
// and index collects late (the collector's goal is twice the live heap).
func (s *Scanner) releaseChunk() {
	if s.chunk == nil {
		return
	}
	c := s.chunk
	s.chunk, s.chunkAddr, s.chunkLen = nil, 0, 0
	s.l.spareChunk.Store(&c)
}

// chunkFor returns a read-ahead buffer of at least want bytes: the log's
// spare one if it is large enough, else a new one.
func (s *Scanner) chunkFor(want uint64) []byte {
	if p := s.l.spareChunk.Swap(nil); p != nil && uint64(cap(*p)) >= want {
		return (*p)[:cap(*p)]
	}
	return make([]byte, max(want, scanChunk))
}

// fromDisk parses the record at s.cur from the read-ahead buffer, refilling
// it as needed.
func (s *Scanner) fromDisk(room uint64) (DiskRecord, parseStatus, string, error) {
	l := s.l
	for attempt := 0; ; attempt++ {
		if s.cur >= s.chunkAddr && s.cur < s.chunkAddr+uint64(s.chunkLen) {
			rec, st, why := parseRecord(s.chunk[s.cur-s.chunkAddr:s.chunkLen], room)
			if st != parsedShort {
				return rec, st, why, nil
			}
			if attempt > 0 {
				return rec, parsedBad, "record cut short", nil
			}
		}
		// Read from s.cur to the end of its segment, the end of the range or
		// the flushed address, whichever is first, but at least the page.
		seg := l.dev.segmentOf(s.cur)
		limit := min((seg+1)<<l.dev.segmentBits, s.end, l.Flushed())
		want := max(min(uint64(scanChunk), limit-s.cur), min(room, limit-s.cur))
		if uint64(cap(s.chunk)) < want {
			s.chunk = s.chunkFor(want)
		}
		n, err := l.dev.readAt(s.chunk[:want], s.cur, limit)
		if err != nil {
			return DiskRecord{}, parsedBad, "", err
		}
		// The segment files are advised for point reads (no read-ahead):
		// ask for the next chunk now, so the kernel reads it while the
		// caller works through this one.
		if next := s.cur + uint64(n); next < limit {
			l.dev.prefetch(next, min(uint64(scanChunk), limit-next))
		}
		s.chunkAddr, s.chunkLen = s.cur, n
		if n == 0 {
			return DiskRecord{}, parsedBad, "log data missing", nil
		}
	}
}
