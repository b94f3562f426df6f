package replication

import (
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/hashicorp/go-hclog"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"go.etcd.io/bbolt"
)

// The raft log and stable store of a node (docs/replication.md, "Log and
// stable store"). Every write on the leader and on each follower waits for
// one StoreLogs, in series (hashicorp/raft stores on the leader before it
// sends): its fsyncs are the bulk of a write's latency.
const (
	// LogBoltDB is raft-boltdb v2 (bbolt, two fsyncs per commit), the
	// default of a new node.
	LogBoltDB = "boltdb"
	// LogWAL is hashicorp/raft-wal: segment files appended and fsynced
	// once per StoreLogs. It frees the log only a whole 64 MiB segment at
	// a time, so a lagging follower catches up from the log (not a
	// snapshot) while the leader still has the segment.
	LogWAL = "wal"
)

// DiskLogStore is a log and stable store on disk, as OpenLogStore opens.
type DiskLogStore interface {
	LogStableStore
	io.Closer
}

// ErrLogKind is an unknown log store name.
var ErrLogKind = errors.New("replication: unknown raft log store")

// OpenLogStore opens (creating) the raft log and stable store in dir. A dir
// that already holds one keeps its kind (raft.db: LogBoltDB, wal/: LogWAL);
// a new one gets kind ("" is LogBoltDB). The store holds dir locked: a second
// process fails with ErrDirInUse. Closing the store releases it.
func OpenLogStore(dir, kind string) (DiskLogStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errors.Wrap(err, "replication: create the raft directory")
	}
	switch existing, err := existingLogKind(dir); {
	case err != nil:
		return nil, err
	case existing != "":
		kind = existing
	case kind == "":
		kind = LogBoltDB
	}
	switch kind {
	case LogBoltDB:
		return openBolt(dir)
	case LogWAL:
		return openWAL(dir)
	}
	return nil, errors.Wrapf(ErrLogKind, "%q (use %s or %s)", kind, LogBoltDB, LogWAL)
}

func existingLogKind(dir string) (string, error) {
	for _, k := range []struct{ path, kind string }{{"raft.db", LogBoltDB}, {"wal", LogWAL}} {
		_, err := os.Stat(filepath.Join(dir, k.path))
		if err == nil {
			return k.kind, nil
		}
		if !os.IsNotExist(err) {
			return "", errors.Wrap(err, "replication: look for the raft log")
		}
	}
	return "", nil
}

func openBolt(dir string) (*raftboltdb.BoltStore, error) {
	bs, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(dir, "raft.db"),
		BoltOptions: &bbolt.Options{
			Timeout: 500 * time.Millisecond,
			// The freelist is not written at every commit (bbolt rebuilds
			// it from the pages when it opens the file): each StoreLogs
			// writes fewer pages, and still fsyncs the data and the meta
			// page before it returns. The map freelist does not sort an
			// array of the compacted log's free pages at every commit.
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, errors.Wrapf(ErrDirInUse, "%s is locked (is another rskv serve using this --dir?)", filepath.Join(dir, "raft.db"))
	}
	if err != nil {
		return nil, errors.Wrap(err, "replication: open the raft log")
	}
	return bs, nil
}

// walStore is raft-wal with the directory lock it is opened under
// (raft-wal's own meta file would make a second process wait forever).
type walStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB // WAL.Close does not close it: Close does
	lock *os.File
}

func openWAL(dir string) (*walStore, error) {
	wdir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(wdir, 0o755); err != nil {
		return nil, errors.Wrap(err, "replication: create the raft log directory")
	}
	lock, err := lockFile(filepath.Join(wdir, "LOCK"))
	if err != nil {
		return nil, err
	}
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(wdir, wal.WithLogger(hclog.NewNullLogger()), wal.WithMetaStore(meta))
	if err != nil {
		_ = meta.Close()
		_ = lock.Close()
		return nil, errors.Wrapf(err, "replication: open the raft log in %s", wdir)
	}
	return &walStore{WAL: w, meta: meta, lock: lock}, nil
}

// Close closes the log, then releases the directory.
func (s *walStore) Close() error {
	err := s.WAL.Close()
	if cerr := s.meta.Close(); err == nil {
		err = cerr
	}
	if cerr := s.lock.Close(); err == nil && cerr != nil {
		err = errors.Wrap(cerr, "replication: release the raft log lock")
	}
	return errors.Wrap(err, "replication: close the raft log")
}
