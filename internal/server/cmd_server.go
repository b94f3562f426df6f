package server

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/rskv-go/rskv/pkg/rskv"
)

// redisCompat is the Redis version whose replies this server follows.
const redisCompat = "7.0.0"

func serverCommands() []*command {
	const cn, sv = "connection", "server"
	return []*command{
		{name: "ping", arity: -1, flags: flagFast | flagStale, group: cn, since: "1.0.0", summary: "Returns the server's liveliness response.", fn: cmdPing},
		{name: "echo", arity: 2, flags: flagFast | flagStale, group: cn, since: "1.0.0", summary: "Returns the given string.", fn: cmdEcho},
		{name: "quit", arity: -1, flags: flagFast | flagNoAuth | flagStale | flagNoScript | flagLoading, group: cn, since: "1.0.0", summary: "Closes the connection.", fn: cmdQuit},
		{name: "hello", arity: -1, flags: flagFast | flagNoAuth | flagStale | flagNoScript | flagLoading, group: cn, since: "6.0.0", summary: "Handshakes with the Redis server.", fn: cmdHello},
		{name: "auth", arity: -2, flags: flagFast | flagNoAuth | flagStale | flagNoScript | flagLoading, group: cn, since: "1.0.0", summary: "Authenticates the connection.", fn: cmdAuth},
		{name: "select", arity: 2, flags: flagFast | flagStale | flagLoading, group: cn, since: "1.0.0", summary: "Changes the selected database.", fn: cmdSelect},
		{name: "client", arity: -2, flags: flagStale, group: cn, since: "2.4.0", summary: "A container for client connection commands.", fn: cmdClient, subs: clientSubs},
		{name: "command", arity: -1, flags: flagStale | flagLoading, group: sv, since: "2.8.13", summary: "Returns detailed information about all commands.", fn: cmdCommand, subs: commandSubs},
		{name: "info", arity: -1, flags: flagStale | flagLoading, group: sv, since: "1.0.0", summary: "Returns information and statistics about the server.", fn: cmdInfo},
		{name: "config", arity: -2, flags: flagStale | flagLoading, group: sv, since: "2.0.0", summary: "A container for server configuration commands.", fn: cmdConfig, subs: configSubs},
		{name: "save", arity: 1, flags: flagAdmin | flagNoScript, group: sv, since: "1.0.0", summary: "Synchronously saves the database(s) to disk.", fn: cmdSave},
		{name: "bgsave", arity: -1, flags: flagAdmin | flagNoScript, group: sv, since: "1.0.0", summary: "Asynchronously saves the database(s) to disk.", fn: cmdBgsave},
		{name: "lastsave", arity: 1, flags: flagFast | flagLoading | flagStale, group: sv, since: "1.0.0", summary: "Returns the Unix timestamp of the last successful save to disk.", fn: cmdLastSave},
		{name: "time", arity: 1, flags: flagFast | flagLoading | flagStale, group: sv, since: "2.6.0", summary: "Returns the server time.", fn: cmdTime},
	}
}

var clientSubs = []*command{
	{name: "client|id", arity: 2}, {name: "client|setname", arity: 3}, {name: "client|getname", arity: 2},
	{name: "client|info", arity: 2}, {name: "client|list", arity: -2}, {name: "client|setinfo", arity: 4},
	{name: "client|help", arity: 2},
}
var commandSubs = []*command{
	{name: "command|count", arity: 2}, {name: "command|info", arity: -2}, {name: "command|docs", arity: -2},
	{name: "command|list", arity: -2}, {name: "command|help", arity: 2},
}
var configSubs = []*command{
	{name: "config|get", arity: -3}, {name: "config|resetstat", arity: 2}, {name: "config|help", arity: 2},
}

// checkSub finds a subcommand of cmd and checks its arity, replying the
// error itself when it fails.
func (c *client) checkSub(cmd string, subs []*command, args [][]byte) (string, bool) {
	sub := lower(args[1])
	for _, s := range subs {
		if s.name == cmd+"|"+sub {
			if (s.arity > 0 && len(args) != s.arity) || (s.arity < 0 && len(args) < -s.arity) {
				c.w.err(errArity(s.name))
				return "", false
			}
			return sub, true
		}
	}
	c.w.err(errUnknownSubcommand(args[1], cmd))
	return "", false
}

func cmdPing(c *client, args [][]byte) {
	switch len(args) {
	case 1:
		c.w.simple("PONG")
	case 2:
		c.w.bulk(args[1])
	default:
		c.w.err(errArity("ping"))
	}
}

func cmdEcho(c *client, args [][]byte) { c.w.bulk(args[1]) }

func cmdQuit(c *client, args [][]byte) {
	c.w.ok()
	c.quit = true
}

// checkPassword authenticates user/pass against --password; the only user
// is "default", as on a Redis without ACLs.
func (c *client) checkPassword(user, pass []byte) bool {
	want := c.s.cfg.Password
	if string(user) != "default" {
		return false
	}
	return want == "" || string(pass) == want
}

func cmdAuth(c *client, args [][]byte) {
	if len(args) > 3 {
		c.w.err(errSyntax)
		return
	}
	user, pass := []byte("default"), args[1]
	if len(args) == 3 {
		user, pass = args[1], args[2]
	} else if c.s.cfg.Password == "" {
		c.w.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return
	}
	if !c.checkPassword(user, pass) {
		c.w.err(errWrongPass)
		return
	}
	c.authed = true
	c.w.ok()
}

func cmdHello(c *client, args [][]byte) {
	proto := 0
	if len(args) >= 2 {
		n, ok := parseInt(args[1])
		if !ok {
			c.w.err("ERR Protocol version is not an integer or out of range")
			return
		}
		if n < 2 || n > 3 {
			c.w.err("NOPROTO unsupported protocol version")
			return
		}
		proto = int(n)
	}
	var name []byte
	setName := false
	authOK := false
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch {
		case strings.EqualFold(string(args[i]), "AUTH") && more >= 2:
			if !c.checkPassword(args[i+1], args[i+2]) {
				c.w.err(errWrongPass)
				return
			}
			authOK = true
			i += 2
		case strings.EqualFold(string(args[i]), "SETNAME") && more >= 1:
			name, setName = args[i+1], true
			i++
		default:
			c.w.err("ERR Syntax error in HELLO option '" + clip(args[i]) + "'")
			return
		}
	}
	if !c.authed && !authOK {
		c.w.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if setName && !validClientName(name) {
		c.w.err("ERR Client names cannot contain spaces, newlines or special characters.")
		return
	}
	if authOK {
		c.authed = true
	}
	if setName {
		c.mu.Lock()
		c.name = string(name)
		c.mu.Unlock()
	}
	if proto != 0 {
		c.w.resp3 = proto == 3
		c.proto.Store(int32(proto))
	}
	c.w.mapHeader(7)
	c.w.bulkString("server")
	c.w.bulkString("redis")
	c.w.bulkString("version")
	c.w.bulkString(redisCompat)
	c.w.bulkString("proto")
	c.w.int(int64(c.proto.Load()))
	c.w.bulkString("id")
	c.w.int(int64(c.id))
	c.w.bulkString("mode")
	c.w.bulkString("standalone")
	c.w.bulkString("role")
	c.w.bulkString("master")
	c.w.bulkString("modules")
	c.w.emptyArray()
}

func cmdSelect(c *client, args [][]byte) {
	n, ok := parseInt(args[1])
	if !ok {
		c.w.err(errNotInt)
		return
	}
	if n != 0 {
		c.w.err(errDBIndex)
		return
	}
	c.w.ok()
}

func validClientName(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

// clientLine is a client's line in CLIENT LIST and CLIENT INFO.
func (c *client) clientLine(now time.Time) string {
	c.mu.Lock()
	name, lib, ver := c.name, c.libName, c.libVer
	c.mu.Unlock()
	cmd := "NULL"
	if lc := c.lastCmd.Load(); lc != nil {
		cmd = lc.name
	}
	idle := time.Duration(int64(now.Sub(monoBase))-c.lastActive.Load()) / time.Second
	return fmt.Sprintf("id=%d addr=%s laddr=%s fd=-1 name=%s age=%d idle=%d flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=%s user=default redir=-1 resp=%d lib-name=%s lib-ver=%s",
		c.id, c.addr, c.laddr, name, int64(now.Sub(c.since)/time.Second), int64(idle), cmd, c.proto.Load(), lib, ver)
}

func cmdClient(c *client, args [][]byte) {
	sub, ok := c.checkSub("client", clientSubs, args)
	if !ok {
		return
	}
	switch sub {
	case "id":
		c.w.int(int64(c.id))
	case "setname":
		if !validClientName(args[2]) {
			c.w.err("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.mu.Lock()
		c.name = string(args[2])
		c.mu.Unlock()
		c.w.ok()
	case "getname":
		if n := c.getName(); n != "" {
			c.w.bulkString(n)
		} else {
			c.w.null()
		}
	case "info":
		c.w.verbatim(c.clientLine(time.Now()) + "\n")
	case "list":
		var ids map[int64]bool
		for i := 2; i < len(args); i++ {
			switch {
			case strings.EqualFold(string(args[i]), "TYPE") && i+1 < len(args):
				t := lower(args[i+1])
				if t != "normal" && t != "master" && t != "replica" && t != "pubsub" {
					c.w.err("ERR Unknown client type '" + clip(args[i+1]) + "'")
					return
				}
				if t != "normal" {
					ids = map[int64]bool{}
				}
				i++
			case strings.EqualFold(string(args[i]), "ID") && i+1 < len(args):
				ids = map[int64]bool{}
				for i++; i < len(args); i++ {
					n, ok := parseInt(args[i])
					if !ok || n <= 0 {
						c.w.err("ERR Invalid client ID")
						return
					}
					ids[n] = true
				}
			default:
				c.w.err(errSyntax)
				return
			}
		}
		now := time.Now()
		var sb strings.Builder
		for _, o := range c.s.clientList() {
			if ids != nil && !ids[int64(o.id)] {
				continue
			}
			sb.WriteString(o.clientLine(now))
			sb.WriteByte('\n')
		}
		c.w.verbatim(sb.String())
	case "setinfo":
		attr := lower(args[2])
		if attr != "lib-name" && attr != "lib-ver" {
			c.w.err("ERR Unrecognized option '" + clip(args[2]) + "'")
			return
		}
		if !validClientName(args[3]) {
			c.w.err("ERR " + attr + " cannot contain spaces, newlines or special characters.")
			return
		}
		c.mu.Lock()
		if attr == "lib-name" {
			c.libName = string(args[3])
		} else {
			c.libVer = string(args[3])
		}
		c.mu.Unlock()
		c.w.ok()
	case "help":
		c.help("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"ID", "    Return the ID of the current connection.",
			"GETNAME", "    Return the name of the current connection.",
			"SETNAME <name>", "    Assign the name <name> to the current connection.",
			"INFO", "    Return information about the current client connection.",
			"LIST [TYPE NORMAL] [ID <id> [<id> ...]]", "    Return information about client connections.",
			"SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client meta attributes.")
	}
}

func (c *client) help(lines ...string) {
	c.w.array(len(lines) + 2)
	for _, l := range lines {
		c.w.simple(l)
	}
	c.w.simple("HELP")
	c.w.simple("    Print this help.")
}

// commandEntry is a command's COMMAND INFO reply.
func (c *client) commandEntry(cmd *command) {
	c.w.array(10)
	c.w.bulkString(cmd.name)
	c.w.int(int64(cmd.arity))
	var flags []string
	for _, f := range flagNames {
		if cmd.flags&f.f != 0 {
			flags = append(flags, f.name)
		}
	}
	c.w.setHeader(len(flags))
	for _, f := range flags {
		c.w.simple(f)
	}
	c.w.int(int64(cmd.first))
	c.w.int(int64(cmd.last))
	c.w.int(int64(cmd.step))
	c.w.setHeader(1)
	c.w.simple("@" + cmd.group)
	c.w.emptyArray() // tips
	c.w.emptyArray() // key specifications
	c.w.array(len(cmd.subs))
	for _, s := range cmd.subs {
		c.w.array(10)
		c.w.bulkString(s.name)
		c.w.int(int64(s.arity))
		c.w.setHeader(0)
		c.w.int(0)
		c.w.int(0)
		c.w.int(0)
		c.w.setHeader(0)
		c.w.emptyArray()
		c.w.emptyArray()
		c.w.emptyArray()
	}
}

func (c *client) commandDoc(cmd *command) {
	c.w.bulkString(cmd.name)
	c.w.mapHeader(3)
	c.w.bulkString("summary")
	c.w.bulkString(cmd.summary)
	c.w.bulkString("since")
	c.w.bulkString(cmd.since)
	c.w.bulkString("group")
	c.w.bulkString(cmd.group)
}

func cmdCommand(c *client, args [][]byte) {
	if len(args) == 1 {
		c.w.array(len(cmdSorted))
		for _, cmd := range cmdSorted {
			c.commandEntry(cmd)
		}
		return
	}
	sub, ok := c.checkSub("command", commandSubs, args)
	if !ok {
		return
	}
	switch sub {
	case "count":
		c.w.int(int64(len(cmdSorted)))
	case "info":
		if len(args) == 2 {
			c.w.array(len(cmdSorted))
			for _, cmd := range cmdSorted {
				c.commandEntry(cmd)
			}
			return
		}
		c.w.array(len(args) - 2)
		for _, n := range args[2:] {
			if cmd := commands[lower(n)]; cmd != nil {
				c.commandEntry(cmd)
			} else {
				c.w.nullArray()
			}
		}
	case "docs":
		var list []*command
		if len(args) == 2 {
			list = cmdSorted
		} else {
			for _, n := range args[2:] {
				if cmd := commands[lower(n)]; cmd != nil {
					list = append(list, cmd)
				}
			}
		}
		c.w.mapHeader(len(list))
		for _, cmd := range list {
			c.commandDoc(cmd)
		}
	case "list":
		if len(args) > 2 {
			c.w.err(errSyntax)
			return
		}
		c.w.array(len(cmdSorted))
		for _, cmd := range cmdSorted {
			c.w.bulkString(cmd.name)
		}
	case "help":
		c.help("COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"(no subcommand)", "    Return details about all commands.",
			"COUNT", "    Return the total number of commands in this server.",
			"LIST", "    Return a list of all commands in this server.",
			"INFO [<command-name> ...]", "    Return details about multiple commands.",
			"DOCS [<command-name> ...]", "    Return documentation details about multiple commands.")
	}
}

// configParams answers CONFIG GET: the parameters clients and tools ask
// for, with this server's values.
func (s *Server) configParams() [][2]string {
	_, port := splitPort(s.addr())
	return [][2]string{
		{"databases", "1"},
		{"maxclients", strconv.Itoa(s.cfg.MaxClients)},
		{"proto-max-bulk-len", strconv.FormatInt(s.cfg.MaxBulkLen, 10)},
		{"port", port},
		{"bind", bindOf(s.addr())},
		{"timeout", "0"},
		{"save", ""},
		{"appendonly", "no"},
		{"appendfsync", map[string]string{"always": "always", "none": "no"}[s.cfg.SyncMode]},
		{"requirepass", ""},
		{"maxmemory", "0"},
		{"maxmemory-policy", "noeviction"},
		{"dir", s.cfg.Dir},
		{"slowlog-log-slower-than", "10000"},
		{"slowlog-max-len", "128"},
		{"cluster-enabled", "no"},
	}
}

func (s *Server) addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

func splitPort(a string) (string, string) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a, ""
	}
	return a[:i], a[i+1:]
}

func bindOf(a string) string { h, _ := splitPort(a); return strings.Trim(h, "[]") }

func cmdConfig(c *client, args [][]byte) {
	sub, ok := c.checkSub("config", configSubs, args)
	if !ok {
		return
	}
	switch sub {
	case "get":
		var out [][2]string
		seen := map[string]bool{}
		for _, p := range c.s.configParams() {
			for _, pat := range args[2:] {
				if !seen[p[0]] && globMatch([]byte(strings.ToLower(string(pat))), []byte(p[0])) {
					if p[0] == "requirepass" && c.s.cfg.Password != "" {
						p[1] = c.s.cfg.Password
					}
					out = append(out, p)
					seen[p[0]] = true
				}
			}
		}
		c.w.mapHeader(len(out))
		for _, p := range out {
			c.w.bulkString(p[0])
			c.w.bulkString(p[1])
		}
	case "resetstat":
		c.w.ok()
	case "help":
		c.help("CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
			"RESETSTAT", "    Accepted for compatibility; statistics are kept since start.")
	}
}

func cmdSave(c *client, args [][]byte) {
	if c.s.bgsaveRunning.Load() {
		c.w.err("ERR Background save already in progress")
		return
	}
	if err := c.s.checkpoint(); err != nil {
		c.replyErr(err)
		return
	}
	c.w.ok()
}

func (s *Server) checkpoint() error {
	info, err := s.st.Checkpoint()
	if err != nil {
		msg := err.Error()
		s.lastBgsaveErr.Store(&msg)
		return err
	}
	s.lastBgsaveErr.Store(nil)
	s.lastSave.Store(info.Time.Unix())
	s.saves.Add(1)
	return nil
}

func cmdBgsave(c *client, args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !strings.EqualFold(string(args[1]), "schedule")) {
		c.w.err(errSyntax)
		return
	}
	if !c.s.bgsaveRunning.CompareAndSwap(false, true) {
		c.w.err("ERR Background save already in progress")
		return
	}
	c.s.bg.Add(1)
	go func() {
		defer c.s.bg.Done()
		defer c.s.bgsaveRunning.Store(false)
		if err := c.s.checkpoint(); err != nil {
			c.s.cfg.Logger.Error("BGSAVE failed", "err", err)
		}
	}()
	c.w.simple("Background saving started")
}

func cmdLastSave(c *client, args [][]byte) { c.w.int(c.s.lastSave.Load()) }

func cmdTime(c *client, args [][]byte) {
	now := time.Now()
	c.w.array(2)
	c.w.bulkInt(now.Unix())
	c.w.bulkInt(int64(now.Nanosecond() / 1000))
}

// ---- INFO ----

var infoDefault = []string{"server", "clients", "memory", "persistence", "stats", "keyspace", "raft", "rskv"}

func cmdInfo(c *client, args [][]byte) {
	want := map[string]bool{}
	if len(args) == 1 {
		for _, s := range infoDefault {
			want[s] = true
		}
	}
	for _, a := range args[1:] {
		switch s := lower(a); s {
		case "default":
			for _, s := range infoDefault {
				want[s] = true
			}
		case "all", "everything":
			for _, s := range infoDefault {
				want[s] = true
			}
			want["commandstats"] = true
		default:
			want[s] = true
		}
	}
	c.w.verbatim(c.s.info(want))
}

func (s *Server) info(want map[string]bool) string {
	var b strings.Builder
	section := func(name string, fn func()) {
		if !want[strings.ToLower(name)] {
			return
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + name + "\r\n")
		fn()
	}
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s:%v\r\n", k, v) }
	now := time.Now()
	st := s.st.Stats()
	section("Server", func() {
		_, port := splitPort(s.addr())
		up := now.Sub(s.started)
		kv("redis_version", redisCompat)
		kv("rskv_version", s.cfg.Version)
		kv("redis_mode", "standalone")
		kv("os", runtime.GOOS+" "+runtime.GOARCH)
		kv("arch_bits", strconv.IntSize)
		kv("go_version", runtime.Version())
		kv("process_id", os.Getpid())
		kv("tcp_port", port)
		kv("server_time_usec", now.UnixMicro())
		kv("uptime_in_seconds", int64(up/time.Second))
		kv("uptime_in_days", int64(up/(24*time.Hour)))
		kv("executable", executable())
	})
	section("Clients", func() {
		s.mu.Lock()
		n := len(s.clients)
		s.mu.Unlock()
		kv("connected_clients", n)
		kv("maxclients", s.cfg.MaxClients)
		kv("blocked_clients", 0)
	})
	section("Memory", func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		kv("used_memory", ms.HeapAlloc)
		kv("used_memory_human", humanBytes(int64(ms.HeapAlloc)))
		kv("used_memory_rss", ms.Sys)
		kv("used_memory_rss_human", humanBytes(int64(ms.Sys)))
		kv("maxmemory", 0)
		kv("maxmemory_policy", "noeviction")
		kv("store_log_mutable_bytes", st.MutableBytes)
		kv("store_log_read_only_bytes", st.ReadOnlyBytes)
		kv("store_log_disk_bytes", st.DiskBytes)
		kv("store_log_dead_bytes", st.DeadBytes)
		kv("store_index_buckets", st.IndexBuckets)
		kv("store_index_overflow_buckets", st.IndexOverflowBuckets)
	})
	section("Persistence", func() {
		kv("loading", 0)
		kv("async_loading", 0)
		kv("rdb_bgsave_in_progress", b2i(s.bgsaveRunning.Load()))
		kv("rdb_last_save_time", s.lastSave.Load())
		status := "ok"
		if e := s.lastBgsaveErr.Load(); e != nil {
			status = "err"
		}
		kv("rdb_last_bgsave_status", status)
		kv("rdb_saves", s.saves.Load())
		kv("aof_enabled", 0)
		kv("sync_mode", s.cfg.SyncMode)
		kv("store_checkpoints_taken", st.Checkpoints)
		if cps, err := s.st.Checkpoints(); err == nil {
			kv("store_checkpoints_on_disk", len(cps))
			if len(cps) > 0 {
				last := cps[len(cps)-1]
				kv("store_last_checkpoint_id", last.ID)
				kv("store_last_checkpoint_time", last.Time.Unix())
				kv("store_last_checkpoint_tail_address", last.TailAddress)
				kv("store_last_checkpoint_keys", last.Keys)
			}
		}
		kv("store_compactions", st.Compactions)
		kv("store_begin_address", st.BeginAddress)
		kv("store_head_address", st.HeadAddress)
		kv("store_read_only_address", st.ReadOnlyAddress)
		kv("store_flushed_address", st.FlushedAddress)
		kv("store_durable_address", st.DurableAddress)
		kv("store_tail_address", st.TailAddress)
		kv("store_io_error", st.IOError)
		kv("startup_expiring_keys", s.report.Expiring)
		kv("startup_removed_orphans", s.report.Orphans)
	})
	section("Stats", func() {
		var total uint64
		for _, cmd := range cmdByID {
			total += s.stats.totals(cmd).calls
		}
		kv("total_connections_received", s.totalConns.Load())
		kv("total_commands_processed", total)
		kv("total_net_input_bytes", s.stats.netIn())
		kv("total_net_output_bytes", s.stats.netOut())
		kv("rejected_connections", s.rejectedConns.Load())
		kv("unknown_commands", s.stats.unknown.Load())
		kv("protocol_errors", s.protoErrors.Load())
		kv("slow_consumers_closed", s.slowClosed.Load())
		kv("store_gets", st.Gets)
		kv("store_puts", st.Puts)
		kv("store_deletes", st.Deletes)
		kv("store_rmws", st.RMWs)
		kv("store_in_place_updates", st.InPlaceUpdates)
		kv("store_appends", st.Appends)
		kv("store_disk_reads", st.DiskReads)
		kv("store_retries", st.Retries)
	})
	section("Commandstats", func() {
		for _, cmd := range cmdSorted {
			t := s.stats.totals(cmd)
			if t.calls == 0 && t.failed == 0 {
				continue
			}
			per := 0.0
			if t.calls > 0 {
				per = float64(t.usec) / float64(t.calls)
			}
			fmt.Fprintf(&b, "cmdstat_%s:calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=0,failed_calls=%d\r\n",
				cmd.name, t.calls, t.usec, per, t.failed)
		}
	})
	section("Keyspace", func() {
		if n := s.db.size(); n > 0 {
			kv("db0", fmt.Sprintf("keys=%d,expires=%d,avg_ttl=0", n, s.db.expiring()))
		}
	})
	if s.repl != nil {
		section("Raft", func() { s.raftInfo(kv) })
	}
	section("rskv", func() {
		bg := s.st.BackgroundStats()
		kv("background_running", b2i(bg.Running))
		kv("background_active_services", bg.ActiveServices)
		for _, sv := range s.st.Services() {
			kv("service_"+sv.Name, serviceLine(sv))
		}
	})
	return b.String()
}

func serviceLine(sv rskv.ServiceStatus) string {
	state := "stopped"
	switch {
	case sv.GivenUp:
		state = "given_up"
	case sv.BackingOff:
		state = "backing_off"
	case sv.Running:
		state = "running"
	}
	le := strings.NewReplacer("\r", " ", "\n", " ", ",", ";").Replace(sv.LastError)
	return fmt.Sprintf("state=%s,restarts=%d,failures=%d,last_error=%s", state, sv.Restarts, sv.Failures, le)
}

func executable() string {
	e, err := os.Executable()
	if err != nil {
		return ""
	}
	return e
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
