// Package supervision tests rskv's background services end to end: the
// supervision tree's lifecycle, the services doing their jobs against a real
// store, injected faults, and the memory budget under steady writes.
package supervision
