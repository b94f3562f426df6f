package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/replication"
	"github.com/rskv-go/rskv/internal/server"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/spf13/pflag"
)

// raftFlags are the flags of rskv serve's replicated mode (SERVER.md,
// "Replicated mode"; docs/replication.md).
type raftFlags struct {
	nodeID            string
	raftAddr          string
	bootstrap         bool
	join              string
	joinTimeout       time.Duration
	snapshotThreshold uint64
	trailingLogs      uint64
	snapshotInterval  time.Duration
	logStore          string
}

func (f *raftFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.nodeID, "node-id", "", "replicated mode: this node's raft ID (with --raft-addr)")
	fl.StringVar(&f.raftAddr, "raft-addr", "", "replicated mode: address of the raft transport, HOST:PORT")
	fl.BoolVar(&f.bootstrap, "bootstrap", false, "replicated mode: start a new cluster with this node alone (ignored once --dir has raft state)")
	fl.StringVar(&f.join, "join", "", "replicated mode: ask the member at this RESP address to add this node (ignored once --dir has raft state)")
	fl.DurationVar(&f.joinTimeout, "join-timeout", 60*time.Second, "replicated mode: give up --join after this long")
	fl.Uint64Var(&f.snapshotThreshold, "raft-snapshot-threshold", 8192, "replicated mode: log entries between snapshots")
	fl.Uint64Var(&f.trailingLogs, "raft-trailing-logs", 4096, "replicated mode: entries kept after a snapshot; a follower further behind catches up by snapshot")
	fl.StringVar(&f.logStore, "raft-log", replication.LogBoltDB, "replicated mode: raft log store of a new node, boltdb (raft-boltdb) or wal (raft-wal: lower write latency); a node keeps the one its --dir has")
	fl.DurationVar(&f.snapshotInterval, "raft-snapshot-interval", 10*time.Second, "replicated mode: how often the snapshot threshold is checked")
}

func (f *raftFlags) enabled() bool { return f.nodeID != "" || f.raftAddr != "" }

// replicated is a node's raft state before the server starts.
type replicated struct {
	f     *raftFlags
	dir   string
	clock *replication.Clock
	log   *replicationLog
}

type replicationLog = replication.LogStableStore

// openReplicated checks the flags, takes the raft state's lock (its log store),
// and opens the node's store in DIR/store, empty: the store is rebuilt from
// the raft snapshot and log at every start (docs/replication.md).
func openReplicated(f *serveFlags) (*replicated, *rskv.Store, error) {
	if f.raft.nodeID == "" || f.raft.raftAddr == "" {
		return nil, nil, usageError{errors.New("replicated mode needs both --node-id and --raft-addr")}
	}
	if f.raft.bootstrap && f.raft.join != "" {
		return nil, nil, usageError{errors.New("--bootstrap and --join exclude each other")}
	}
	if _, err := parseSyncMode(f.sync); err != nil {
		return nil, nil, err
	}
	if l := f.raft.logStore; l != replication.LogWAL && l != replication.LogBoltDB {
		return nil, nil, usageError{errors.Wrapf(replication.ErrLogKind, "--raft-log %q: use %s or %s", l, replication.LogBoltDB, replication.LogWAL)}
	}
	dir := f.store.dir
	if dir == "" {
		return nil, nil, usageError{errors.WithHint(errNoDirFlag, "pass the node directory with --dir DIR")}
	}
	if _, err := os.Stat(filepath.Join(dir, storeMarker)); err == nil {
		return nil, nil, errors.Newf("%s holds a standalone rskv store; replicated mode needs its own directory (it keeps raft/ and store/ in it)", dir)
	}
	bs, err := replication.OpenLogStore(filepath.Join(dir, "raft"), f.raft.logStore)
	if err != nil {
		return nil, nil, err
	}
	storeDir := filepath.Join(dir, "store")
	if err := os.RemoveAll(storeDir); err != nil {
		_ = bs.Close()
		return nil, nil, errors.Wrapf(err, "clear %s", storeDir)
	}
	opts, err := f.store.options(true)
	if err != nil {
		_ = bs.Close()
		return nil, nil, err
	}
	clock := &replication.Clock{}
	opts.Now = clock.Now
	// The raft log is the durable record (fsynced by raft-boltdb before a
	// write is acknowledged); the store is rebuilt from it at start, so it
	// needs no syncs or checkpoints of its own.
	opts.SyncMode = rskv.SyncNone
	opts.CheckpointInterval = -1
	st, err := rskv.Open(storeDir, opts)
	if err != nil {
		_ = bs.Close()
		return nil, nil, explainOpenError(err, storeDir)
	}
	var l replicationLog = bs
	return &replicated{f: &f.raft, dir: dir, clock: clock, log: &l}, st, nil
}

// start starts the raft member of srv, advertising respAddr.
func (r *replicated) start(srv *server.Server, st *rskv.Store, respAddr, password string, logger *slog.Logger) (*replication.Node, error) {
	return replication.Start(replication.Config{
		NodeID: r.f.nodeID, RaftAddr: r.f.raftAddr, RESPAddr: respAddr,
		Dir: filepath.Join(r.dir, "raft"), Bootstrap: r.f.bootstrap, Join: r.f.join, JoinTimeout: r.f.joinTimeout,
		Password: password, Store: *r.log, SnapshotThreshold: r.f.snapshotThreshold,
		TrailingLogs: r.f.trailingLogs, SnapshotInterval: r.f.snapshotInterval, Logger: logger,
	}, srv, st, r.clock)
}
