package server

import (
	"bytes"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

func stringCommands() []*command {
	const g = "string"
	return []*command{
		{name: "get", arity: 2, flags: flagReadOnly | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Returns the string value of a key.", fn: cmdGet},
		{name: "set", arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Sets the string value of a key, ignoring its type.", fn: cmdSet},
		{name: "setnx", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Set the string value of a key only when the key doesn't exist.", fn: cmdSetNX},
		{name: "getset", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Returns the previous string value of a key after setting it to a new value.", fn: cmdGetSet},
		{name: "getdel", arity: 2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, since: "6.2.0", summary: "Returns the string value of a key after deleting the key.", fn: cmdGetDel},
		{name: "mget", arity: -2, flags: flagReadOnly | flagFast, first: 1, last: -1, step: 1, group: g, since: "1.0.0", summary: "Atomically returns the string values of one or more keys.", fn: cmdMGet},
		{name: "mset", arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 2, group: g, since: "1.0.1", summary: "Atomically creates or modifies the string values of one or more keys.", fn: cmdMSet},
		{name: "msetnx", arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 2, group: g, since: "1.0.1", summary: "Atomically modifies the string values of one or more keys only when all keys don't exist.", fn: cmdMSetNX},
		{name: "append", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.", fn: cmdAppend},
		{name: "strlen", arity: 2, flags: flagReadOnly | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.2.0", summary: "Returns the length of a string value.", fn: cmdStrlen},
		{name: "getrange", arity: 4, flags: flagReadOnly, first: 1, last: 1, step: 1, group: g, since: "2.4.0", summary: "Returns a substring of the string stored at a key.", fn: cmdGetRange},
		{name: "substr", arity: 4, flags: flagReadOnly, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Returns a substring from a string value.", fn: cmdGetRange},
		{name: "setrange", arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, since: "2.2.0", summary: "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", fn: cmdSetRange},
		{name: "incr", arity: 2, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", fn: cmdIncr},
		{name: "decr", arity: 2, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", fn: cmdDecr},
		{name: "incrby", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", fn: cmdIncrBy},
		{name: "decrby", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", fn: cmdDecrBy},
		{name: "incrbyfloat", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.6.0", summary: "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", fn: cmdIncrByFloat},
	}
}

// replyErr turns a data-layer or store error into Redis's error reply.
func (c *client) replyErr(err error) {
	switch {
	case errors.Is(err, errWrongTypeE):
		c.w.err(errWrongType)
	case errors.Is(err, errNotIntE):
		c.w.err(errNotInt)
	case errors.Is(err, errNotFloatE):
		c.w.err(errNotFloat)
	case errors.Is(err, errOverflowE):
		c.w.err(errOverflow)
	case errors.Is(err, errNaNInfE):
		c.w.err(errNaNInf)
	case errors.Is(err, errHashIntE):
		c.w.err(errHashNotInt)
	case errors.Is(err, errHashFloatE):
		c.w.err(errHashNotFloat)
	case errors.Is(err, errTooBigE):
		c.w.err(errTooBig)
	case errors.Is(err, errNoSuchKeyE):
		c.w.err(errNoSuchKey)
	case errors.Is(err, rskv.ErrKeyTooLarge), errors.Is(err, rskv.ErrValueTooLarge):
		c.w.err("ERR " + err.Error())
	default:
		c.s.cfg.Logger.Error("command failed", "client", c.addr, "err", err)
		c.w.err("ERR " + err.Error())
	}
}

func cmdGet(c *client, args [][]byte) {
	v, ok, err := c.s.db.getString(&c.sc, args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.bulkOrNil(v, ok)
}

// setOpts are SET's options.
type setOpts struct {
	nx, xx, get, keepTTL bool
	exp                  expireOpt
}

// parseSetOpts parses SET's options as Redis 7's
// parseExtendedStringArgumentsOrReply: each expiry unit excludes the
// others and KEEPTTL, but may repeat (the last wins).
func parseSetOpts(args [][]byte) (setOpts, string) {
	var o setOpts
	for i := 0; i < len(args); i++ {
		a := strings.ToUpper(string(args[i]))
		switch {
		case a == "NX" && !o.xx:
			o.nx = true
		case a == "XX" && !o.nx:
			o.xx = true
		case a == "GET":
			o.get = true
		case a == "KEEPTTL" && o.exp.unit == "":
			o.keepTTL = true
		case (a == "EX" || a == "PX" || a == "EXAT" || a == "PXAT") && !o.keepTTL && (o.exp.unit == "" || o.exp.unit == a) && i+1 < len(args):
			o.exp = expireOpt{unit: a, arg: args[i+1]}
			i++
		default:
			return o, errSyntax
		}
	}
	return o, ""
}

func cmdSet(c *client, args [][]byte) {
	o, e := parseSetOpts(args[3:])
	if e != "" {
		c.w.err(e)
		return
	}
	ms, e := o.exp.millis(c, "set")
	if e != "" {
		c.w.err(e)
		return
	}
	key, val := args[1], args[2]
	d := c.s.db
	defer unlock1(c.lock(key))
	if !o.nx && !o.xx && !o.get {
		if err := c.setWithExpiry(key, val, ms, o.keepTTL, strings.HasSuffix(o.exp.unit, "AT")); err != nil {
			c.replyErr(err)
			return
		}
		c.w.ok()
		return
	}
	tag, old, found, err := d.meta(&c.sc, key)
	if err != nil {
		c.replyErr(err)
		return
	}
	if o.get && found && tag != tagString {
		c.w.err(errWrongType)
		return
	}
	var prev []byte
	if o.get && found {
		prev = bytes.Clone(old)
	}
	reply := func() {
		if o.get {
			c.w.bulkOrNil(prev, found)
		} else {
			c.w.null()
		}
	}
	if (o.nx && found) || (o.xx && !found) {
		reply()
		return
	}
	if err := c.setWithExpiry(key, val, ms, o.keepTTL, strings.HasSuffix(o.exp.unit, "AT")); err != nil {
		c.replyErr(err)
		return
	}
	if o.get {
		reply()
	} else {
		c.w.ok()
	}
}

func cmdSetNX(c *client, args [][]byte) {
	d := c.s.db
	defer unlock1(c.lock(args[1]))
	_, _, found, err := d.meta(&c.sc, args[1])
	if err == nil && !found {
		err = d.putString(&c.sc, args[1], args[2])
	}
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.int(b2i(!found))
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func cmdGetSet(c *client, args [][]byte) {
	d := c.s.db
	defer unlock1(c.lock(args[1]))
	old, found, err := d.getString(&c.sc, args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	prev := bytes.Clone(old)
	if err := d.putString(&c.sc, args[1], args[2]); err != nil {
		c.replyErr(err)
		return
	}
	c.w.bulkOrNil(prev, found)
}

func cmdGetDel(c *client, args [][]byte) {
	d := c.s.db
	defer unlock1(c.lock(args[1]))
	old, found, err := d.getString(&c.sc, args[1])
	if err != nil || !found {
		if err != nil {
			c.replyErr(err)
		} else {
			c.w.null()
		}
		return
	}
	prev := bytes.Clone(old)
	if _, err := d.deleteKey(&c.sc, args[1]); err != nil {
		c.replyErr(err)
		return
	}
	c.w.bulk(prev)
}

func cmdMGet(c *client, args [][]byte) {
	if len(args) == 2 {
		c.mget(args)
		return
	}
	// Several keys are read in one View, so that MGET is atomic as
	// Redis's: a transaction's writes are all seen or none.
	mark := len(c.w.b)
	err := c.view(func() error {
		c.w.b = c.w.b[:mark]
		c.mget(args)
		return nil
	})
	if err != nil {
		c.w.b = c.w.b[:mark]
		c.replyErr(err)
	}
}

func (c *client) mget(args [][]byte) {
	c.w.array(len(args) - 1)
	for _, k := range args[1:] {
		v, ok, err := c.s.db.getString(&c.sc, k)
		if err != nil && !errors.Is(err, errWrongTypeE) && !errors.Is(err, rskv.ErrKeyTooLarge) {
			// Redis has no per-element errors in MGET; a store failure is
			// an error element, which clients report.
			c.replyErr(err)
			continue
		}
		c.w.bulkOrNil(v, ok && err == nil)
	}
}

func keysOf(args [][]byte, step int) [][]byte {
	keys := make([][]byte, 0, len(args)/step)
	for i := 0; i < len(args); i += step {
		keys = append(keys, args[i])
	}
	return keys
}

func cmdMSet(c *client, args [][]byte) {
	if len(args)%2 == 0 {
		c.w.err(errArity("mset"))
		return
	}
	d := c.s.db
	unlock := c.lockKeys(keysOf(args[1:], 2))
	defer unlock()
	err := c.atomic(func() error {
		for i := 1; i < len(args); i += 2 {
			if err := d.putString(&c.sc, args[i], args[i+1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.ok()
}

func cmdMSetNX(c *client, args [][]byte) {
	if len(args)%2 == 0 {
		c.w.err(errArity("msetnx"))
		return
	}
	d := c.s.db
	unlock := c.lockKeys(keysOf(args[1:], 2))
	defer unlock()
	set := false
	err := c.atomic(func() error {
		set = false
		for i := 1; i < len(args); i += 2 {
			_, _, found, err := d.meta(&c.sc, args[i])
			if err != nil || found {
				return err
			}
		}
		for i := 1; i < len(args); i += 2 {
			if err := d.putString(&c.sc, args[i], args[i+1]); err != nil {
				return err
			}
		}
		set = true
		return nil
	})
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.int(b2i(set))
}

// rmwOp says what rmwString does to a value; its argument is in the
// client's rmw fields. One method bound once per client does all of them,
// so INCR and APPEND allocate no closure per command.
type rmwOp int

const (
	opIncr rmwOp = iota
	opIncrFloat
	opAppend
)

// rmwState is the argument and outcome of one rmwString call.
type rmwState struct {
	fn      func([]byte, bool) []byte // c.rmwApply, bound once
	op      rmwOp
	delta   int64
	incrF   *big.Float
	add     []byte
	result  int64
	created bool
	err     error
	buf     []byte
}

// rmwString applies c.rmw.op to key's string value (absent: empty) under
// the key's stripe, in one store RMW; an error keeps the value. It returns
// the new value (valid until the next command).
func (c *client) rmwString(key []byte) ([]byte, error) {
	d := c.s.db
	if err := checkKeyLen(key); err != nil {
		return nil, err
	}
	defer unlock1(c.lock(key))
	if c.rmw.fn == nil {
		c.rmw.fn = c.rmwApply
	}
	c.sc.k = metaKey(c.sc.k, key)
	out, err := d.rmw(&c.sc, c.sc.k, c.rmw.fn)
	c.rmw.add = nil
	if err != nil {
		return nil, err
	}
	if c.rmw.err != nil {
		if c.rmw.created {
			if err := d.del(&c.sc, c.sc.k); err != nil {
				return nil, err
			}
		}
		return nil, c.rmw.err
	}
	if c.rmw.created {
		if err := d.created(&c.sc, key); err != nil {
			return nil, err
		}
	}
	return out[1:], nil
}

// rmwApply is rmwString's RMW function: it must be pure (it may run more
// than once), so its outcome goes to c.rmw and is reset on each run.
func (c *client) rmwApply(old []byte, found bool) []byte {
	r := &c.rmw
	r.created, r.err = !found, nil
	if found && (len(old) == 0 || old[0] != tagString) {
		r.err = errWrongTypeE
		return old
	}
	var cur []byte
	if found {
		cur = old[1:]
	}
	b := append(r.buf[:0], tagString)
	switch r.op {
	case opIncr:
		n, err := parseStored(cur, found)
		if err == nil && ((r.delta < 0 && n < 0 && r.delta < math.MinInt64-n) || (r.delta > 0 && n > 0 && r.delta > math.MaxInt64-n)) {
			err = errOverflowE
		}
		if err != nil {
			r.err = err
			break
		}
		r.result = n + r.delta
		b = strconv.AppendInt(b, r.result, 10)
	case opIncrFloat:
		v, err := addFloat(cur, found, r.incrF, errNotFloatE)
		if err != nil {
			r.err = err
			break
		}
		b = append(b, v...)
	case opAppend:
		if int64(len(cur))+int64(len(r.add)) > c.s.cfg.MaxBulkLen {
			r.err = errTooBigE
			break
		}
		b = append(append(b, cur...), r.add...)
	}
	r.buf = b
	if r.err != nil {
		if !found {
			// RMW always writes: an absent key is created empty; rmwString
			// removes it again (under the same stripe).
			return []byte{tagString}
		}
		return old
	}
	return b
}

// parseStored parses a stored integer as Redis's string2ll.
func parseStored(v []byte, found bool) (int64, error) {
	if !found {
		return 0, nil
	}
	n, ok := parseInt(v)
	if !ok {
		return 0, errNotIntE
	}
	return n, nil
}

func (c *client) incrBy(key []byte, delta int64) {
	c.rmw.op, c.rmw.delta = opIncr, delta
	if _, err := c.rmwString(key); err != nil {
		c.replyErr(err)
		return
	}
	c.w.int(c.rmw.result)
}

func cmdIncr(c *client, args [][]byte) { c.incrBy(args[1], 1) }
func cmdDecr(c *client, args [][]byte) { c.incrBy(args[1], -1) }

func cmdIncrBy(c *client, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		c.w.err(errNotInt)
		return
	}
	c.incrBy(args[1], n)
}

func cmdDecrBy(c *client, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		c.w.err(errNotInt)
		return
	}
	if n == math.MinInt64 {
		c.w.err("ERR decrement would overflow")
		return
	}
	c.incrBy(args[1], -n)
}

// parseLongDouble parses a float as Redis's string2ld (strtold on the whole
// string, no spaces, no NaN), into a 64-bit mantissa like x87's long double.
func parseLongDouble(b []byte) (*big.Float, bool) {
	if len(b) == 0 || len(b) > 5000 || isSpace(b[0]) || isSpace(b[len(b)-1]) {
		return nil, false
	}
	f, _, err := new(big.Float).SetPrec(64).Parse(string(b), 0)
	if err != nil {
		return nil, false
	}
	return f, true
}

// formatLongDouble is Redis's ld2string with LD_STR_HUMAN: "%.17Lf" with
// trailing zeros (and a trailing point) removed.
func formatLongDouble(f *big.Float) []byte {
	s := f.Text('f', 17)
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return []byte(s)
}

// addFloat is INCRBYFLOAT's arithmetic on a stored value.
func addFloat(old []byte, found bool, incr *big.Float, notFloat error) ([]byte, error) {
	cur := new(big.Float).SetPrec(64)
	if found {
		v, ok := parseLongDouble(old)
		if !ok {
			return nil, notFloat
		}
		cur = v
	}
	if cur.IsInf() || incr.IsInf() {
		return nil, errNaNInfE
	}
	sum := new(big.Float).SetPrec(64).Add(cur, incr)
	if sum.IsInf() {
		return nil, errNaNInfE
	}
	return formatLongDouble(sum), nil
}

func cmdIncrByFloat(c *client, args [][]byte) {
	incr, ok := parseLongDouble(args[2])
	if !ok {
		c.w.err(errNotFloat)
		return
	}
	if incr.IsInf() {
		c.w.err(errNaNInf)
		return
	}
	c.rmw.op, c.rmw.incrF = opIncrFloat, incr
	out, err := c.rmwString(args[1])
	c.rmw.incrF = nil
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.bulk(out)
}

func cmdAppend(c *client, args [][]byte) {
	c.rmw.op, c.rmw.add = opAppend, args[2]
	out, err := c.rmwString(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.int(int64(len(out)))
}

func cmdStrlen(c *client, args [][]byte) {
	v, _, err := c.s.db.getString(&c.sc, args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.int(int64(len(v)))
}

func cmdGetRange(c *client, args [][]byte) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.w.err(errNotInt)
		return
	}
	v, _, err := c.s.db.getString(&c.sc, args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.bulk(getRange(v, start, end))
}

// getRange is Redis 7's GETRANGE arithmetic.
func getRange(v []byte, start, end int64) []byte {
	n := int64(len(v))
	if start < 0 && end < 0 && start > end {
		return nil
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		return []byte{}
	}
	return v[start : end+1]
}

func cmdSetRange(c *client, args [][]byte) {
	off, ok := parseInt(args[2])
	if !ok {
		c.w.err(errNotInt)
		return
	}
	if off < 0 {
		c.w.err(errOffset)
		return
	}
	val := args[3]
	d := c.s.db
	defer unlock1(c.lock(args[1]))
	old, found, err := d.getString(&c.sc, args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	if len(val) == 0 {
		c.w.int(int64(len(old)))
		return
	}
	if off+int64(len(val)) > c.s.cfg.MaxBulkLen {
		c.w.err(errTooBig)
		return
	}
	nv := make([]byte, 1, 1+max(int64(len(old)), off+int64(len(val))))
	nv[0] = tagString
	nv = append(nv, old...)
	if need := off + int64(len(val)); int64(len(nv)-1) < need {
		nv = append(nv, make([]byte, need-int64(len(nv)-1))...)
	}
	copy(nv[1+off:], val)
	c.sc.k = metaKey(c.sc.k, args[1])
	if err := d.putKeep(&c.sc, c.sc.k, nv); err != nil {
		c.replyErr(err)
		return
	}
	if !found {
		if err := d.created(&c.sc, args[1]); err != nil {
			c.replyErr(err)
			return
		}
	}
	c.w.int(int64(len(nv) - 1))
}
