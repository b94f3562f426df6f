package rskv

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/fileformat"
	"github.com/rskv-go/rskv/internal/hlog"
	"github.com/rskv-go/rskv/log/vfs"
)

// Backups. Backup picks a cut T of the log at which the store is one
// consistent state (log.FreezeTail: every record below T immutable, no
// in-place update racing the cut), holding commitMu while it does, so that
// every batch and transaction commit is wholly below T or wholly above it.
// It then streams each key's newest version below T, the way Scan does
// (bounded batches under epoch protection, nothing held while it writes to
// w, compaction's truncation deferred while it runs), keeping expiries.
// Reads and writes go on throughout; writes land above T. The stream
// format is documented in internal/fileformat (backup.go).

// BackupInfo describes a backup stream.
type BackupInfo struct {
	Keys  int       // live keys in the copy
	Bytes int64     // bytes of the stream
	Time  time.Time // the moment the copy is consistent with
}

// backupChunkTarget is the payload size at which a chunk is written out.
const backupChunkTarget = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Backup writes to w a copy of the store as it was at one moment during the
// call, while reads and writes go on. Every committed batch and transaction
// is wholly in it or wholly out of it. Expiry times are kept; keys expired
// at that moment are left out. The stream is framed and checksummed (a
// header saying what the copy is consistent with: the log address, the
// time, a replication index), so that Restore refuses a damaged one. A
// read-only store can be backed up. Close waits for a Backup in progress,
// which then fails with ErrClosed.
func (s *Store) Backup(w io.Writer) (BackupInfo, error) {
	if w == nil {
		return BackupInfo{}, errors.New("rskv: Backup needs a writer")
	}
	if err := s.life.enter(); err != nil {
		return BackupInfo{}, err
	}
	defer s.life.exit()
	s.scanStarted()
	defer s.scanEnded()
	cut, err := s.backupCut()
	if err != nil {
		return BackupInfo{}, err
	}
	when := s.now()
	bw := &backupWriter{w: w}
	hdr := make([]byte, fileformat.BackupHeader.Size())
	body := hdr[fileformat.BodyOffset:]
	binary.LittleEndian.PutUint64(body[0:], cut)
	binary.LittleEndian.PutUint64(body[8:], uint64(when))
	binary.LittleEndian.PutUint64(body[16:], 0) // applied index: no replication yet
	binary.LittleEndian.PutUint64(body[24:], s.log.Begin())
	fileformat.BackupHeader.Seal(hdr, s.geo.storeID)
	bw.write(hdr)

	sc := s.log.NewScanner(s.log.Begin(), cut)
	buf := getBuf()
	defer putBuf(buf)
	for done := false; !done && bw.err == nil; {
		if s.life.ctx.Err() != nil {
			return BackupInfo{}, errors.Wrap(ErrClosed, "backup stopped by Close")
		}
		g, err := s.protect()
		if err != nil {
			return BackupInfo{}, err
		}
		var records int
		var nbytes uint64
		for records < scanWorkRecords && nbytes < scanWorkBytes && len(bw.payload) < backupChunkTarget {
			it, ok, err := sc.Next()
			if err != nil {
				g.Release()
				return BackupInfo{}, errors.Wrap(err, "rskv: backup")
			}
			if !ok {
				done = true
				break
			}
			records++
			nbytes += it.Size
			if it.Info&(hlog.FlagInvalid|hlog.FlagTombstone) != 0 {
				continue
			}
			newest, err := s.isNewestBelow(g, it.Key, it.Address, cut, buf)
			if err != nil {
				g.Release()
				return BackupInfo{}, errors.Wrap(err, "rskv: backup")
			}
			if !newest {
				continue
			}
			exp, value := splitStored(it.Info, it.Value)
			if expiredAt(exp, when) {
				continue
			}
			bw.add(it.Key, value, exp)
		}
		g.Release()
		if len(bw.payload) >= backupChunkTarget {
			bw.flush() // unprotected: w may be slow
		}
	}
	bw.finish()
	if bw.err != nil {
		return BackupInfo{}, bw.err
	}
	return BackupInfo{Keys: int(bw.total), Bytes: bw.n, Time: time.Unix(0, when)}, nil
}

// backupCut picks the log address the backup is consistent with.
func (s *Store) backupCut() (uint64, error) {
	if s.opts.ReadOnly {
		return s.log.Tail(), nil // nothing changes
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	cut, err := s.log.FreezeTail()
	if err != nil {
		return 0, s.ioFailure(err)
	}
	return cut, nil
}

// backupWriter frames entries into chunks and keeps the stream's checksum.
type backupWriter struct {
	w       io.Writer
	crc     uint32 // of every byte written
	n       int64
	payload []byte
	count   uint32 // entries in payload
	total   uint64 // entries written
	err     error
}

func (b *backupWriter) write(p []byte) {
	if b.err != nil {
		return
	}
	if _, err := b.w.Write(p); err != nil {
		b.err = errors.Wrap(err, "rskv: backup: write")
		return
	}
	b.crc = crc32.Update(b.crc, castagnoli, p)
	b.n += int64(len(p))
}

func (b *backupWriter) add(key, value []byte, exp int64) {
	b.payload = binary.AppendUvarint(b.payload, uint64(len(key)))
	b.payload = binary.AppendUvarint(b.payload, uint64(len(value)))
	b.payload = binary.AppendUvarint(b.payload, uint64(exp))
	b.payload = append(append(b.payload, key...), value...)
	b.count++
	b.total++
}

func (b *backupWriter) flush() {
	if b.count == 0 {
		return
	}
	var h [fileformat.BackupChunkHeaderSize]byte
	copy(h[:], fileformat.BackupChunkTag)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(b.payload)))
	binary.LittleEndian.PutUint32(h[8:], b.count)
	binary.LittleEndian.PutUint32(h[12:], chunkCRC(h[4:12], b.payload))
	b.write(h[:])
	b.write(b.payload)
	b.payload, b.count = b.payload[:0], 0
}

func chunkCRC(lengths, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(lengths, castagnoli), castagnoli, payload)
}

func (b *backupWriter) finish() {
	b.flush()
	var t [fileformat.BackupTrailerSize]byte
	copy(t[:], fileformat.BackupTrailerTag)
	binary.LittleEndian.PutUint64(t[4:], b.total)
	binary.LittleEndian.PutUint64(t[12:], uint64(b.n))
	b.write(t[:20])
	binary.LittleEndian.PutUint32(t[20:], b.crc)
	b.write(t[20:])
}

// Restore creates a store in dir (absent or empty) from a Backup stream and
// closes it. A truncated or corrupt stream is ErrCorruption and leaves no
// store behind: dir is as it was (absent or empty), so a later Open creates
// a fresh store there. The new store has its own identity and default
// options; keys that expired since the backup are left out. A dir that
// holds anything is refused with ErrInvalidOptions.
//
// The store is built in a sibling directory, dir + ".rskv-restore", and
// renamed to dir only once the whole stream is verified and the store is
// durable: dir is never touched by a failed restore, nor by one a crash
// interrupts (a later Restore removes the sibling left behind).
func Restore(dir string, r io.Reader) (BackupInfo, error) {
	return restore(dir, r, nil)
}

// restoreSuffix names the directory a restore builds its store in.
const restoreSuffix = ".rskv-restore"

// restore is Restore with options for the new store (tests use a MemFS).
func restore(dir string, r io.Reader, opts *Options) (BackupInfo, error) {
	if r == nil {
		return BackupInfo{}, errors.New("rskv: Restore needs a reader")
	}
	o := opts.withDefaults()
	o.ReadOnly, o.DisableBackground = false, true
	if dir == "" {
		return BackupInfo{}, errors.Wrap(ErrInvalidOptions, "directory name is empty")
	}
	dir = filepath.Clean(dir)
	existed, err := emptyOrAbsent(o.FS, dir)
	if err != nil {
		return BackupInfo{}, err
	}
	br := &backupReader{r: bufio.NewReaderSize(r, 1<<20)}
	hdr := make([]byte, fileformat.BackupHeader.Size())
	if err := br.read(hdr, "header"); err != nil {
		return BackupInfo{}, err
	}
	if _, err := fileformat.BackupHeader.Decode(hdr); err != nil {
		return BackupInfo{}, errors.Wrapf(ErrCorruption, "backup stream: %v", err)
	}
	when := int64(binary.LittleEndian.Uint64(hdr[fileformat.BodyOffset+8:]))

	tmp := dir + restoreSuffix
	if err := removeDir(o.FS, tmp); err != nil { // debris of an interrupted restore
		return BackupInfo{}, err
	}
	s, err := Open(tmp, &o)
	if err != nil {
		return BackupInfo{}, undoRestore(o.FS, tmp, err)
	}
	n, err := s.restoreChunks(br)
	if err != nil {
		_ = s.Close() // the store is removed: its close error is moot
		return BackupInfo{}, undoRestore(o.FS, tmp, err)
	}
	if err := s.Close(); err != nil {
		return BackupInfo{}, undoRestore(o.FS, tmp, err)
	}
	// Commit: the verified, durable store takes dir's place.
	if existed {
		if err := o.FS.Remove(dir); err != nil {
			return BackupInfo{}, undoRestore(o.FS, tmp, errors.Wrapf(err, "rskv: restore into %s", dir))
		}
	}
	if err := o.FS.Rename(tmp, dir); err != nil {
		return BackupInfo{}, undoRestore(o.FS, tmp, errors.Wrapf(err, "rskv: restore into %s", dir))
	}
	if err := o.FS.SyncDir(filepath.Dir(dir)); err != nil {
		return BackupInfo{}, errors.Wrapf(err, "rskv: restore into %s", dir)
	}
	return BackupInfo{Keys: int(n), Bytes: br.n, Time: time.Unix(0, when)}, nil
}

// restoreChunks applies the chunks of the stream after its header and
// checks its trailer and end. It returns the entries in the stream.
func (s *Store) restoreChunks(br *backupReader) (uint64, error) {
	var total uint64
	var h [fileformat.BackupChunkHeaderSize]byte
	var payload []byte
	for {
		if err := br.read(h[:4], "chunk tag"); err != nil {
			return 0, err
		}
		switch string(h[:4]) {
		case fileformat.BackupChunkTag:
		case fileformat.BackupTrailerTag:
			return total, br.trailer(h[:4], total)
		default:
			return 0, errors.Wrapf(ErrCorruption, "backup stream: bad chunk tag at byte %d", br.n-4)
		}
		if err := br.read(h[4:], "chunk header"); err != nil {
			return 0, err
		}
		size, count := binary.LittleEndian.Uint32(h[4:]), binary.LittleEndian.Uint32(h[8:])
		if size > fileformat.BackupMaxChunk {
			return 0, errors.Wrapf(ErrCorruption, "backup stream: chunk of %d bytes at byte %d", size, br.n-16)
		}
		if cap(payload) < int(size) {
			payload = make([]byte, size)
		}
		payload = payload[:size]
		if err := br.read(payload, "chunk"); err != nil {
			return 0, err
		}
		if chunkCRC(h[4:12], payload) != binary.LittleEndian.Uint32(h[12:]) {
			return 0, errors.Wrapf(ErrCorruption, "backup stream: chunk checksum mismatch at byte %d", br.n-int64(size)-16)
		}
		if err := s.restoreEntries(payload, count); err != nil {
			return 0, err
		}
		total += uint64(count)
	}
}

// restoreEntries writes the count entries of a verified chunk.
func (s *Store) restoreEntries(p []byte, count uint32) error {
	bad := func(what string) error {
		return errors.Wrapf(ErrCorruption, "backup stream: bad entry in a chunk (%s)", what)
	}
	now := s.now()
	for i := uint32(0); i < count; i++ {
		var f [3]uint64
		for j := range f {
			v, n := binary.Uvarint(p)
			if n <= 0 {
				return bad("length")
			}
			f[j], p = v, p[n:]
		}
		if f[0] > uint64(len(p)) || f[1] > uint64(len(p))-f[0] {
			return bad("past the chunk's end")
		}
		key, value, exp := p[:f[0]], p[f[0]:f[0]+f[1]], int64(f[2])
		p = p[f[0]+f[1]:]
		if expiredAt(exp, now) {
			continue
		}
		if err := s.putStored(key, value, exp); err != nil {
			return errors.Wrap(err, "rskv: restore")
		}
	}
	if len(p) != 0 {
		return bad("bytes after the last entry")
	}
	return nil
}

// putStored writes key with value and expiry exp (0: none).
func (s *Store) putStored(key, value []byte, exp int64) error {
	n := len(value)
	if exp != 0 {
		n += hlog.ExpiryPrefixSize
	}
	if err := s.checkRecord(key, n); err != nil {
		return err
	}
	return s.upsertExp(key, hashKey(key), func([]byte, bool) []byte { return value }, false, cntPut, expirySpec{at: exp})
}

// backupReader reads a backup stream, counting its bytes and checksum.
type backupReader struct {
	r   *bufio.Reader
	n   int64
	crc uint32
}

func (b *backupReader) read(p []byte, what string) error {
	if _, err := io.ReadFull(b.r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.Wrapf(ErrCorruption, "backup stream is truncated: it ends in the %s at byte %d", what, b.n)
		}
		return errors.Wrap(err, "rskv: restore: read backup stream")
	}
	b.crc = crc32.Update(b.crc, castagnoli, p)
	b.n += int64(len(p))
	return nil
}

// trailer checks the trailer (its tag already read) and that the stream
// ends after it.
func (b *backupReader) trailer(tag []byte, total uint64) error {
	var t [fileformat.BackupTrailerSize]byte
	copy(t[:], tag)
	before := b.n - 4
	if err := b.read(t[4:20], "trailer"); err != nil {
		return err
	}
	crc := b.crc
	if err := b.read(t[20:], "trailer"); err != nil {
		return err
	}
	switch {
	case binary.LittleEndian.Uint64(t[4:]) != total:
		return errors.Wrapf(ErrCorruption, "backup stream: trailer counts %d entries, the chunks hold %d", binary.LittleEndian.Uint64(t[4:]), total)
	case binary.LittleEndian.Uint64(t[12:]) != uint64(before):
		return errors.Wrapf(ErrCorruption, "backup stream: trailer says %d bytes precede it, %d do", binary.LittleEndian.Uint64(t[12:]), before)
	case binary.LittleEndian.Uint32(t[20:]) != crc:
		return errors.Wrap(ErrCorruption, "backup stream: whole-stream checksum mismatch")
	}
	switch _, err := b.r.Peek(1); {
	case err == nil:
		return errors.Wrapf(ErrCorruption, "backup stream: data after the trailer at byte %d", b.n)
	case !errors.Is(err, io.EOF):
		return errors.Wrap(err, "rskv: restore: read backup stream")
	}
	return nil
}

// emptyOrAbsent checks that dir may receive a restored store: it does not
// exist (existed false) or it is an empty directory.
func emptyOrAbsent(fsys vfs.FS, dir string) (existed bool, _ error) {
	fi, err := fsys.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, errors.Wrapf(err, "rskv: restore into %s", dir)
	}
	if !fi.IsDir() {
		return true, errors.Wrapf(ErrInvalidOptions, "restore into %s: not a directory", dir)
	}
	names, err := fsys.List(dir)
	if err != nil {
		return true, errors.Wrapf(err, "rskv: restore into %s", dir)
	}
	if len(names) > 0 {
		return true, errors.Wrapf(ErrInvalidOptions, "restore into %s: the directory is not empty (%d entries); restore needs an absent or empty one", dir, len(names))
	}
	return true, nil
}

// removeDir removes dir, a store directory (flat: files only), if it
// exists.
func removeDir(fsys vfs.FS, dir string) error {
	names, err := fsys.List(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errors.Wrapf(err, "rskv: restore: remove %s", dir)
	}
	for _, n := range names {
		if err := fsys.Remove(filepath.Join(dir, n)); err != nil {
			return errors.Wrapf(err, "rskv: restore: remove %s", dir)
		}
	}
	if err := fsys.Remove(dir); err != nil {
		return errors.Wrapf(err, "rskv: restore: remove %s", dir)
	}
	return errors.Wrapf(fsys.SyncDir(filepath.Dir(dir)), "rskv: restore: remove %s", dir)
}

// undoRestore removes the store a failed restore built in tmp, and reports
// a failure to do so alongside the restore's own error.
func undoRestore(fsys vfs.FS, tmp string, err error) error {
	if cerr := removeDir(fsys, tmp); cerr != nil {
		return errors.WithSecondaryError(err, cerr)
	}
	return err
}
