// Package replication is rskv's replicated mode: a hashicorp/raft member per
// `rskv serve` node whose state machine applies committed commands to the
// node's Store through the server's own command code (internal/server's
// Applier). See docs/replication.md for the design and its guarantees.
//
// One concept per file: entry.go is the log entry format, fsm.go the state
// machine (apply, snapshot, restore), node.go the raft member (start,
// bootstrap, join, leadership, close), route.go what a command does on a
// leader and on a follower (propose, read index, forward), forward.go the
// RESP client that forwards to the leader.
package replication
