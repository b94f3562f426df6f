package server

import "strings"

// raftCommands is RAFT, the replicated mode's command (docs/replication.md):
//
//	RAFT JOIN id raft-addr resp-addr   add a voter (what --join sends)
//	RAFT REMOVE id                     remove a member
//	RAFT SNAPSHOT                      take a raft snapshot now
//	RAFT STALEREADS ON|OFF             this connection's reads run locally
//	RAFT FORWARDED                     marks a forwarder's connection
func raftCommands() []*command {
	return []*command{
		{name: "raft", arity: -2, flags: flagAdmin | flagStale, group: "cluster", since: "rskv", summary: "Replicated mode: membership, snapshots, stale reads.", fn: cmdRaft},
	}
}

func cmdRaft(c *client, args [][]byte) {
	if c.s.repl == nil {
		c.w.err("ERR this server is not in replicated mode (start it with --node-id and --raft-addr)")
		return
	}
	switch sub := strings.ToUpper(string(args[1])); {
	case sub == "FORWARDED" && len(args) == 2:
		c.repl.forwarded = true
		c.w.ok()
	case sub == "STALEREADS" && len(args) == 3:
		switch strings.ToUpper(string(args[2])) {
		case "ON":
			c.repl.stale = true
		case "OFF":
			c.repl.stale = false
		default:
			c.w.err(errSyntax)
			return
		}
		c.w.ok()
	default:
		c.w.b = c.s.repl.Admin(c.w.b, args, c.w.resp3, c.repl.forwarded)
	}
}
