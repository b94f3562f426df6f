package server

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

func txnCommands() []*command {
	const g = "transactions"
	return []*command{
		{name: "multi", arity: 1, flags: flagNoScript | flagLoading | flagStale | flagFast, group: g, since: "1.2.0", summary: "Starts a transaction.", fn: cmdMulti},
		{name: "exec", arity: 1, flags: flagNoScript | flagLoading | flagStale, group: g, since: "1.2.0", summary: "Executes all commands in a transaction.", fn: cmdExec},
		{name: "discard", arity: 1, flags: flagNoScript | flagLoading | flagStale | flagFast, group: g, since: "2.0.0", summary: "Discards a transaction.", fn: cmdDiscard},
		{name: "watch", arity: -2, flags: flagNoScript | flagLoading | flagStale | flagFast, first: 1, last: -1, step: 1, group: g, since: "2.2.0", summary: "Monitors changes to keys to determine the execution of a transaction.", fn: cmdWatch},
		{name: "unwatch", arity: 1, flags: flagNoScript | flagLoading | flagStale | flagFast, group: g, since: "2.2.0", summary: "Forgets about watched keys of a transaction.", fn: cmdUnwatch},
		{name: "reset", arity: 1, flags: flagNoScript | flagLoading | flagStale | flagFast | flagNoAuth, group: "connection", since: "6.2.0", summary: "Resets the connection.", fn: cmdReset},
	}
}

// multiState is a connection's MULTI: the queued commands, whether one
// was refused (EXEC then answers EXECABORT), and the WATCHed keys with
// what they held when watched.
type multiState struct {
	on      bool
	dirty   bool
	queued  [][][]byte
	watched []watched
}

type watched struct {
	key  []byte
	seen []byte      // watchState at WATCH time
	e    *watchEntry // the key's modification stamp
	ver  uint64      // e.ver at WATCH time
}

// watchEntry is the modification stamp of a WATCHed key, shared by every
// connection watching it. Every write command naming the key (by its key
// positions) raises running before it runs and, once it has run, bumps ver
// and lowers running (exec, touchBegin and touchEnd). EXEC, which holds the
// key's stripe, aborts if running is not 0 or ver moved since WATCH: a
// write between WATCH and EXEC aborts it even if it left the value as it
// was (SET to the same value), as in Redis. A write command that changed
// nothing (SETNX of an existing key) aborts it too, which Redis would not:
// an abort only makes the client retry.
type watchEntry struct {
	running atomic.Int64
	ver     atomic.Uint64
	refs    int // watches on it; under the stripe's lock
}

// watchKey registers a watch on key and returns its stamp and version.
func (d *db) watchKey(key []byte) (*watchEntry, uint64) {
	st := d.stripeOf(key)
	st.Lock()
	defer st.Unlock()
	e := st.watch[string(key)]
	if e == nil {
		if st.watch == nil {
			st.watch = map[string]*watchEntry{}
		}
		e = &watchEntry{}
		st.watch[string(key)] = e
		d.watching.Add(1)
	}
	e.refs++
	return e, e.ver.Load()
}

// unwatch drops the connection's watches (UNWATCH, EXEC, DISCARD, RESET,
// a closed connection).
func (d *db) unwatch(ws []watched) {
	for _, w := range ws {
		st := d.stripeOf(w.key)
		st.Lock()
		if w.e.refs--; w.e.refs == 0 {
			delete(st.watch, string(w.key))
			if len(st.watch) == 0 {
				st.watch = nil
			}
			d.watching.Add(-1)
		}
		st.Unlock()
	}
}

// touchBegin marks the watched keys a write command names as being
// written, and returns their stamps for touchEnd (nil if none is
// watched). held: the caller holds the keys' stripes (inside EXEC).
func (d *db) touchBegin(cmd *command, args [][]byte, held bool) []*watchEntry {
	if cmd.first == 0 {
		return nil
	}
	last := cmd.last
	if last < 0 {
		last += len(args)
	}
	var es []*watchEntry
	for i := cmd.first; i <= last && i < len(args); i += max(cmd.step, 1) {
		st := d.stripeOf(args[i])
		if !held {
			st.Lock()
		}
		e := st.watch[string(args[i])]
		if !held {
			st.Unlock()
		}
		if e != nil {
			e.running.Add(1)
			es = append(es, e)
		}
	}
	return es
}

// touchEnd bumps the stamps touchBegin returned: ver first, so that an
// EXEC that reads running (0) and then ver sees the bump.
func touchEnd(es []*watchEntry) {
	for _, e := range es {
		e.ver.Add(1)
		e.running.Add(-1)
	}
}

// changed reports whether the watched key was written since WATCH; the
// caller holds its stripe.
func (w *watched) changed() bool {
	return w.e.running.Load() != 0 || w.e.ver.Load() != w.ver
}

// queues reports whether cmd is queued rather than run while in MULTI.
func queues(cmd *command) bool {
	switch cmd.name {
	case "exec", "discard", "multi", "watch", "quit", "reset":
		return false
	}
	return true
}

// queue keeps a copy of args (the reader reuses its buffer).
func (c *client) queue(args [][]byte) {
	cp := make([][]byte, len(args))
	for i, a := range args {
		cp[i] = bytes.Clone(a)
	}
	c.multi.queued = append(c.multi.queued, cp)
	c.w.simple("QUEUED")
}

func (c *client) endMulti() {
	c.s.db.unwatch(c.multi.watched)
	c.multi = multiState{}
}

func cmdMulti(c *client, args [][]byte) {
	if c.multi.on {
		c.w.err("ERR MULTI calls can not be nested")
		return
	}
	c.multi.on = true
	c.w.ok()
}

func cmdDiscard(c *client, args [][]byte) {
	if !c.multi.on {
		c.w.err("ERR DISCARD without MULTI")
		return
	}
	c.endMulti()
	c.w.ok()
}

func cmdUnwatch(c *client, args [][]byte) {
	c.s.db.unwatch(c.multi.watched)
	c.multi.watched = nil
	c.w.ok()
}

func cmdReset(c *client, args [][]byte) {
	c.endMulti()
	c.dropScanCache()
	c.w.resp3 = false
	c.proto.Store(2)
	c.mu.Lock()
	c.name = ""
	c.mu.Unlock()
	c.authed = c.s.cfg.Password == ""
	c.w.simple("RESET")
}

func cmdWatch(c *client, args [][]byte) {
	if c.multi.on {
		c.w.err("ERR WATCH inside MULTI is not allowed")
		return
	}
	for _, k := range args[1:] {
		// The stamp first: a write that ends after it is read moves it.
		e, ver := c.s.db.watchKey(k)
		w := watched{key: bytes.Clone(k), e: e, ver: ver}
		seen, err := c.s.db.watchState(&c.sc, k)
		if err != nil {
			c.s.db.unwatch([]watched{w})
			c.replyErr(err)
			return
		}
		w.seen = seen
		c.multi.watched = append(c.multi.watched, w)
	}
	c.w.ok()
}

// watchState is what EXEC compares to decide whether a WATCHed key was
// modified: the meta value, the expiry and, for a hash, a digest of its
// fields in slot order (a hash field write leaves the header as it was).
// An absent key is nil. In a transaction every read is the Txn's, so a
// concurrent change also makes the Update conflict and run again.
func (d *db) watchState(sc *scratch, key []byte) ([]byte, error) {
	tag, _, found, err := d.meta(sc, key)
	if errors.Is(err, rskv.ErrKeyTooLarge) {
		return nil, nil
	}
	if err != nil || !found {
		return nil, err
	}
	out := bytes.Clone(sc.v)
	at, _, err := d.expiry(sc, metaKey(nil, key))
	if err != nil {
		return nil, err
	}
	out = binary.BigEndian.AppendUint64(out, uint64(at.UnixNano()*b2i(!at.IsZero())))
	if tag == tagHash {
		h, err := decodeHash(out[:len(out)-8])
		if err != nil {
			return nil, err
		}
		x := xxhash.New()
		if _, err := d.hiter(sc, &h, h.count, func(f, v []byte) bool {
			var n [8]byte
			binary.BigEndian.PutUint64(n[:], uint64(len(f)))
			_, _ = x.Write(n[:])
			_, _ = x.Write(f)
			binary.BigEndian.PutUint64(n[:], uint64(len(v)))
			_, _ = x.Write(n[:])
			_, _ = x.Write(v)
			return true
		}); err != nil {
			return nil, err
		}
		out = binary.BigEndian.AppendUint64(out, x.Sum64())
	}
	return out, nil
}

// cmdExec runs the queued commands in one Store.Update: all of them or
// none commit, to readers and across a crash, and each sees the writes of
// those before it. The stripes of every key they name (and of the
// watched keys) are held for the whole EXEC, so the server's other writers
// wait; a command naming no keys that writes (FLUSHDB) takes them all.
func cmdExec(c *client, args [][]byte) {
	if !c.multi.on {
		c.w.err("ERR EXEC without MULTI")
		return
	}
	m := c.multi
	c.multi = multiState{}
	defer c.s.db.unwatch(m.watched) // after unlock: unwatch takes the stripes
	if m.dirty {
		c.w.err("EXECABORT Transaction discarded because of previous errors.")
		return
	}
	var keys [][]byte
	all := false
	for _, w := range m.watched {
		keys = append(keys, w.key)
	}
	for _, q := range m.queued {
		cmd := lookup(c, q[0])
		if cmd.first == 0 && cmd.flags&flagWrite != 0 {
			all = true
		}
		keys = append(keys, keysNamed(cmd, q)...)
	}
	var unlock func()
	if all {
		unlock = c.lockAll()
	} else {
		unlock = c.lockKeys(keys)
	}
	defer unlock()
	// The stripes are held: no write command can start on a watched key
	// now, so the stamps are checked once (the Update below may run its
	// commands twice, and they bump the stamps of this EXEC's own keys).
	for i := range m.watched {
		if m.watched[i].changed() {
			c.w.nullArray()
			return
		}
	}
	mark := len(c.w.b)
	aborted := false
	err := c.atomic(func() error {
		c.w.b = c.w.b[:mark]
		aborted = false
		for _, w := range m.watched {
			now, err := c.s.db.watchState(&c.sc, w.key)
			if err != nil {
				return err
			}
			if !bytes.Equal(now, w.seen) {
				aborted = true
				return nil
			}
		}
		c.w.array(len(m.queued))
		for _, q := range m.queued {
			c.s.exec(c, q)
		}
		return nil
	})
	if err != nil {
		c.w.b = c.w.b[:mark]
		c.replyErr(err)
		return
	}
	if aborted {
		c.w.nullArray()
	}
}

// keysNamed returns the keys args names, by the command's key positions.
func keysNamed(cmd *command, args [][]byte) [][]byte {
	if cmd.first == 0 {
		return nil
	}
	last := cmd.last
	if last < 0 {
		last += len(args)
	}
	var keys [][]byte
	for i := cmd.first; i <= last && i < len(args); i += max(cmd.step, 1) {
		keys = append(keys, args[i])
	}
	return keys
}

// ---- locks and transactions for the commands ----

func noop() {}

// lock write-locks key's stripe and returns it, for unlock1 (a stripe,
// not a func, so that the hot paths allocate nothing). Inside a
// transaction the stripes are held already (by EXEC or atomic's caller):
// it returns nil.
func (c *client) lock(key []byte) *stripe {
	if c.sc.tx != nil {
		return nil
	}
	st := c.s.db.stripeOf(key)
	st.Lock()
	return st
}

// unlock1 unlocks what lock locked.
func unlock1(st *stripe) {
	if st != nil {
		st.Unlock()
	}
}

func (c *client) lockKeys(keys [][]byte) func() {
	if c.sc.tx != nil || len(keys) == 0 {
		return noop
	}
	return c.s.db.lockKeys(keys)
}

func (c *client) lockAll() func() {
	if c.sc.tx != nil {
		return noop
	}
	return c.s.db.lockAll()
}

// atomic runs fn, whose store access goes through kv.go, as one
// Store.Update: its writes commit all or nothing, to readers and across a
// crash. fn may run more than once (on a conflict), so it changes nothing
// but through the store and c.sc; the bookkeeping it notes (key counts,
// expiry index) is applied once, after the commit. The caller holds the
// stripes of the keys fn writes. Inside a transaction fn just runs.
func (c *client) atomic(fn func() error) error {
	if c.sc.tx != nil {
		return fn()
	}
	t := &c.txs
	c.sc.tx = t
	err := c.s.st.Update(func(tx *rskv.Txn) error {
		t.reset(tx)
		return fn()
	})
	c.sc.tx = nil
	t.tx = nil
	if err == nil {
		for _, e := range t.fx {
			if ferr := c.s.db.applyNow(&c.sc, e); ferr != nil && err == nil {
				err = ferr // committed; only an expired hash's fields are left
			}
		}
	}
	t.fx = t.fx[:0]
	return err
}

// view runs fn, whose reads go through kv.go, in one Store.View: every
// read sees one state of the store (MGET of several keys). fn may run
// more than once.
func (c *client) view(fn func() error) error {
	if c.sc.tx != nil {
		return fn()
	}
	t := &c.txs
	c.sc.tx = t
	err := c.s.st.View(func(tx *rskv.Txn) error {
		t.reset(tx)
		return fn()
	})
	c.sc.tx = nil
	t.tx = nil
	t.fx = t.fx[:0]
	return err
}
