package main

import (
	"encoding/hex"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/cockroachdb/errors"
)

// codec turns command-line arguments into bytes and bytes into printable
// text, as text or as hex.
type codec struct {
	hex bool
}

// decode returns the bytes an argument stands for.
func (c codec) decode(what, arg string) ([]byte, error) {
	if !c.hex {
		return []byte(arg), nil
	}
	b, err := hex.DecodeString(arg)
	if err != nil {
		return nil, usageError{errors.Wrapf(err, "%s %q is not hex", what, arg)}
	}
	return b, nil
}

// encode returns b for printing: hex with --hex; otherwise b itself when it
// is printable (see printable), else Go-quoted.
func (c codec) encode(b []byte) string {
	if c.hex {
		return hex.EncodeToString(b)
	}
	if printable(b) {
		return string(b)
	}
	return strconv.Quote(string(b))
}

// printable reports whether b can be printed as is: non-empty UTF-8 of
// printable characters (spaces allowed; tabs and line breaks not) that does
// not start with a double quote, which would read as a quoted string.
func printable(b []byte) bool {
	if len(b) == 0 || b[0] == '"' || !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
