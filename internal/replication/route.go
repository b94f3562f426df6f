package replication

import (
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/hashicorp/raft"
	"github.com/tidwall/redcon"
)

// What a command does in replicated mode (server.Replicator): on the
// leader a write is proposed and answered with the reply its entry
// produced when applied; a read confirms leadership and waits for the
// applied index to reach the commit index it saw (a read index), then runs
// locally; on a follower both are forwarded to the leader's RESP address.
// Every path answers within replyBudget: a -TRYAGAIN (the outcome of a
// write may be unknown) or -CLUSTERDOWN (no leader) error otherwise.

// replyBudget bounds every replicated command (SERVER.md: within 5 s).
const replyBudget = 4500 * time.Millisecond

// leaderWait is how long a command waits for a leader to be elected.
const leaderWait = 3500 * time.Millisecond

const (
	errNoLeader = "CLUSTERDOWN no raft leader is known; retry later"
	errClosed   = "CLUSTERDOWN this node is shutting down"
)

func appendErr(dst []byte, msg string) []byte { return redcon.AppendError(dst, msg) }

// Write implements server.Replicator.
func (n *Node) Write(dst []byte, cmds [][][]byte, resp3, forwarded bool) []byte {
	deadline := time.Now().Add(replyBudget)
	return n.route(dst, cmds, resp3, forwarded, deadline, func() []byte {
		return n.propose(dst, encodeCmd(time.Now().UnixNano(), resp3, cmds))
	})
}

// route runs onLeader if this node leads, else forwards cmds to the
// leader, waiting up to leaderWait for one to be known.
func (n *Node) route(dst []byte, cmds [][][]byte, resp3, forwarded bool, deadline time.Time, onLeader func() []byte) []byte {
	noLeaderBy := time.Now().Add(leaderWait)
	for {
		if n.closed.Load() {
			return appendErr(dst, errClosed)
		}
		if errp := n.fsm.failed.Load(); errp != nil {
			return appendErr(dst, "CLUSTERDOWN "+oneLine((*errp).Error()))
		}
		if n.raft.State() == raft.Leader {
			return onLeader()
		}
		if forwarded {
			return appendErr(dst, "TRYAGAIN this node is not the raft leader (forwarded request)")
		}
		if addr := n.leaderRESP(); addr != "" && addr != n.cfg.RESPAddr {
			out, err := n.fwd.do(dst, addr, resp3, cmds, deadline)
			if err == nil {
				return out
			}
			if !errors.Is(err, errForwardSend) {
				return appendErr(dst, "TRYAGAIN the leader did not answer: "+oneLine(err.Error()))
			}
			n.log.Debug("forward failed", "leader", addr, "err", err)
		}
		if time.Now().After(noLeaderBy) {
			return appendErr(dst, errNoLeader)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-n.stop:
			return appendErr(dst, errClosed)
		}
	}
}

// propose commits data and appends the reply its application produced.
func (n *Node) propose(dst, data []byte) []byte {
	n.lastPropose.Store(monoNow())
	f := n.raft.Apply(data, time.Second)
	if err := f.Error(); err != nil {
		return appendErr(dst, raftErr(err))
	}
	switch r := f.Response().(type) {
	case []byte:
		return append(dst, r...)
	case error:
		return appendErr(dst, "CLUSTERDOWN "+oneLine(r.Error()))
	}
	return appendErr(dst, "ERR replication: the entry produced no reply")
}

func raftErr(err error) string {
	switch {
	case errors.Is(err, raft.ErrRaftShutdown):
		return errClosed
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return "TRYAGAIN " + oneLine(err.Error()) + " (the command may or may not have been applied)"
	}
	return "CLUSTERDOWN " + oneLine(err.Error())
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// Read implements server.Replicator.
func (n *Node) Read(dst []byte, args [][]byte, resp3, forwarded bool) ([]byte, bool) {
	deadline := time.Now().Add(replyBudget)
	local := false
	out := n.route(dst, [][][]byte{args}, resp3, forwarded, deadline, func() []byte {
		if msg := n.readIndex(deadline); msg != "" {
			return appendErr(dst, msg)
		}
		local = true
		return dst
	})
	return out, local
}

// readIndex makes a read on the leader linearizable: it waits until this
// leader has committed an entry of its term, takes the commit index,
// confirms it still leads (a heartbeat round with a majority), and waits
// for the state machine to apply up to that index. "" on success.
func (n *Node) readIndex(deadline time.Time) string {
	term := n.raft.CurrentTerm()
	for n.readyTerm.Load() != term {
		if time.Now().After(deadline) || n.raft.State() != raft.Leader {
			return "TRYAGAIN the new leader has not committed an entry of its term yet"
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-n.stop:
			return errClosed
		}
		term = n.raft.CurrentTerm()
	}
	idx := n.raft.CommitIndex()
	if err := n.verifyLeader(deadline); err != nil {
		return raftErr(err)
	}
	// The term did not change from before the commit index was read to
	// after leadership was confirmed: this node led, in that term, all along.
	if n.raft.CurrentTerm() != term {
		return "TRYAGAIN leadership changed during the read"
	}
	if !n.fsm.waitApplied(idx, deadline, n.stop) {
		return "TRYAGAIN the state machine did not catch up with the commit index in time"
	}
	return ""
}

// readyToRead reports whether this node leads and may serve reads.
func (n *Node) readyToRead() bool {
	return n.raft.State() == raft.Leader && n.readyTerm.Load() == n.raft.CurrentTerm()
}

// leaderRESP is the leader's RESP address, "" if unknown.
func (n *Node) leaderRESP() string {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return ""
	}
	return n.fsm.peer(string(id))
}

// Admin implements server.Replicator: RAFT JOIN, REMOVE, SNAPSHOT.
func (n *Node) Admin(dst []byte, args [][]byte, resp3, forwarded bool) []byte {
	sub := strings.ToUpper(string(args[1]))
	switch {
	case sub == "JOIN" && len(args) == 5:
		id, raddr, resp := string(args[2]), string(args[3]), string(args[4])
		return n.route(dst, [][][]byte{args}, resp3, forwarded, time.Now().Add(replyBudget), func() []byte {
			if r := n.propose(nil, encodePeer(time.Now().UnixNano(), id, resp)); len(r) > 0 && r[0] == '-' {
				return append(dst, r...)
			}
			if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raddr), 0, replyBudget).Error(); err != nil {
				return appendErr(dst, raftErr(err))
			}
			n.log.Info("added voter", "id", id, "raft_addr", raddr, "resp_addr", resp)
			return append(dst, "+OK\r\n"...)
		})
	case sub == "REMOVE" && len(args) == 3:
		id := string(args[2])
		return n.route(dst, [][][]byte{args}, resp3, forwarded, time.Now().Add(replyBudget), func() []byte {
			if !n.isMember(id) {
				return appendErr(dst, "ERR no raft member has the ID "+strconv.Quote(id))
			}
			if err := n.raft.RemoveServer(raft.ServerID(id), 0, replyBudget).Error(); err != nil {
				return appendErr(dst, raftErr(err))
			}
			if id != n.cfg.NodeID {
				if r := n.propose(nil, encodePeer(time.Now().UnixNano(), id, "")); len(r) > 0 && r[0] == '-' {
					return append(dst, r...)
				}
			}
			n.log.Info("removed member", "id", id)
			return append(dst, "+OK\r\n"...)
		})
	case sub == "SNAPSHOT" && len(args) == 2:
		if err := n.raft.Snapshot().Error(); err != nil {
			return appendErr(dst, "ERR snapshot: "+oneLine(err.Error()))
		}
		return append(dst, "+OK\r\n"...)
	case sub == "JOIN" || sub == "REMOVE" || sub == "SNAPSHOT":
		return appendErr(dst, "ERR wrong number of arguments for 'raft|"+strings.ToLower(sub)+"' command")
	}
	return appendErr(dst, "ERR unknown subcommand '"+string(args[1])+"'. Try RAFT JOIN, REMOVE, SNAPSHOT, STALEREADS.")
}

func (n *Node) isMember(id string) bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return true
		}
	}
	return false
}

// Info implements server.Replicator: INFO's raft section, as SERVER.md.
func (n *Node) Info() []string {
	voters := 0
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				voters++
			}
		}
	}
	return []string{
		"raft_state:" + n.raft.State().String(),
		"raft_leader_addr:" + n.leaderRESP(),
		"raft_node_id:" + n.cfg.NodeID,
		"raft_applied_index:" + strconv.FormatUint(n.fsm.applied.Load(), 10),
		"raft_commit_index:" + strconv.FormatUint(n.raft.CommitIndex(), 10),
		"raft_peers:" + strconv.Itoa(voters),
	}
}
