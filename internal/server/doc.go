// Package server answers the Redis protocol (RESP2 and RESP3) over one
// rskv Store: `rskv serve` (cmd/rskv/serve.go) is this package plus flags,
// signals and a Prometheus endpoint. The contract is ../shared/SERVER.md.
//
// # Connections
//
// On Linux, connections are served by a few event loops (Config.IO
// IOEpoll, the default; loop.go), each with its own epoll instance: one
// epoll_wait returns the ready connections, each is read once, its
// complete commands are run in order by exec and, at the end of the pass,
// their replies written with one write, so a request costs a read, a write and a share of an
// epoll_wait (a goroutine per connection adds a read that fails with
// EAGAIN, a park and a netpoll wake-up). A command that may block (SAVE,
// FLUSHALL, EXEC, KEYS, SCAN, a write under --sync always: mayBlock) is not
// run by a loop: the connection is handed, with that command, to a worker
// goroutine that runs it and the commands after it until one need not
// block, then hands it back; a connection has one owner at a time, so its
// replies keep their order. While a blocking command runs, loops run no
// command themselves (quiesce), so no loop waits on the stripes it holds.
// After a pass that served something a loop does not block at once: it
// polls for Config.IOHold (rskv serve --io-hold, default 200µs; negative:
// off), yielding between polls, so an unpipelined client's next request
// is found without waking a blocked thread (loop.go, "Holding the CPU").
// With Config.IO IOGoroutine (rskv serve --io goroutine; the only mode
// elsewhere) each connection has one goroutine, owned by Serve, that does
// the same with blocking reads and writes.
//
// Either way commands are parsed out of the connection's own buffer
// (proto.go) and replies are written when everything received has run or
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
// connection only. A client that does not read its replies is not read
// either once OutputFlush of replies are pending that its socket does not
// take (a loop waits for EPOLLOUT; a goroutine blocks on its socket), so
// the server never holds more than OutputFlush of replies for it, and it
// is closed after Config.WriteTimeout without progress.
//
// Shutdown closes the listener, stops reading, lets each connection run
// and answer what it has read (a connection with a worker when it comes
// back), and returns when every connection has been closed; only then may
// the caller close the Store.
//
// # Encoding
//
// Every store key starts with a byte naming its key space (db.go):
//
//	'k' key            -> 's' value                       a string
//	'k' key            -> 'h' 1 id(8) count 0             a hash header
//	'f' id(8) field    -> uvarint(slot) value             a hash field
//	'i' id(8) slot(8)  -> field                           the hash's slot table
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
// readers hold it shared. Every store access of a command goes through
// kv.go, which runs on the Store or, inside a transaction, on its Txn: the
// same command code serves both. A command that writes one store key is one
// store write (SET, INCR, HINCRBY on an existing field, EXPIRE). A command
// that writes several store keys is one Store.Update (client.atomic), so it
// is atomic to readers and across a crash: MSET, MSETNX, DEL/UNLINK of
// several keys, RENAME/RENAMENX (value and expiry move together), HSET
// and HSETNX of new fields, HDEL, HINCRBY of a new field. MGET of several
// keys is one Store.View. The hash intents of the v1 server ("pending add",
// "pending remove" in the header, RENAME intent keys) are gone: the header's
// last byte stays 0 (a non-zero one, written by that server after a crash,
// is refused as a bad format). DEL of one hash, SET over a hash and the
// drop of an expired hash remove the header first (the atomic point) and
// the fields after, outside a transaction (a hash may be large): a crash in
// between leaves fields no header names, which the startup pass removes.
//
// FLUSHDB and FLUSHALL delete in batches of 4096 store keys (db.go,
// flushBatch), each batch atomic, so that memory stays bounded for any
// store size; the whole flush is not atomic across a crash (a prefix of
// the batches may be applied; each hash either keeps its header or loses
// it, and orphaned fields are removed at startup).
//
// The startup pass (recover.go) reads the store once: it counts the keys
// for DBSIZE, loads the expiry index and removes orphaned hash fields.
//
// # Expiry
//
// A key's expiry is the store's expiry of its meta key (PutTTL, Expire,
// ExpiresAt): the store makes an expired key absent for every read and its
// expirer reclaims it. Redis's semantics follow from the store's: RMW keeps
// the expiry (INCR, APPEND, SETRANGE, HSET's header write), SET, GETSET,
// MSET replace it, RENAME moves it, a time in the past deletes the key. The
// Txn has no ExpiresAt, so a transaction remembers the expiry of the keys it
// wrote (kv.go, txState.exp) and reads the others' from the Store (their
// stripes are held). Times are Unix milliseconds as in Redis; PEXPIREAT's
// exact time is stored with Store.Expire.
//
// A hash's fields carry no expiry: the header's is checked on every field
// access, since fields are reached only through the header (its id names
// them), so they expire with it. The server keeps an index of the keys with
// an expiry, per stripe (expire.go); a sweeper goroutine, owned by Serve,
// looks at the due entries every 100 ms: it uncounts the key (DBSIZE falls
// without reads, as Redis's active expiry) and deletes an expired hash's
// slots and fields (the slots are dense: it walks them to the first gap).
// A write that finds an indexed key already expired takes the sweeper's
// place. The startup pass rebuilds the index and removes the fields of
// hashes that expired while the server was down.
//
// # Transactions
//
// MULTI queues commands (+QUEUED; a command refused at queue time, unknown
// or of wrong arity, makes EXEC answer EXECABORT). EXEC write-locks the
// stripes of every key its commands name and of the watched keys (all of
// them for a FLUSHDB), then runs the commands in one Store.Update: each sees
// the writes of those before it, and all of them commit or none, to readers
// and across a crash. A runtime error (WRONGTYPE) is that command's reply
// only, as in Redis. The server's own bookkeeping (key counts, expiry
// index) is noted during the Update and applied once after it commits,
// since Update may run the commands again on a conflict (the replies are
// rewritten then). WATCH registers a modification stamp for the key
// (multi.go, watchEntry): every write command naming the key moves it, so
// EXEC aborts (a nil array) after any write between WATCH and EXEC, even
// one that left the key as it was (SET to the same value), as in Redis.
// WATCH also records what the key held (its meta value, its expiry and,
// for a hash, a digest of its fields) and EXEC reads the same inside the
// Update: a change no command names (an expiry, FLUSHDB) aborts it too, as
// in Redis 7, and because the reads are the Txn's, a write racing the EXEC
// makes the Update conflict and run again. While no key is watched a write
// command pays one atomic load for this. KEYS, SCAN and FLUSHDB inside EXEC do not go
// through the Txn (the Store has no transactional scan). EXEC, DISCARD and
// RESET clear the connection's MULTI and WATCH state.
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
// # Adding a command
//
// Adding a command is adding a row to a table in cmd_*.go (or multi.go);
// its store access goes through kv.go so that it works inside EXEC.
package server
