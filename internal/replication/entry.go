package replication

import (
	"encoding/binary"

	"github.com/cockroachdb/errors"
)

// Log entry format (the Data of a raft LogCommand), little endian:
//
//	[0]    version (entryVersion)
//	[1]    kind: kindCmd, kindTick, kindPeer
//	[2,10) the proposer's clock, Unix nanoseconds
//	kindCmd:  [10] 1 if the reply is RESP3; uvarint count of commands, each
//	          a uvarint count of arguments, each a uvarint length and bytes
//	kindTick: nothing more (moves the replicated clock)
//	kindPeer: uvarint-length-prefixed node ID and RESP address (empty
//	          address: the node left)
//
// Raft checksums nothing itself, but bbolt and the transports carry the
// entry whole; a malformed entry stops the state machine (errBadEntry),
// never applies half.

const entryVersion = 1

const (
	kindCmd  = 1
	kindTick = 2
	kindPeer = 3
)

// errBadEntry is a log entry this version cannot decode.
var errBadEntry = errors.New("replication: malformed log entry")

// entry is a decoded log entry.
type entry struct {
	kind  byte
	ts    int64
	resp3 bool
	cmds  [][][]byte
	id    string
	addr  string
}

func encodeCmd(ts int64, resp3 bool, cmds [][][]byte) []byte {
	n := 11
	for _, c := range cmds {
		n += binary.MaxVarintLen32
		for _, a := range c {
			n += binary.MaxVarintLen32 + len(a)
		}
	}
	b := make([]byte, 0, n+binary.MaxVarintLen32)
	b = append(b, entryVersion, kindCmd)
	b = binary.LittleEndian.AppendUint64(b, uint64(ts))
	if resp3 {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		for _, a := range c {
			b = binary.AppendUvarint(b, uint64(len(a)))
			b = append(b, a...)
		}
	}
	return b
}

func encodeTick(ts int64) []byte {
	b := []byte{entryVersion, kindTick}
	return binary.LittleEndian.AppendUint64(b, uint64(ts))
}

func encodePeer(ts int64, id, addr string) []byte {
	b := []byte{entryVersion, kindPeer}
	b = binary.LittleEndian.AppendUint64(b, uint64(ts))
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	b = binary.AppendUvarint(b, uint64(len(addr)))
	return append(b, addr...)
}

// decodeEntry decodes b; the arguments alias b.
func decodeEntry(b []byte) (entry, error) {
	var e entry
	if len(b) < 10 || b[0] != entryVersion {
		return e, errors.Wrapf(errBadEntry, "%d bytes, version %v", len(b), b[:min(1, len(b))])
	}
	e.kind = b[1]
	e.ts = int64(binary.LittleEndian.Uint64(b[2:10]))
	p := b[10:]
	uv := func() (uint64, bool) {
		v, k := binary.Uvarint(p)
		if k <= 0 {
			return 0, false
		}
		p = p[k:]
		return v, true
	}
	bytesN := func() ([]byte, bool) {
		n, ok := uv()
		if !ok || n > uint64(len(p)) {
			return nil, false
		}
		v := p[:n:n]
		p = p[n:]
		return v, true
	}
	switch e.kind {
	case kindTick:
		return e, nil
	case kindPeer:
		id, ok1 := bytesN()
		addr, ok2 := bytesN()
		if !ok1 || !ok2 || len(id) == 0 {
			return e, errors.Wrap(errBadEntry, "peer entry")
		}
		e.id, e.addr = string(id), string(addr)
		return e, nil
	case kindCmd:
		if len(p) < 1 {
			return e, errors.Wrap(errBadEntry, "command entry without protocol byte")
		}
		e.resp3 = p[0] == 1
		p = p[1:]
		nc, ok := uv()
		if !ok || nc == 0 || nc > uint64(len(p)) {
			return e, errors.Wrap(errBadEntry, "command count")
		}
		e.cmds = make([][][]byte, 0, nc)
		for range nc {
			na, ok := uv()
			if !ok || na == 0 || na > uint64(len(p)) {
				return e, errors.Wrap(errBadEntry, "argument count")
			}
			args := make([][]byte, 0, na)
			for range na {
				a, ok := bytesN()
				if !ok {
					return e, errors.Wrap(errBadEntry, "argument")
				}
				args = append(args, a)
			}
			e.cmds = append(e.cmds, args)
		}
		if len(p) != 0 {
			return e, errors.Wrapf(errBadEntry, "%d bytes after the commands", len(p))
		}
		return e, nil
	}
	return e, errors.Wrapf(errBadEntry, "kind %d", e.kind)
}
