package server

import (
	"strconv"
	"strings"

	"github.com/tidwall/redcon"
)

// replies accumulates a connection's replies in RESP2 or RESP3. RESP2
// encodings come from redcon's Append functions; RESP3 adds null, maps,
// doubles and verbatim strings where Redis 7 uses them.
type replies struct {
	b     []byte
	resp3 bool
}

func (w *replies) ok()                 { w.b = append(w.b, "+OK\r\n"...) }
func (w *replies) simple(s string)     { w.b = redcon.AppendString(w.b, s) }
func (w *replies) err(s string)        { w.b = redcon.AppendError(w.b, s) }
func (w *replies) bulk(v []byte)       { w.b = redcon.AppendBulk(w.b, v) }
func (w *replies) bulkString(v string) { w.b = redcon.AppendBulkString(w.b, v) }
func (w *replies) int(n int64)         { w.b = redcon.AppendInt(w.b, n) }
func (w *replies) array(n int)         { w.b = redcon.AppendArray(w.b, n) }
func (w *replies) bulkInt(n int64)     { w.b = redcon.AppendBulkInt(w.b, n) }
func (w *replies) bulkUint(n uint64)   { w.b = redcon.AppendBulkUint(w.b, n) }
func (w *replies) emptyArray()         { w.b = append(w.b, "*0\r\n"...) }
func (w *replies) bulkOrNil(v []byte, ok bool) {
	if ok {
		w.bulk(v)
	} else {
		w.null()
	}
}

// null is a missing value: "$-1" in RESP2, "_" in RESP3.
func (w *replies) null() {
	if w.resp3 {
		w.b = append(w.b, "_\r\n"...)
	} else {
		w.b = append(w.b, "$-1\r\n"...)
	}
}

// nullArray is a missing array: "*-1" in RESP2, "_" in RESP3.
func (w *replies) nullArray() {
	if w.resp3 {
		w.b = append(w.b, "_\r\n"...)
	} else {
		w.b = append(w.b, "*-1\r\n"...)
	}
}

// mapHeader starts a map of n pairs: a flat array of 2n in RESP2.
func (w *replies) mapHeader(n int) {
	if w.resp3 {
		w.b = append(w.b, '%')
		w.b = strconv.AppendInt(w.b, int64(n), 10)
		w.b = append(w.b, '\r', '\n')
	} else {
		w.array(2 * n)
	}
}

// setHeader starts a set of n elements: an array in RESP2.
func (w *replies) setHeader(n int) {
	if w.resp3 {
		w.b = append(w.b, '~')
		w.b = strconv.AppendInt(w.b, int64(n), 10)
		w.b = append(w.b, '\r', '\n')
	} else {
		w.array(n)
	}
}

// verbatim is a text blob: "=" with the txt format in RESP3, bulk in RESP2.
func (w *replies) verbatim(s string) {
	if !w.resp3 {
		w.bulkString(s)
		return
	}
	w.b = append(w.b, '=')
	w.b = strconv.AppendInt(w.b, int64(len(s)+4), 10)
	w.b = append(w.b, "\r\ntxt:"...)
	w.b = append(w.b, s...)
	w.b = append(w.b, '\r', '\n')
}

// Redis 7's error texts, one home for each.
const (
	errWrongType    = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errNotInt       = "ERR value is not an integer or out of range"
	errNotFloat     = "ERR value is not a valid float"
	errSyntax       = "ERR syntax error"
	errOverflow     = "ERR increment or decrement would overflow"
	errNaNInf       = "ERR increment would produce NaN or Infinity"
	errHashNotInt   = "ERR hash value is not an integer"
	errHashNotFloat = "ERR hash value is not a float"
	errNoAuth       = "NOAUTH Authentication required."
	errWrongPass    = "WRONGPASS invalid username-password pair or user is disabled."
	errNoSuchKey    = "ERR no such key"
	errDBIndex      = "ERR DB index is out of range"
	errInvalidCur   = "ERR invalid cursor"
	errOffset       = "ERR offset is out of range"
	errTooBig       = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
)

func errArity(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

// errUnknownCommand is Redis 7's text: the name and up to 128 bytes of each
// of the first arguments, each quoted and followed by a space.
func errUnknownCommand(args [][]byte) string {
	var sb strings.Builder
	sb.WriteString("ERR unknown command '")
	sb.WriteString(clip(args[0]))
	sb.WriteString("', with args beginning with: ")
	for i := 1; i < len(args) && sb.Len() < 128; i++ {
		sb.WriteByte('\'')
		sb.WriteString(clip(args[i]))
		sb.WriteString("' ")
	}
	return sb.String()
}

func errUnknownSubcommand(sub []byte, cmd string) string {
	return "ERR unknown subcommand '" + clip(sub) + "'. Try " + strings.ToUpper(cmd) + " HELP."
}

// clip shortens an argument quoted in an error to 128 bytes and removes line
// breaks, which would end the error reply.
func clip(b []byte) string {
	if len(b) > 128 {
		b = b[:128]
	}
	s := string(b)
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	}
	return s
}
