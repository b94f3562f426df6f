package server

import (
	"bytes"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// Replicated mode: the seam between the server and its replication layer
// (internal/replication). The server stays a single-node server; a
// Replicator, set before Serve, decides where each command runs:
//
//   - a write (a command with the write flag, or a whole MULTI ... EXEC) is
//     handed to Replicator.Write, which commits it in the replicated log and
//     returns the reply the log's state machine produced, on this node (the
//     leader) or on the leader it forwards to;
//   - a read asks Replicator.Read first: it confirms this node leads and has
//     applied everything committed when the read arrived (then the read runs
//     here, as usual), or forwards the read and returns the leader's reply;
//   - the state machine applies committed commands with an Applier: the same
//     command code, on a connection of its own, in one store transaction per
//     batch of log entries.
//
// Time: every expiry decision of the command code reads db.now, which a
// replicated server takes from Config.Clock (the time of the command being
// applied, see internal/replication), so that all replicas agree.

// Replicator is the replication layer of a server in replicated mode.
// Every method appends its reply, in RESP3 if resp3, to dst. forwarded
// says the command arrived from another node's forwarder: it must not be
// forwarded again (a stale leader view would make a loop).
type Replicator interface {
	// Write commits cmds (one command, or MULTI, the queued commands, EXEC)
	// as one entry of the replicated log and appends the reply of the last
	// command once the entry is applied, or an error reply (-TRYAGAIN,
	// -CLUSTERDOWN) within 5 seconds.
	Write(dst []byte, cmds [][][]byte, resp3, forwarded bool) []byte
	// Read prepares a linearizable read of args. local true: run it on this
	// node now. Otherwise dst has the reply (the leader's, or an error).
	Read(dst []byte, args [][]byte, resp3, forwarded bool) (out []byte, local bool)
	// Admin runs a RAFT subcommand (JOIN, REMOVE, SNAPSHOT, ...).
	Admin(dst []byte, args [][]byte, resp3, forwarded bool) []byte
	// Info returns the lines ("name:value") of INFO's raft section.
	Info() []string
}

// replState is a connection's replicated-mode state.
type replState struct {
	// forwarded marks a connection from another node's forwarder (RAFT
	// FORWARDED): its commands are never forwarded again.
	forwarded bool
	// stale is RAFT STALEREADS ON: reads run on this node without asking
	// the leader (they may miss recent writes).
	stale bool
	// applier marks the state machine's own connection: it runs commands.
	applier bool
}

// SetReplicator puts the server in replicated mode. Call it before Serve.
func (s *Server) SetReplicator(r Replicator) { s.repl = r }

// errWatchReplicated answers WATCH in replicated mode: the optimistic check
// would run on the node the client talks to, not at the entry's place in
// the log.
const errWatchReplicated = "ERR WATCH is not supported in replicated mode: MULTI/EXEC without WATCH is one atomic log entry"

// routed runs cmd through the Replicator if it must; false: run it here.
func (s *Server) routed(c *client, cmd *command, args [][]byte) bool {
	if c.repl.applier {
		return false
	}
	switch {
	case cmd.name == "watch":
		c.w.err(errWatchReplicated)
		return true
	case cmd.name == "exec":
		if !c.multi.on || c.multi.dirty {
			return false // cmdExec answers the error
		}
		cmds := make([][][]byte, 0, len(c.multi.queued)+2)
		cmds = append(cmds, [][]byte{[]byte("MULTI")})
		cmds = append(cmds, c.multi.queued...)
		cmds = append(cmds, [][]byte{[]byte("EXEC")})
		c.endMulti()
		c.w.b = s.repl.Write(c.w.b, cmds, c.w.resp3, c.repl.forwarded)
		return true
	case cmd.flags&flagWrite != 0:
		c.w.b = s.repl.Write(c.w.b, [][][]byte{args}, c.w.resp3, c.repl.forwarded)
		return true
	case cmd.flags&flagReadOnly != 0:
		if c.repl.stale {
			return false
		}
		out, local := s.repl.Read(c.w.b, args, c.w.resp3, c.repl.forwarded)
		c.w.b = out
		return !local
	}
	return false
}

// ApplyEntry is one entry of the replicated log for an Applier.
type ApplyEntry struct {
	// Cmds is one command, or MULTI, commands, EXEC.
	Cmds [][][]byte
	// RESP3: the reply is encoded for a RESP3 client.
	RESP3 bool
}

// Applier runs committed log entries on the server's store: the state
// machine of replicated mode. One goroutine uses it at a time.
type Applier struct {
	s    *Server
	c    *client
	offs []int
}

// NewApplier returns the server's applier.
func (s *Server) NewApplier() *Applier {
	c := &client{s: s, id: s.nextID.Add(1), addr: "raft-apply", laddr: "raft-apply", authed: true, since: time.Now()}
	c.shard = int(c.id % statShards)
	c.proto.Store(2)
	c.repl.applier = true
	return &Applier{s: s, c: c}
}

// Apply runs entries in one store transaction that also writes state (the
// replication layer's own keys, in the reserved key space): all of it
// commits or none, to readers and across a crash. before(i) runs before
// entry i (the replication layer sets the clock there); it may run again
// for the same i if the transaction is retried on a conflict. It returns
// each entry's reply. Every stripe is held meanwhile, as EXEC holds those
// of its keys.
func (a *Applier) Apply(entries []ApplyEntry, state map[string][]byte, before func(i int)) ([][]byte, error) {
	c := a.c
	unlock := a.s.db.lockAll()
	defer unlock()
	err := c.atomic(func() error {
		c.w.b = c.w.b[:0]
		a.offs = a.offs[:0]
		for i, e := range entries {
			if before != nil {
				before(i)
			}
			// Every entry starts from the same connection state on every
			// node, whatever a command of an earlier one did to it.
			c.endMulti()
			c.authed = true
			c.w.resp3 = e.RESP3
			for j, q := range e.Cmds {
				if j == len(e.Cmds)-1 {
					a.offs = append(a.offs, len(c.w.b))
				}
				a.s.exec(c, q)
			}
			a.offs = append(a.offs, len(c.w.b))
			c.quit = false
		}
		for k, v := range state {
			key := reservedKey(k)
			var err error
			if v == nil {
				err = a.s.db.del(&c.sc, key)
			} else {
				err = a.s.db.put(&c.sc, key, v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	c.endMulti()
	if err != nil {
		return nil, errors.Wrap(err, "apply replicated log entries")
	}
	out := make([][]byte, len(entries))
	for i := range entries {
		out[i] = bytes.Clone(c.w.b[a.offs[2*i]:a.offs[2*i+1]])
	}
	if cap(c.w.b) > 1<<20 {
		c.w.b = nil
	}
	return out, nil
}

func reservedKey(k string) []byte { return append([]byte{nsReserved}, k...) }

// Reserved returns the value of the replication layer's key k
// (rskv.ErrNotFound if absent).
func (a *Applier) Reserved(k string) ([]byte, error) { return a.s.st.Get(reservedKey(k)) }

// ScanReserved calls fn for the replication layer's keys with prefix.
func (a *Applier) ScanReserved(prefix string, fn func(k string, v []byte)) error {
	return a.s.st.Scan(reservedKey(prefix), func(k, v []byte) bool {
		fn(string(k[1:]), v)
		return true
	})
}

// Load replaces the whole content of the server's store (user keys and
// reserved ones) by src's, keeping expiries, and recounts the keys: a
// replicated node installing a snapshot. Readers may see a mix meanwhile.
func (a *Applier) Load(src *rskv.Store) error {
	d := a.s.db
	unlock := d.lockAll()
	defer unlock()
	b := d.st.NewBatch()
	if err := scanInto(d.st, b, func(k, _ []byte) error { b.Delete(k); return nil }); err != nil {
		return errors.Wrap(err, "clear the store for a snapshot")
	}
	now := d.now()
	err := scanInto(src, b, func(k, v []byte) error {
		at, e := src.ExpiresAt(k)
		switch {
		case errors.Is(e, rskv.ErrNotFound):
			// expired meanwhile
		case e != nil:
			return e
		case at.IsZero():
			b.Put(k, v)
		case at.After(now):
			b.PutTTL(k, v, at.Sub(now))
		}
		return nil
	})
	if err != nil {
		return errors.Wrap(err, "load a snapshot into the store")
	}
	for i := range d.keys {
		d.keys[i].n.Store(0)
	}
	for i := range d.stripes {
		clear(d.stripes[i].exp)
	}
	_, err = d.recover()
	return err
}

// scanInto scans src and lets add write each pair into b, committing b
// every flushBatch entries and at the end; it stops at the first error.
func scanInto(src *rskv.Store, b *rskv.Batch, add func(k, v []byte) error) error {
	commit := func() error {
		if b.Len() == 0 {
			return nil
		}
		err := b.Commit()
		b.Reset()
		return err
	}
	var berr error
	err := src.Scan(nil, func(k, v []byte) bool {
		if berr = add(k, v); berr == nil && b.Len() >= flushBatch {
			berr = commit()
		}
		return berr == nil
	})
	if err == nil {
		err = berr
	}
	if err == nil {
		err = commit()
	}
	return err
}

// raftInfo writes INFO's raft section.
func (s *Server) raftInfo(kv func(k string, v any)) {
	for _, l := range s.repl.Info() {
		if i := bytes.IndexByte([]byte(l), ':'); i > 0 {
			kv(l[:i], l[i+1:])
		}
	}
}
