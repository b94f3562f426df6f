package manifest

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"path/filepath"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/log/vfs"
)

// FileName is the manifest's name in the store directory.
const FileName = "STORE"

const (
	magic   = "RSKVSTOR"
	version = 1
	size    = 8 + 4 + 4 + 8 + 4 + 4 + 8 + 4 + 4 + 8 + 8 + 4
)

// HashXXH64 identifies the key hash function (xxHash64, seed 0).
const HashXXH64 = 1

// Manifest is the content of the STORE file.
type Manifest struct {
	StoreID      uint64
	PageBits     uint32
	SegmentBits  uint32
	IndexBuckets uint64
	HashFunction uint32
	// Begin is the log's begin address: records below it are gone.
	Begin uint64
	// KeyBase is the live-key count contributed by records below Begin, which
	// recovery no longer sees (see rskv's key accounting).
	KeyBase int64
}

func (m Manifest) encode() []byte {
	b := make([]byte, size)
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[8:], version)
	binary.LittleEndian.PutUint32(b[12:], size)
	binary.LittleEndian.PutUint64(b[16:], m.StoreID)
	binary.LittleEndian.PutUint32(b[24:], m.PageBits)
	binary.LittleEndian.PutUint32(b[28:], m.SegmentBits)
	binary.LittleEndian.PutUint64(b[32:], m.IndexBuckets)
	binary.LittleEndian.PutUint32(b[40:], m.HashFunction)
	// b[44:48] reserved
	binary.LittleEndian.PutUint64(b[48:], m.Begin)
	binary.LittleEndian.PutUint64(b[56:], uint64(m.KeyBase))
	binary.LittleEndian.PutUint32(b[64:], crc32.Checksum(b[:64], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// ErrBadManifest marks a STORE file that is not a valid manifest.
var ErrBadManifest = errors.New("rskv: bad STORE file")

func decode(b []byte) (Manifest, error) {
	if len(b) < 16 || string(b[:8]) != magic {
		return Manifest{}, errors.Wrap(ErrBadManifest, "bad magic: not an rskv store")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != version {
		return Manifest{}, errors.Wrapf(ErrBadManifest, "format version %d is not supported (want %d)", v, version)
	}
	if len(b) < size || binary.LittleEndian.Uint32(b[12:]) != size {
		return Manifest{}, errors.Wrapf(ErrBadManifest, "file is %d bytes, want %d", len(b), size)
	}
	if crc32.Checksum(b[:64], crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(b[64:]) {
		return Manifest{}, errors.Wrap(ErrBadManifest, "checksum mismatch")
	}
	return Manifest{
		StoreID:      binary.LittleEndian.Uint64(b[16:]),
		PageBits:     binary.LittleEndian.Uint32(b[24:]),
		SegmentBits:  binary.LittleEndian.Uint32(b[28:]),
		IndexBuckets: binary.LittleEndian.Uint64(b[32:]),
		HashFunction: binary.LittleEndian.Uint32(b[40:]),
		Begin:        binary.LittleEndian.Uint64(b[48:]),
		KeyBase:      int64(binary.LittleEndian.Uint64(b[56:])),
	}, nil
}

// Read loads the manifest of the store in dir. It returns an error matching
// fs.ErrNotExist if there is none, and one matching ErrBadManifest if the
// file is damaged.
func Read(fs vfs.FS, dir string) (Manifest, error) {
	path := filepath.Join(dir, FileName)
	f, err := fs.Open(path)
	if err != nil {
		return Manifest{}, err
	}
	defer f.Close()
	b := make([]byte, size)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Manifest{}, errors.Wrapf(err, "read %s", path)
	}
	m, err := decode(b[:n])
	return m, errors.Wrapf(err, "%s", path)
}

// Write atomically replaces the manifest of the store in dir.
func Write(fs vfs.FS, dir string, m Manifest) error {
	path := filepath.Join(dir, FileName)
	tmp := path + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		return errors.Wrapf(err, "create %s", tmp)
	}
	if _, err := f.WriteAt(m.encode(), 0); err != nil {
		_ = f.Close()
		return errors.Wrapf(err, "write %s", tmp)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return errors.Wrapf(err, "sync %s", tmp)
	}
	if err := f.Close(); err != nil {
		return errors.Wrapf(err, "close %s", tmp)
	}
	if err := fs.Rename(tmp, path); err != nil {
		return errors.Wrapf(err, "rename %s", tmp)
	}
	return errors.Wrapf(fs.SyncDir(dir), "sync directory %s", dir)
}
