package server

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

func hashCommands() []*command {
	const g = "hash"
	return []*command{
		{name: "hset", arity: -4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Creates or modifies the value of a field in a hash.", fn: cmdHSet},
		{name: "hmset", arity: -4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Sets the values of multiple fields.", fn: cmdHSet},
		{name: "hsetnx", arity: 4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Sets the value of a field in a hash only when the field doesn't exist.", fn: cmdHSetNX},
		{name: "hget", arity: 3, flags: flagReadOnly | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Returns the value of a field in a hash.", fn: cmdHGet},
		{name: "hmget", arity: -3, flags: flagReadOnly | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Returns the values of all fields in a hash.", fn: cmdHMGet},
		{name: "hdel", arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", fn: cmdHDel},
		{name: "hgetall", arity: 2, flags: flagReadOnly, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Returns all fields and values in a hash.", fn: cmdHGetAll},
		{name: "hkeys", arity: 2, flags: flagReadOnly, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Returns all fields in a hash.", fn: cmdHKeys},
		{name: "hvals", arity: 2, flags: flagReadOnly, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Returns all values in a hash.", fn: cmdHVals},
		{name: "hlen", arity: 2, flags: flagReadOnly | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Returns the number of fields in a hash.", fn: cmdHLen},
		{name: "hexists", arity: 3, flags: flagReadOnly | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Determines whether a field exists in a hash.", fn: cmdHExists},
		{name: "hstrlen", arity: 3, flags: flagReadOnly | flagFast, first: 1, last: 1, step: 1, group: g, since: "3.2.0", summary: "Returns the length of the value of a field.", fn: cmdHStrlen},
		{name: "hincrby", arity: 4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", fn: cmdHIncrBy},
		{name: "hincrbyfloat", arity: 4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.6.0", summary: "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", fn: cmdHIncrByFloat},
		{name: "hscan", arity: -3, flags: flagReadOnly | flagRandom, first: 1, last: 1, step: 1, group: g, since: "2.8.0", summary: "Iterates over fields and values of a hash.", fn: cmdHScan},
	}
}

func isKeyTooLarge(err error) bool { return errors.Is(err, rskv.ErrKeyTooLarge) }

// readHash loads key's hash header under the stripe's lock, which the
// caller releases with the returned function. A missing (or impossibly
// long) key is found == false.
func (c *client) readHash(key []byte) (hashHdr, bool, func(), bool) {
	unlock := noop
	if c.sc.tx == nil {
		st := c.s.db.stripeOf(key)
		st.Lock()
		unlock = st.Unlock
	}
	h, found, err := c.s.db.hash(&c.sc, key)
	if err != nil && !isKeyTooLarge(err) {
		unlock()
		c.replyErr(err)
		return h, false, nil, false
	}
	return h, found && err == nil, unlock, true
}

func cmdHSet(c *client, args [][]byte) {
	if len(args)%2 != 0 {
		c.w.err(errArity(lower(args[0])))
		return
	}
	d := c.s.db
	defer unlock1(c.lock(args[1]))
	var n int
	err := c.atomic(func() (err error) {
		n, err = d.hset(&c.sc, args[1], args[2:], false)
		return err
	})
	if err != nil {
		c.replyErr(err)
		return
	}
	if strings.EqualFold(string(args[0]), "hmset") {
		c.w.ok()
	} else {
		c.w.int(int64(n))
	}
}

func cmdHSetNX(c *client, args [][]byte) {
	d := c.s.db
	defer unlock1(c.lock(args[1]))
	var n int
	err := c.atomic(func() (err error) {
		n, err = d.hset(&c.sc, args[1], args[2:], true)
		return err
	})
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.int(int64(n))
}

// readHashField reads one field of the hash at key under the key's read
// lock, for HGET, HEXISTS and HSTRLEN: a missing hash has no fields. v is
// in c's scratch (valid until its next read). On an error it has replied,
// and ok is false.
func (c *client) readHashField(key, field []byte) (v []byte, present, ok bool) {
	h, found, unlock, ok := c.readHash(key)
	if !ok {
		return nil, false, false
	}
	defer unlock()
	if !found {
		return nil, false, true
	}
	v, present, err := c.s.db.hget(&c.sc, &h, field)
	if err != nil {
		c.replyErr(err)
		return nil, false, false
	}
	return v, present, true
}

func cmdHGet(c *client, args [][]byte) {
	if v, present, ok := c.readHashField(args[1], args[2]); ok {
		c.w.bulkOrNil(v, present)
	}
}

func cmdHMGet(c *client, args [][]byte) {
	h, found, unlock, ok := c.readHash(args[1])
	if !ok {
		return
	}
	defer unlock()
	c.w.array(len(args) - 2)
	for _, f := range args[2:] {
		if !found {
			c.w.null()
			continue
		}
		v, ok, err := c.s.db.hget(&c.sc, &h, f)
		if err != nil {
			c.replyErr(err)
			continue
		}
		c.w.bulkOrNil(v, ok)
	}
}

func cmdHDel(c *client, args [][]byte) {
	d := c.s.db
	defer unlock1(c.lock(args[1]))
	var n int
	err := c.atomic(func() (err error) {
		n, err = d.hdel(&c.sc, args[1], args[2:])
		return err
	})
	if err != nil && !isKeyTooLarge(err) {
		c.replyErr(err)
		return
	}
	c.w.int(int64(n))
}

// hashAll replies with every field (and/or value) of a hash, as HGETALL,
// HKEYS and HVALS. The hash is read first so that an error cannot come
// after part of the reply.
func (c *client) hashAll(key []byte, fields, values bool) {
	h, found, unlock, ok := c.readHash(key)
	if !ok {
		return
	}
	defer unlock()
	var out [][]byte
	if found {
		_, err := c.s.db.hiter(&c.sc, &h, h.count, func(f, v []byte) bool {
			if fields {
				out = append(out, f)
			}
			if values {
				out = append(out, bytes.Clone(v))
			}
			return true
		})
		if err != nil {
			c.replyErr(err)
			return
		}
	}
	switch {
	case fields && values:
		c.w.mapHeader(len(out) / 2)
	default:
		c.w.array(len(out))
	}
	for _, b := range out {
		c.w.bulk(b)
	}
}

func cmdHGetAll(c *client, args [][]byte) { c.hashAll(args[1], true, true) }
func cmdHKeys(c *client, args [][]byte)   { c.hashAll(args[1], true, false) }
func cmdHVals(c *client, args [][]byte)   { c.hashAll(args[1], false, true) }

func cmdHLen(c *client, args [][]byte) {
	h, _, unlock, ok := c.readHash(args[1])
	if !ok {
		return
	}
	defer unlock()
	c.w.int(int64(h.count))
}

func cmdHExists(c *client, args [][]byte) {
	if _, present, ok := c.readHashField(args[1], args[2]); ok {
		c.w.int(b2i(present))
	}
}

func cmdHStrlen(c *client, args [][]byte) {
	if v, _, ok := c.readHashField(args[1], args[2]); ok {
		c.w.int(int64(len(v)))
	}
}

// hincr changes one field with fn, in place when it exists, or adds it
// with fn(nil, false).
func (c *client) hincr(args [][]byte, fn func(old []byte, found bool) ([]byte, error)) ([]byte, error) {
	d := c.s.db
	key, field := args[1], args[2]
	defer unlock1(c.lock(key))
	if err := checkField(field); err != nil {
		return nil, err
	}
	h, found, err := d.hash(&c.sc, key)
	if err != nil {
		return nil, err
	}
	if found {
		_, ok, err := d.hget(&c.sc, &h, field)
		if err != nil {
			return nil, err
		}
		if ok {
			return d.rmwField(&c.sc, &h, field, func(v []byte) ([]byte, error) { return fn(v, true) })
		}
	}
	nv, err := fn(nil, false)
	if err != nil {
		return nil, err
	}
	err = c.atomic(func() error {
		_, err := d.hset(&c.sc, key, [][]byte{field, nv}, false)
		return err
	})
	return nv, err
}

func cmdHIncrBy(c *client, args [][]byte) {
	delta, ok := parseInt(args[3])
	if !ok {
		c.w.err(errNotInt)
		return
	}
	var result int64
	_, err := c.hincr(args, func(old []byte, found bool) ([]byte, error) {
		var n int64
		if found {
			var ok bool
			if n, ok = parseInt(old); !ok {
				return nil, errHashIntE
			}
		}
		if (delta < 0 && n < 0 && delta < math.MinInt64-n) || (delta > 0 && n > 0 && delta > math.MaxInt64-n) {
			return nil, errOverflowE
		}
		result = n + delta
		return strconv.AppendInt(nil, result, 10), nil
	})
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.int(result)
}

func cmdHIncrByFloat(c *client, args [][]byte) {
	incr, ok := parseLongDouble(args[3])
	if !ok {
		c.w.err(errNotFloat)
		return
	}
	if incr.IsInf() {
		c.w.err(errNaNInf)
		return
	}
	out, err := c.hincr(args, func(old []byte, found bool) ([]byte, error) {
		return addFloat(old, found, incr, errHashFloatE)
	})
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.bulk(out)
}

func cmdHScan(c *client, args [][]byte) {
	cur, ok := parseCursor(args[2])
	if !ok {
		c.w.err(errInvalidCur)
		return
	}
	noValues := false
	rest := args[3:]
	if len(rest) > 0 && strings.EqualFold(string(rest[len(rest)-1]), "novalues") {
		noValues, rest = true, rest[:len(rest)-1]
	}
	o, e := parseScanOpts(rest, false)
	if e != "" {
		c.w.err(e)
		return
	}
	h, found, unlock, ok := c.readHash(args[1])
	if !ok {
		return
	}
	defer unlock()
	var out [][]byte
	var next uint64
	if found {
		from := h.count
		if cur != 0 {
			from = cur
		}
		visited := 0
		var err error
		next, err = c.s.db.hiter(&c.sc, &h, from, func(f, v []byte) bool {
			visited++
			if o.match == nil || globMatch(o.match, f) {
				out = append(out, f)
				if !noValues {
					out = append(out, bytes.Clone(v))
				}
			}
			return visited < o.count
		})
		if err != nil {
			c.replyErr(err)
			return
		}
	}
	c.w.array(2)
	c.w.bulkUint(next)
	c.w.array(len(out))
	for _, b := range out {
		c.w.bulk(b)
	}
}
