package replication

import (
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/hashicorp/raft"
	"github.com/rskv-go/rskv/internal/server"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// Clock is the replicated clock: the time every node judges expiry by. It
// is the largest proposer timestamp among the entries applied so far, so
// it is a function of the log prefix, the same on every node at the same
// index; the leader's ticks keep it moving when no command is written.
// Give Clock.Now to rskv.Options.Now and server.Config.Clock.
type Clock struct{ ns atomic.Int64 }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *Clock) set(ns int64) { c.ns.Store(ns) }

// Reserved keys of the state machine, in the server's reserved key space:
// written in the same store transaction as the entries they describe.
const (
	keyApplied    = "raft/applied" // index(8) clock(8), little endian
	keyPeerPrefix = "raft/peer/"   // + node ID -> RESP address
)

// okReply answers an entry that is not a command (a tick, a peer).
var okReply = []byte("+OK\r\n")

// fsm applies committed entries to the Store through the server's Applier.
type fsm struct {
	ap      *server.Applier
	st      *rskv.Store
	clock   *Clock
	tmpDir  string // where Restore unpacks a snapshot
	log     *slog.Logger
	applied atomic.Uint64
	// restores counts the snapshots installed (tests).
	restores atomic.Int64

	failed atomic.Pointer[error] // sticky: an entry could not be applied

	peerMu sync.RWMutex
	peers  map[string]string // node ID -> RESP address

	waitMu sync.Mutex
	waitCh chan struct{} // closed and replaced when applied moves
}

func newFSM(ap *server.Applier, st *rskv.Store, clock *Clock, tmpDir string, log *slog.Logger) *fsm {
	return &fsm{ap: ap, st: st, clock: clock, tmpDir: tmpDir, log: log, peers: map[string]string{}, waitCh: make(chan struct{})}
}

var _ raft.BatchingFSM = (*fsm)(nil)

// Apply is ApplyBatch of one entry.
func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies a batch of committed entries in one store transaction
// with the applied index: after it the store holds the state after the
// last of them, or (on an error) after none. Entries at or below the
// applied index (a restored snapshot may be newer than raft thinks) are
// skipped. Each command entry's response is its reply.
//
// A FLUSHDB/FLUSHALL writes outside the transaction (in batches of its
// own), so it would overtake the buffered writes of the entries before it
// in the same transaction; and batches are cut differently on each node.
// Such an entry is applied in a transaction of its own, after the ones
// before it have committed, so that every node computes the same state.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	if errp := f.failed.Load(); errp != nil {
		for i := range out {
			out[i] = *errp
		}
		return out
	}
	seg := f.newSegment()
	for i, l := range logs {
		if l.Index <= f.applied.Load() {
			continue
		}
		var e entry
		if l.Type == raft.LogCommand {
			var err error
			if e, err = decodeEntry(l.Data); err != nil {
				f.fail(errors.Wrapf(err, "log index %d", l.Index))
				return f.ApplyBatch(logs)
			}
		}
		alone := e.kind == kindCmd && flushes(e.cmds)
		if alone && seg.last != 0 {
			if !f.applySegment(seg, out) {
				return f.ApplyBatch(logs)
			}
			seg = f.newSegment()
		}
		seg.add(i, l, e)
		if alone {
			if !f.applySegment(seg, out) {
				return f.ApplyBatch(logs)
			}
			seg = f.newSegment()
		}
	}
	if seg.last != 0 && !f.applySegment(seg, out) {
		return f.ApplyBatch(logs)
	}
	return out
}

// segment is consecutive log entries applied in one transaction.
type segment struct {
	entries []server.ApplyEntry
	nows    []int64
	pos     []int // entries[k] answers logs[pos[k]]
	oks     []int // non-command entries, answered okReply
	state   map[string][]byte
	peerOps []entry
	clock   int64
	last    uint64
}

func (f *fsm) newSegment() *segment {
	return &segment{state: map[string][]byte{}, clock: f.clock.ns.Load()}
}

func (s *segment) add(i int, l *raft.Log, e entry) {
	s.last = l.Index
	if l.Type != raft.LogCommand {
		return
	}
	s.clock = max(s.clock, e.ts)
	switch e.kind {
	case kindCmd:
		s.entries = append(s.entries, server.ApplyEntry{Cmds: e.cmds, RESP3: e.resp3})
		s.nows = append(s.nows, s.clock)
		s.pos = append(s.pos, i)
		return
	case kindPeer:
		if e.addr == "" {
			s.state[keyPeerPrefix+e.id] = nil
		} else {
			s.state[keyPeerPrefix+e.id] = []byte(e.addr)
		}
		s.peerOps = append(s.peerOps, e)
	}
	s.oks = append(s.oks, i)
}

// flushes reports whether cmds hold a FLUSHDB or FLUSHALL.
func flushes(cmds [][][]byte) bool {
	for _, c := range cmds {
		if n := string(c[0]); strings.EqualFold(n, "flushdb") || strings.EqualFold(n, "flushall") {
			return true
		}
	}
	return false
}

// applySegment applies s and records its replies in out; false: the state
// machine failed.
func (f *fsm) applySegment(s *segment, out []any) bool {
	var ab [16]byte
	binary.LittleEndian.PutUint64(ab[0:], s.last)
	binary.LittleEndian.PutUint64(ab[8:], uint64(s.clock))
	s.state[keyApplied] = ab[:]
	var replies [][]byte
	var err error
	for try := 0; ; try++ {
		// The store's expirer deleting a key the batch read is the only
		// concurrent writer (the server's sweeper waits for the stripes):
		// a conflict there is retried, not fatal.
		replies, err = f.ap.Apply(s.entries, s.state, func(k int) { f.clock.set(max(f.clock.ns.Load(), s.nows[k])) })
		if !errors.Is(err, rskv.ErrConflict) || try == 10 {
			break
		}
	}
	if err != nil {
		f.fail(errors.Wrapf(err, "log entries up to index %d", s.last))
		return false
	}
	f.clock.set(s.clock)
	for k, r := range replies {
		out[s.pos[k]] = r
	}
	for _, i := range s.oks {
		out[i] = okReply
	}
	if len(s.peerOps) > 0 {
		f.peerMu.Lock()
		for _, e := range s.peerOps {
			if e.addr == "" {
				delete(f.peers, e.id)
			} else {
				f.peers[e.id] = e.addr
			}
		}
		f.peerMu.Unlock()
	}
	f.advance(s.last)
	return true
}

// fail stops the state machine for good: applying later entries over a
// missing one would make this node diverge. A restart rebuilds the store
// from the snapshot and the log.
func (f *fsm) fail(err error) {
	err = errors.Wrap(err, "replication: the state machine stopped; restart the node to rebuild its store")
	if f.failed.CompareAndSwap(nil, &err) {
		f.log.Error("raft state machine failed", "err", err)
	}
}

func (f *fsm) advance(idx uint64) {
	f.waitMu.Lock()
	f.applied.Store(idx)
	close(f.waitCh)
	f.waitCh = make(chan struct{})
	f.waitMu.Unlock()
}

// waitApplied waits until the applied index reaches idx, or deadline.
func (f *fsm) waitApplied(idx uint64, deadline time.Time, stop <-chan struct{}) bool {
	for {
		f.waitMu.Lock()
		ch := f.waitCh
		ok := f.applied.Load() >= idx
		f.waitMu.Unlock()
		if ok {
			return true
		}
		d := time.Until(deadline)
		if d <= 0 {
			return false
		}
		t := time.NewTimer(d)
		select {
		case <-ch:
		case <-t.C:
		case <-stop:
			t.Stop()
			return false
		}
		t.Stop()
	}
}

func (f *fsm) peer(id string) string {
	f.peerMu.RLock()
	defer f.peerMu.RUnlock()
	return f.peers[id]
}

// Snapshot is called between applies; the snapshot it returns streams a
// Store backup later, while applies go on. The backup is taken at some
// index at or after this one, and carries that index (keyApplied, written
// atomically with the entries): Restore skips what it already holds.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if errp := f.failed.Load(); errp != nil {
		return nil, *errp
	}
	return &snapshot{st: f.st}, nil
}

type snapshot struct{ st *rskv.Store }

// Persist streams a backup of the store into the sink.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.st.Backup(sink); err != nil {
		_ = sink.Cancel()
		return errors.Wrap(err, "replication: snapshot backup")
	}
	return sink.Close()
}

// Release does nothing: the backup holds nothing once Persist returned.
func (s *snapshot) Release() {}

// Restore replaces the store's content by the snapshot's: the backup is
// unpacked to a scratch store, its applied index and clock read, and its
// keys copied over the live store.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := os.RemoveAll(f.tmpDir); err != nil {
		return errors.Wrap(err, "replication: clear the restore directory")
	}
	defer os.RemoveAll(f.tmpDir)
	if _, err := rskv.Restore(f.tmpDir, rc); err != nil {
		return errors.Wrap(err, "replication: unpack snapshot")
	}
	// The scratch store's clock stands still at the epoch: nothing in it
	// expires before it is copied; Load drops what is due at the
	// snapshot's own clock.
	src, err := rskv.Open(f.tmpDir, &rskv.Options{DisableBackground: true, SyncMode: rskv.SyncNone,
		Now: func() time.Time { return time.Unix(0, 1) }, MemorySize: 64 << 20})
	if err != nil {
		return errors.Wrap(err, "replication: open unpacked snapshot")
	}
	defer src.Close()
	var idx uint64
	var clock int64
	ab, err := src.Get(append([]byte{'r'}, keyApplied...))
	switch {
	case err == nil && len(ab) == 16:
		idx = binary.LittleEndian.Uint64(ab[0:])
		clock = int64(binary.LittleEndian.Uint64(ab[8:]))
	case err == nil:
		return errors.Wrapf(errBadEntry, "snapshot applied index of %d bytes", len(ab))
	case !errors.Is(err, rskv.ErrNotFound):
		return errors.Wrap(err, "replication: read snapshot applied index")
	}
	f.clock.set(clock)
	if err := f.ap.Load(src); err != nil {
		return errors.Wrap(err, "replication: load snapshot")
	}
	peers := map[string]string{}
	if err := f.ap.ScanReserved(keyPeerPrefix, func(k string, v []byte) {
		peers[k[len(keyPeerPrefix):]] = string(v)
	}); err != nil {
		return errors.Wrap(err, "replication: read peers")
	}
	f.peerMu.Lock()
	f.peers = peers
	f.peerMu.Unlock()
	f.advance(idx)
	f.restores.Add(1)
	f.log.Info("restored raft snapshot", "applied_index", idx, "keys", f.st.Len())
	return nil
}

func scratchDir(dir string) string { return filepath.Join(dir, "restore.tmp") }
