// Package rskvdb adapts an rskv Store to the ycsb.DB interface, for the rskv
// command's bench and for the peer benchmark harness in bench/.
//
// Each operation maps to one Store call: Read to AppendValue (no allocation
// when the caller's buffer is large enough), Update to Put, and
// ReadModifyWrite to Store.RMW with ycsb.Modify as the pure update function,
// so a read-modify-write is atomic.
package rskvdb
