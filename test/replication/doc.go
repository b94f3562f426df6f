// Package replication is the black-box test suite of rskv serve's
// replicated mode (SERVER.md, "Replicated mode"): it builds cmd/rskv once,
// runs 3-node clusters of real processes on loopback, drives clients on every
// node while it kills (SIGKILL), restarts and pauses (SIGSTOP/SIGCONT) nodes,
// and checks the recorded histories for linearizability with porcupine
// (internal/lincheck), that every acknowledged write is on every node, and
// that a node that was down catches up through a snapshot.
//
// The same harness runs a single non-replicated node too (with kill -9 and
// pauses): its histories must be linearizable as well.
//
// The default run is bounded for CI (go test ./...); RSKV_LONG=1 runs longer
// fault schedules. RSKV_SEED=N replays a schedule. RSKV_RACE=1 builds the
// servers with -race (their logs are scanned for reports and panics always).
// A history that fails the check leaves porcupine's visualization in
// RSKV_ARTIFACTS (default: the system temp dir), named in the failure.
//
//	go test ./test/replication -v                     # about 1.5 minutes
//	RSKV_LONG=1 go test ./test/replication -v -timeout 30m
//	RSKV_SEED=123 go test ./test/replication -run TestClusterLinearizable -v
package replication
