package server

import (
	"bytes"
	"container/heap"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

func keyCommands() []*command {
	const g = "generic"
	return []*command{
		{name: "del", arity: -2, flags: flagWrite, first: 1, last: -1, step: 1, group: g, since: "1.0.0", summary: "Deletes one or more keys.", fn: cmdDel},
		{name: "unlink", arity: -2, flags: flagWrite | flagFast, first: 1, last: -1, step: 1, group: g, since: "4.0.0", summary: "Asynchronously deletes one or more keys.", fn: cmdDel},
		{name: "exists", arity: -2, flags: flagReadOnly | flagFast, first: 1, last: -1, step: 1, group: g, since: "1.0.0", summary: "Determines whether one or more keys exist.", fn: cmdExists},
		{name: "type", arity: 2, flags: flagReadOnly | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Determines the type of value stored at a key.", fn: cmdType},
		{name: "rename", arity: 3, flags: flagWrite, first: 1, last: 2, step: 1, group: g, since: "1.0.0", summary: "Renames a key and overwrites the destination.", fn: cmdRename},
		{name: "renamenx", arity: 3, flags: flagWrite | flagFast, first: 1, last: 2, step: 1, group: g, since: "1.0.0", summary: "Renames a key only when the target key name doesn't exist.", fn: cmdRenameNX},
		{name: "keys", arity: 2, flags: flagReadOnly, group: g, since: "1.0.0", summary: "Returns all key names that match a pattern.", fn: cmdKeys},
		{name: "scan", arity: -2, flags: flagReadOnly | flagRandom, group: g, since: "2.8.0", summary: "Iterates over the key names in the database.", fn: cmdScan},
		{name: "randomkey", arity: 1, flags: flagReadOnly | flagRandom, group: g, since: "1.0.0", summary: "Returns a random key name from the database.", fn: cmdRandomKey},
		{name: "dbsize", arity: 1, flags: flagReadOnly | flagFast, group: "server", since: "1.0.0", summary: "Returns the number of keys in the database.", fn: cmdDBSize},
		{name: "flushdb", arity: -1, flags: flagWrite, group: "server", since: "1.0.0", summary: "Remove all keys from the current database.", fn: cmdFlushDB},
		{name: "flushall", arity: -1, flags: flagWrite, group: "server", since: "1.0.0", summary: "Removes all keys from all databases.", fn: cmdFlushDB},
	}
}

func cmdDel(c *client, args [][]byte) {
	d := c.s.db
	unlock := c.lockKeys(args[1:])
	defer unlock()
	n := 0
	del := func() error {
		n = 0
		for _, k := range args[1:] {
			ok, err := d.deleteKey(&c.sc, k)
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		return nil
	}
	var err error
	if len(args) == 2 {
		err = del() // one string key is one store write
	} else {
		err = c.atomic(del)
	}
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.int(int64(n))
}

func cmdExists(c *client, args [][]byte) {
	n := 0
	for _, k := range args[1:] {
		_, _, found, err := c.s.db.meta(&c.sc, k)
		if err != nil && !isKeyTooLarge(err) {
			c.replyErr(err)
			return
		}
		if found {
			n++
		}
	}
	c.w.int(int64(n))
}

func cmdType(c *client, args [][]byte) {
	tag, _, found, err := c.s.db.meta(&c.sc, args[1])
	if err != nil && !isKeyTooLarge(err) {
		c.replyErr(err)
		return
	}
	switch {
	case !found:
		c.w.simple("none")
	case tag == tagHash:
		c.w.simple("hash")
	default:
		c.w.simple("string")
	}
}

func cmdRename(c *client, args [][]byte)   { c.rename(args, false) }
func cmdRenameNX(c *client, args [][]byte) { c.rename(args, true) }

func (c *client) rename(args [][]byte, nx bool) {
	d := c.s.db
	unlock := c.lockKeys(args[1:3])
	defer unlock()
	var done bool
	err := c.atomic(func() (err error) {
		done, err = d.rename(&c.sc, args[1], args[2], nx)
		return err
	})
	if err != nil {
		c.replyErr(err)
		return
	}
	if nx {
		c.w.int(b2i(done))
	} else {
		c.w.ok()
	}
}

func cmdKeys(c *client, args [][]byte) {
	pat := args[1]
	all := bytes.Equal(pat, []byte("*"))
	var keys [][]byte
	err := c.s.st.Scan([]byte{nsMeta}, func(k, v []byte) bool {
		if all || globMatch(pat, k[1:]) {
			keys = append(keys, k[1:])
		}
		return true
	})
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.array(len(keys))
	for _, k := range keys {
		c.w.bulk(k)
	}
}

// scanOpts are SCAN's and HSCAN's options.
type scanOpts struct {
	match []byte
	count int
	typ   string
}

func parseScanOpts(args [][]byte, allowType bool) (scanOpts, string) {
	o := scanOpts{count: 10}
	for i := 0; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return o, errSyntax
		}
		switch strings.ToUpper(string(args[i])) {
		case "MATCH":
			o.match = args[i+1]
			if bytes.Equal(o.match, []byte("*")) {
				o.match = nil
			}
		case "COUNT":
			n, ok := parseInt(args[i+1])
			if !ok {
				return o, errNotInt
			}
			if n < 1 {
				return o, errSyntax
			}
			o.count = int(min(n, 1<<20))
		case "TYPE":
			if !allowType {
				return o, errSyntax
			}
			o.typ = strings.ToLower(string(args[i+1]))
		default:
			return o, errSyntax
		}
	}
	return o, ""
}

// parseCursor parses a cursor as Redis does (an unsigned 64-bit decimal).
func parseCursor(b []byte) (uint64, bool) {
	n, err := strconv.ParseUint(string(b), 10, 64)
	return n, err == nil
}

// hkey is a key and its hash, in the max-heap SCAN uses to keep the count+1
// smallest hashes at or above the cursor.
type hkey struct {
	h uint64
	k []byte
}
type hkeyHeap []hkey

func (h hkeyHeap) Len() int           { return len(h) }
func (h hkeyHeap) Less(i, j int) bool { return h[i].h > h[j].h }
func (h hkeyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hkeyHeap) Push(x any)        { *h = append(*h, x.(hkey)) }
func (h *hkeyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// scanKeys returns the matching keys whose hash is in [cursor, next), at
// most count of them, and next (0 when the scan is complete). The cursor is
// a position in the 64-bit hash space of the keys: a key's hash never
// changes, so every key present for a whole scan falls in exactly one of
// the ranges the calls cover, and each call sees every key present during
// it (see doc.go, "SCAN").
func (d *db) scanKeys(cursor uint64, o scanOpts) ([][]byte, uint64, error) {
	var hp hkeyHeap
	err := d.st.Scan([]byte{nsMeta}, func(k, v []byte) bool {
		key := k[1:]
		h := keyHash(key)
		if h < cursor {
			return true
		}
		if len(hp) == o.count+1 && h >= hp[0].h {
			return true
		}
		if o.match != nil && !globMatch(o.match, key) {
			return true
		}
		if o.typ != "" && typeName(v) != o.typ {
			return true
		}
		heap.Push(&hp, hkey{h, key})
		if len(hp) > o.count+1 {
			heap.Pop(&hp)
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	var next uint64
	if len(hp) == o.count+1 {
		next = heap.Pop(&hp).(hkey).h
		// Keys sharing next's hash (a 64-bit collision) go to the next call.
		out := hp[:0]
		for _, e := range hp {
			if e.h < next {
				out = append(out, e)
			}
		}
		hp = out
	}
	keys := make([][]byte, len(hp))
	for i, e := range hp {
		keys[i] = e.k
	}
	return keys, next, nil
}

func typeName(meta []byte) string {
	if len(meta) > 0 && meta[0] == tagHash {
		return "hash"
	}
	return "string"
}

func cmdScan(c *client, args [][]byte) {
	cur, ok := parseCursor(args[1])
	if !ok {
		c.w.err(errInvalidCur)
		return
	}
	o, e := parseScanOpts(args[2:], true)
	if e != "" {
		c.w.err(e)
		return
	}
	var keys [][]byte
	var next uint64
	var err error
	if cur == 0 {
		c.dropScanCache()
		c.buildScanCache()
	}
	if c.scan != nil && c.scan.next == cur {
		keys, next = c.scanFromCache(o)
	} else {
		keys, next, err = c.s.db.scanKeys(cur, o)
	}
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.array(2)
	c.w.bulkUint(next)
	c.w.array(len(keys))
	for _, k := range keys {
		c.w.bulk(k)
	}
}

// scanCache is a connection's snapshot of the key space, sorted by hash,
// taken at SCAN 0. A snapshot taken after the scan started holds every key
// present for the whole scan, so serving the rest of the scan from it keeps
// Redis's guarantee while reading the store once per scan instead of once
// per call. A cursor other than the one this connection was handed last
// (another connection's scan, or a pooled client's) is served by scanKeys.
type scanCache struct {
	keys  []cachedKey
	pos   int    // first entry not yet returned
	next  uint64 // the cursor the next call continues with
	bytes int64  // charged to Server.scanCacheBytes
}

type cachedKey struct {
	h   uint64
	typ byte
	k   []byte
}

// maxScanCacheBytes bounds the memory of all connections' SCAN snapshots;
// beyond it SCAN falls back to stateless calls.
const maxScanCacheBytes = 64 << 20

func (c *client) dropScanCache() {
	if c.scan != nil {
		c.s.scanCacheBytes.Add(-c.scan.bytes)
		c.scan = nil
	}
}

func (c *client) buildScanCache() {
	sc := &scanCache{}
	over := false
	err := c.s.st.Scan([]byte{nsMeta}, func(k, v []byte) bool {
		sz := int64(len(k)) + 48
		if c.s.scanCacheBytes.Add(sz) > maxScanCacheBytes {
			c.s.scanCacheBytes.Add(-sz)
			over = true
			return false
		}
		sc.bytes += sz
		typ := byte(tagString)
		if len(v) > 0 {
			typ = v[0]
		}
		sc.keys = append(sc.keys, cachedKey{keyHash(k[1:]), typ, k[1:]})
		return true
	})
	if err != nil || over {
		c.s.scanCacheBytes.Add(-sc.bytes)
		return
	}
	sort.Slice(sc.keys, func(i, j int) bool { return sc.keys[i].h < sc.keys[j].h })
	c.scan = sc
}

// scanFromCache returns up to o.count matching keys from the snapshot and
// the next cursor: the hash of the first entry left for the next call.
func (c *client) scanFromCache(o scanOpts) ([][]byte, uint64) {
	sc := c.scan
	var out [][]byte
	i := sc.pos
	for examined := 0; i < len(sc.keys) && len(out) < o.count && examined < 100*o.count; i++ {
		e := sc.keys[i]
		examined++
		if o.match != nil && !globMatch(o.match, e.k) {
			continue
		}
		if o.typ != "" && typeName([]byte{e.typ}) != o.typ {
			continue
		}
		out = append(out, e.k)
	}
	// Keys sharing a hash (a 64-bit collision) are returned together, as
	// the cursor cannot point between them.
	for i > 0 && i < len(sc.keys) && sc.keys[i].h == sc.keys[i-1].h {
		e := sc.keys[i]
		if (o.match == nil || globMatch(o.match, e.k)) && (o.typ == "" || typeName([]byte{e.typ}) == o.typ) {
			out = append(out, e.k)
		}
		i++
	}
	if i >= len(sc.keys) {
		c.dropScanCache()
		return out, 0
	}
	sc.pos, sc.next = i, sc.keys[i].h
	if sc.next == 0 {
		// Hash 0 cannot be a continuing cursor (0 means a new scan).
		for i < len(sc.keys) && sc.keys[i].h == 0 {
			out = append(out, sc.keys[i].k)
			i++
		}
		if i >= len(sc.keys) {
			c.dropScanCache()
			return out, 0
		}
		sc.pos, sc.next = i, sc.keys[i].h
	}
	return out, sc.next
}

func cmdRandomKey(c *client, args [][]byte) {
	start := rand.Uint64()
	var best, first []byte
	var bestH, firstH uint64
	err := c.s.st.Scan([]byte{nsMeta}, func(k, v []byte) bool {
		h := keyHash(k[1:])
		if h >= start && (best == nil || h < bestH) {
			best, bestH = k[1:], h
		}
		if first == nil || h < firstH {
			first, firstH = k[1:], h
		}
		return true
	})
	if err != nil {
		c.replyErr(err)
		return
	}
	if best == nil {
		best = first
	}
	c.w.bulkOrNil(best, best != nil)
}

func cmdDBSize(c *client, args [][]byte) { c.w.int(c.s.db.size()) }

func cmdFlushDB(c *client, args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !strings.EqualFold(string(args[1]), "sync") && !strings.EqualFold(string(args[1]), "async")) {
		c.w.err(errSyntax)
		return
	}
	unlock := c.lockAll()
	defer unlock()
	if err := c.s.db.flush(); err != nil {
		c.replyErr(err)
		return
	}
	c.w.ok()
}
