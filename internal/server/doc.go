// Package server answers the Redis protocol (RESP2 and RESP3) over one
// rskv Store: `rskv serve` (cmd/rskv/serve.go) is this package plus flags,
// signals and a Prometheus endpoint. The contract is ../shared/SERVER.md.
//
// # Connections
//
// Each connection has one goroutine, owned by Serve, that parses commands
// out of its own buffer (proto.go), runs them in order (table.go) and writes
// their replies when it has run everything it has received or when
// Config.OutputFlush bytes of replies are pending: a pipeline of n commands
// costs one read and one write, not n. Requests are parsed by this package,
// not by redcon's Reader, because the limits must hold before memory is
// spent: redcon's Reader has no bulk-length limit and grows its buffer to
// whatever a header announces arrives; here proto-max-bulk-len (512 MB),
// the 64 KiB inline and header limits, the unauthenticated 10-element
// array limit and the buffer growth (never beyond twice what was received)
// are Redis's. Replies are encoded with redcon's Append functions (RESP2)
// plus the RESP3 types Redis 7 uses (null, map, set, verbatim).
//
// Bad protocol input gets Redis's "-ERR Protocol error: ..." and closes that
// connection only. A client that does not read its replies blocks its own
// goroutine on its socket (so a server never holds more than OutputFlush of
// replies for it) and is closed after Config.WriteTimeout without progress.
//
// Shutdown closes the listener, wakes every connection blocked in a read,
// lets each run and answer what it has read, and returns when every
// connection goroutine has ended; only then may the caller close the Store.
//
// # Encoding
//
// Every store key starts with a byte naming its key space (db.go):
//
//	'k' key            -> 's' value                       a string
//	'k' key            -> 'h' 1 id(8) count pending...    a hash header
//	'f' id(8) field    -> uvarint(slot) value             a hash field
//	'i' id(8) slot(8)  -> field                           the hash's slot table
//	'r' source         -> destination                     a RENAME in progress
//
// The type tag in the first byte of the value under 'k' makes WRONGTYPE one
// read, and GET one read. Hashes keep one store key per field because the
// store is a hash index without ordered iteration: a field key makes HGET,
// HSET of an existing field and HINCRBY one store operation (HINCRBY an
// in-place RMW), independent of the hash's size, where a whole-hash value
// would make every HSET rewrite the hash. Store.Scan with a prefix reads the
// whole log, so the hash also keeps a dense slot table (slot i -> field):
// HGETALL and HSCAN walk slots 0..count-1 and cost what the hash holds, not
// what the store holds. HDEL moves the last slot's field into the freed
// slot, keeping the table dense in O(1). Fields are keyed by a random 64-bit
// id stored in the header rather than by the key's name, so that dropping a
// hash (DEL, SET over it, RENAME onto it) is the header's removal at once:
// its fields are unreachable immediately and removed after, and RENAME of a
// hash is O(1).
//
// # Consistency and crash safety
//
// Writers of a key hold its stripe (one of 1024 mutexes by key hash); hash
// readers hold it shared. Single-key string commands are one store write,
// atomic to readers and across a crash. The store has no multi-key atomic
// write yet (Batch comes with API v2), so changes spanning several store
// keys are made crash-safe by order and intent:
//
//   - Adding hash fields first writes the header with a "pending add" of the
//     new names, then the fields and slots, then the header with the new
//     count: a crash rolls the addition back at startup (the client had no
//     reply).
//   - Removing a field writes a "pending remove" (slot, field, last field)
//     first and then idempotent steps: a crash rolls it forward at startup.
//   - RENAME writes an intent record, the destination, removes the source,
//     then the intent; startup completes or undoes it.
//   - Fields of a hash whose header is gone are removed at startup.
//
// The startup pass (recover.go) also counts the keys for DBSIZE, reading
// the store once. MSET, DEL of several keys and FLUSHDB are not atomic to
// concurrent readers (each key is) nor across a crash (a prefix may
// survive); HSET of new fields is.
//
// # SCAN
//
// A SCAN cursor is a position in the 64-bit hash space of the keys: a call
// returns the COUNT keys with the smallest hashes at or above the cursor,
// and the next cursor is the hash of the first key it left out. A key's hash
// never changes, so every key present for the whole scan lies in exactly
// one call's range and is returned by it: Redis's guarantee, with no state
// on the server. MATCH and TYPE filter before COUNT. A stateless call reads
// the whole store (Store.Scan has no starting address), so SCAN 0 also takes
// a snapshot of the keys sorted by hash on its connection (at most 64 MiB
// for all connections together), and the calls that continue that scan on
// that connection are served from it: a snapshot taken after the scan began
// holds every key present for the whole scan, so the guarantee holds, and a
// full scan reads the store once (redis-cli --scan). A cursor continued on
// another connection is served statelessly.
//
// HSCAN's cursor is a slot: it walks the slot table downwards, so the
// visited slots are the high ones. A removal moves the field of the highest
// slot into the freed, lower slot: that field was either visited already,
// or it moves from an unvisited slot to a lower, still unvisited one. New
// fields take the next slot up. So a field present for the whole scan is
// returned at least once.
//
// # Not yet
//
// Key expiry (EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, SETEX, PSETEX, GETEX,
// SET EX/PX/EXAT/PXAT) waits for the store's TTLs, and MULTI, EXEC, DISCARD,
// WATCH and UNWATCH for its transactions; they answer Redis's unknown
// command error (SET ... EX a clear error). TTL, PTTL, EXPIRETIME and
// PEXPIRETIME answer -1 (no key has an expiry) and PERSIST 0. Adding a
// command is adding a row to a table in cmd_*.go.
package server
