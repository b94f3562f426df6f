package server

import (
	"bytes"
	"math"
	"strings"
	"time"
)

// Expiry is the store's (PutTTL, Expire, ExpiresAt on the meta key, its
// expirer deletes due keys); the server keeps an index of the keys with an
// expiry to uncount them and to drop an expired hash's fields (expire.go).

func expireCommands() []*command {
	const g = "generic"
	ro, w := flagReadOnly|flagFast, flagWrite|flagFast
	k1 := func(c *command) *command { c.first, c.last, c.step, c.group = 1, 1, 1, g; return c }
	return []*command{
		k1(&command{name: "expire", arity: -3, flags: w, since: "1.0.0", summary: "Sets the expiration time of a key in seconds.", fn: cmdExpire}),
		k1(&command{name: "pexpire", arity: -3, flags: w, since: "2.6.0", summary: "Sets the expiration time of a key in milliseconds.", fn: cmdExpire}),
		k1(&command{name: "expireat", arity: -3, flags: w, since: "1.2.0", summary: "Sets the expiration time of a key to a Unix timestamp.", fn: cmdExpire}),
		k1(&command{name: "pexpireat", arity: -3, flags: w, since: "2.6.0", summary: "Sets the expiration time of a key to a Unix milliseconds timestamp.", fn: cmdExpire}),
		k1(&command{name: "ttl", arity: 2, flags: ro, since: "1.0.0", summary: "Returns the expiration time in seconds of a key.", fn: cmdTTL}),
		k1(&command{name: "pttl", arity: 2, flags: ro, since: "2.6.0", summary: "Returns the expiration time in milliseconds of a key.", fn: cmdTTL}),
		k1(&command{name: "expiretime", arity: 2, flags: ro, since: "7.0.0", summary: "Returns the expiration time of a key as a Unix timestamp.", fn: cmdTTL}),
		k1(&command{name: "pexpiretime", arity: 2, flags: ro, since: "7.0.0", summary: "Returns the expiration time of a key as a Unix milliseconds timestamp.", fn: cmdTTL}),
		k1(&command{name: "persist", arity: 2, flags: w, since: "2.2.0", summary: "Removes the expiration time of a key.", fn: cmdPersist}),
		{name: "setex", arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: "string", since: "2.0.0", summary: "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", fn: cmdSetEx},
		{name: "psetex", arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: "string", since: "2.6.0", summary: "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", fn: cmdSetEx},
		{name: "getex", arity: -2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "string", since: "6.2.0", summary: "Returns the string value of a key after setting its expiration time.", fn: cmdGetEx},
	}
}

func errExpireTime(cmd string) string { return "ERR invalid expire time in '" + cmd + "' command" }

// nowMs is the server's clock in Unix ms (see db.now).
func (c *client) nowMs() int64 { return c.s.db.now().UnixMilli() }

// msTime is the time of a Unix milliseconds timestamp.
func msTime(ms int64) time.Time { return time.UnixMilli(ms) }

// keyExpiry returns key's expiry in Unix ms (-1: none) and whether it
// exists, plus a hash's id for the expiry index.
func (c *client) keyExpiry(key []byte) (ms int64, hid uint64, found bool, err error) {
	tag, _, found, err := c.s.db.meta(&c.sc, key)
	if err != nil || !found {
		if isKeyTooLarge(err) {
			err = nil
		}
		return -1, 0, false, err
	}
	if tag == tagHash {
		h, err := decodeHash(c.sc.v)
		if err != nil {
			return -1, 0, false, err
		}
		hid = h.id
	}
	at, found, err := c.s.db.expiry(&c.sc, metaKey(nil, key))
	if err != nil || !found {
		return -1, 0, false, err
	}
	if at.IsZero() {
		return -1, hid, true, nil
	}
	return at.UnixMilli(), hid, true, nil
}

// cmdExpire is EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT, as Redis 7's
// expireGenericCommand: options first, then the time and its overflow.
func cmdExpire(c *client, args [][]byte) {
	name := lower(args[0])
	var nx, xx, gt, lt bool
	for _, a := range args[3:] {
		switch strings.ToLower(string(a)) {
		case "nx":
			nx = true
		case "xx":
			xx = true
		case "gt":
			gt = true
		case "lt":
			lt = true
		default:
			c.w.err("ERR Unsupported option " + string(a))
			return
		}
	}
	if nx && (xx || gt || lt) {
		c.w.err("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if gt && lt {
		c.w.err("ERR GT and LT options at the same time are not compatible")
		return
	}
	when, ok := parseInt(args[2])
	if !ok {
		c.w.err(errNotInt)
		return
	}
	if name == "expire" || name == "expireat" {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			c.w.err(errExpireTime(name))
			return
		}
		when *= 1000
	}
	var base int64
	if name == "expire" || name == "pexpire" {
		base = c.nowMs()
	}
	if when > math.MaxInt64-base {
		c.w.err(errExpireTime(name))
		return
	}
	when += base
	key := args[1]
	defer unlock1(c.lock(key))
	cur, hid, found, err := c.keyExpiry(key)
	if err != nil {
		c.replyErr(err)
		return
	}
	if !found || (nx && cur != -1) || (xx && cur == -1) || (gt && (cur == -1 || when <= cur)) || (lt && cur != -1 && when >= cur) {
		c.w.int(0)
		return
	}
	if err := c.setKeyExpiry(key, when, hid); err != nil {
		c.replyErr(err)
		return
	}
	c.w.int(1)
}

// setKeyExpiry sets an existing key's expiry to Unix ms when (-1: none; in
// the past: the key is deleted, a hash's fields with it). The caller holds
// the key's stripe.
func (c *client) setKeyExpiry(key []byte, when int64, hid uint64) error {
	d := c.s.db
	if when != -1 && when <= c.nowMs() {
		_, err := d.deleteKey(&c.sc, key)
		return err
	}
	var at time.Time
	if when != -1 {
		at = msTime(when)
	}
	if err := d.setExpiry(&c.sc, metaKey(nil, key), at); err != nil {
		return err
	}
	d.expires(&c.sc, key, at, hid)
	return nil
}

func cmdTTL(c *client, args [][]byte) {
	ms, _, found, err := c.keyExpiry(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	name := lower(args[0])
	switch {
	case !found:
		c.w.int(-2)
		return
	case ms == -1:
		c.w.int(-1)
		return
	}
	v := ms
	if name == "ttl" || name == "pttl" {
		v = max(0, ms-c.nowMs())
	}
	if name == "ttl" || name == "expiretime" {
		v = (v + 500) / 1000
	}
	c.w.int(v)
}

func cmdPersist(c *client, args [][]byte) {
	defer unlock1(c.lock(args[1]))
	ms, hid, found, err := c.keyExpiry(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	if !found || ms == -1 {
		c.w.int(0)
		return
	}
	if err := c.setKeyExpiry(args[1], -1, hid); err != nil {
		c.replyErr(err)
		return
	}
	c.w.int(1)
}

// expireOpt is a parsed EX/PX/EXAT/PXAT argument.
type expireOpt struct {
	unit string // "EX", "PX", "EXAT", "PXAT"; "" none
	arg  []byte
}

// millis turns the option into a Unix ms timestamp, as Redis 7's
// getExpireMillisecondsOrReply; "" means no expiry, e an error reply.
func (o expireOpt) millis(c *client, cmd string) (ms int64, e string) {
	if o.unit == "" {
		return -1, ""
	}
	n, ok := parseInt(o.arg)
	if !ok {
		return 0, errNotInt
	}
	secs := o.unit == "EX" || o.unit == "EXAT"
	if n <= 0 || (secs && n > math.MaxInt64/1000) {
		return 0, errExpireTime(cmd)
	}
	if secs {
		n *= 1000
	}
	if o.unit == "EX" || o.unit == "PX" {
		n += c.nowMs() // wraps negative on overflow, as Redis's
	}
	if n <= 0 {
		return 0, errExpireTime(cmd)
	}
	return n, ""
}

func cmdSetEx(c *client, args [][]byte) {
	name := lower(args[0])
	o := expireOpt{unit: "EX", arg: args[2]}
	if name == "psetex" {
		o.unit = "PX"
	}
	ms, e := o.millis(c, name)
	if e != "" {
		c.w.err(e)
		return
	}
	defer unlock1(c.lock(args[1]))
	if err := c.setWithExpiry(args[1], args[3], ms, false, false); err != nil {
		c.replyErr(err)
		return
	}
	c.w.ok()
}

// setWithExpiry is SET with an expiry at Unix ms (-1: none; absolute if
// given as EXAT or PXAT) or keeping the key's; the caller holds the stripe.
func (c *client) setWithExpiry(key, val []byte, ms int64, keep, absolute bool) error {
	var at time.Time
	if ms != -1 {
		at = msTime(ms)
	}
	c.sc.exactAt = absolute
	err := c.s.db.putStringAt(&c.sc, key, val, at, keep)
	c.sc.exactAt = false
	return err
}

func cmdGetEx(c *client, args [][]byte) {
	var o expireOpt
	persist := false
	for i := 2; i < len(args); i++ {
		a := strings.ToUpper(string(args[i]))
		switch {
		case a == "PERSIST" && o.unit == "":
			persist = true
		case (a == "EX" || a == "PX" || a == "EXAT" || a == "PXAT") && !persist && (o.unit == "" || o.unit == a) && i+1 < len(args):
			o = expireOpt{unit: a, arg: args[i+1]}
			i++
		default:
			c.w.err(errSyntax)
			return
		}
	}
	ms, e := o.millis(c, "getex")
	if e != "" {
		c.w.err(e)
		return
	}
	key := args[1]
	defer unlock1(c.lock(key))
	v, found, err := c.s.db.getString(&c.sc, key)
	if err != nil || !found {
		if err != nil && !isKeyTooLarge(err) {
			c.replyErr(err)
		} else {
			c.w.null()
		}
		return
	}
	val := bytes.Clone(v)
	switch {
	case o.unit != "":
		err = c.setKeyExpiry(key, ms, 0)
	case persist:
		err = c.setKeyExpiry(key, -1, 0)
	}
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.bulk(val)
}
