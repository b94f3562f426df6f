package manifest

import (
	"encoding/binary"
	"io"
	"path/filepath"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/fileformat"
	"github.com/rskv-go/rskv/log/vfs"
)

// FileName is the manifest's name in the store directory.
const FileName = fileformat.ManifestFile

// kind is the STORE file's framed header; the file is that header alone.
var kind = fileformat.Manifest

// CurrentVersion is the STORE format version Write writes; a store whose
// manifest is older is upgraded by rewriting it (see fileformat.Manifest).
var CurrentVersion = kind.Version

// HashXXH64 identifies the key hash function (xxHash64, seed 0).
const HashXXH64 = 1

// Manifest is the content of the STORE file.
type Manifest struct {
	// Version is the format version the file was read with (Write always
	// writes the current one, CurrentVersion); 0 for a manifest not read
	// from a file.
	Version      uint32
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

// encode lays out the fields at fixed offsets after the frame's store id
// (fileformat.BodyOffset = 24); bytes 44 to 48 are reserved.
func (m Manifest) encode() []byte {
	b := make([]byte, kind.Size())
	binary.LittleEndian.PutUint32(b[24:], m.PageBits)
	binary.LittleEndian.PutUint32(b[28:], m.SegmentBits)
	binary.LittleEndian.PutUint64(b[32:], m.IndexBuckets)
	binary.LittleEndian.PutUint32(b[40:], m.HashFunction)
	binary.LittleEndian.PutUint64(b[48:], m.Begin)
	binary.LittleEndian.PutUint64(b[56:], uint64(m.KeyBase))
	kind.Seal(b, m.StoreID)
	return b
}

// ErrBadManifest marks a STORE file that is not a valid manifest.
var ErrBadManifest = errors.New("rskv: bad STORE file")

func decode(b []byte) (Manifest, error) {
	h, err := kind.Decode(b)
	if err != nil {
		return Manifest{}, errors.Wrapf(ErrBadManifest, "%v", err)
	}
	return Manifest{
		Version:      h.Version,
		StoreID:      h.StoreID,
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
	b := make([]byte, kind.Size())
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
	tmp := path + fileformat.TempSuffix
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
