package server

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
)

// benchPipelined sends b.N commands in pipelines of 16 over one connection
// and reads every reply: the server's per-command cost without a network
// client's.
func benchPipelined(b *testing.B, mk func(i int) string) {
	ts := startServer(b, Config{})
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 1<<16)
	const depth = 16
	var sb strings.Builder
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		sb.Reset()
		n := min(depth, b.N-i)
		for j := 0; j < n; j++ {
			sb.WriteString(mk(i + j))
		}
		if _, err := nc.Write([]byte(sb.String())); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < n; j++ {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if line[0] == '$' && line[1] != '-' {
				if _, err := br.ReadSlice('\n'); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

func respCmd(args ...string) string {
	s := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		s += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	return s
}

func BenchmarkServerSet(b *testing.B) {
	cmds := make([]string, 1024)
	for i := range cmds {
		cmds[i] = respCmd("SET", fmt.Sprintf("key:%06d", i), "xxx")
	}
	benchPipelined(b, func(i int) string { return cmds[i%len(cmds)] })
}

func BenchmarkServerGet(b *testing.B) {
	cmds := make([]string, 1024)
	for i := range cmds {
		cmds[i] = respCmd("GET", fmt.Sprintf("key:%06d", i))
	}
	benchPipelined(b, func(i int) string { return cmds[i%len(cmds)] })
}

func BenchmarkServerIncr(b *testing.B) {
	cmds := make([]string, 1024)
	for i := range cmds {
		cmds[i] = respCmd("INCR", fmt.Sprintf("n:%06d", i))
	}
	benchPipelined(b, func(i int) string { return cmds[i%len(cmds)] })
}

// benchClient is a connection for the benchmarks that call the command
// code directly: a client of a server over a fresh store, with no socket
// behind it (its net.Conn is one end of a pipe nobody reads).
func benchClient(b *testing.B) *client {
	b.Helper()
	ts := startServer(b, Config{})
	a, z := net.Pipe()
	b.Cleanup(func() { _ = a.Close(); _ = z.Close() })
	return newClient(ts.srv, a)
}

// BenchmarkCommandPath is one command as an event loop runs it inline:
// parse from the read buffer, look up, run (store included), count, and
// reply into the connection's buffer; no socket. Run with -benchmem: SET,
// GET and INCR allocate nothing per command.
func BenchmarkCommandPath(b *testing.B) {
	const keys = 1024
	for _, tc := range []struct {
		name string
		mk   func(i int) string
	}{
		{"SET", func(i int) string { return respCmd("SET", fmt.Sprintf("key:%06d", i), "xxx") }},
		{"GET", func(i int) string { return respCmd("GET", fmt.Sprintf("key:%06d", i)) }},
		{"INCR", func(i int) string { return respCmd("INCR", fmt.Sprintf("n:%06d", i)) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := benchClient(b)
			s := c.s
			// A pipeline of 16 commands is one read buffer.
			var sb strings.Builder
			for i := 0; i < keys; i++ {
				sb.WriteString(tc.mk(i))
			}
			in := []byte(sb.String())
			c.rd.buf = make([]byte, len(in))
			run := func() {
				copy(c.rd.buf, in)
				c.rd.r, c.rd.w = 0, len(in)
				for {
					args, err := c.rd.next()
					if err != nil {
						b.Fatal(err)
					}
					if args == nil {
						break
					}
					s.run(c, lookup(c, args[0]), args, true)
					if len(c.batch) == maxBatch {
						s.observeBatch(c)
					}
				}
				s.observeBatch(c)
				c.w.b = c.w.b[:0]
			}
			run() // the keys exist, the buffers have grown
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += keys {
				run()
			}
		})
	}
}

// BenchmarkParse is the reader's cost per short command (a redis-benchmark
// SET, GET and INCR), out of one buffer of many: "next" as the server
// parses (parseShort first), "general" the resumable parser alone, the
// peer of the same run.
func BenchmarkParse(b *testing.B) {
	for _, tc := range []struct{ name, cmd string }{
		{"SET", respCmd("SET", "key:000000012345", "xxx")},
		{"GET", respCmd("GET", "key:000000012345")},
		{"INCR", respCmd("INCR", "counter:000000012345")},
	} {
		for _, path := range []string{"next", "general"} {
			b.Run(tc.name+"/"+path, func(b *testing.B) {
				const n = 1024
				in := []byte(strings.Repeat(tc.cmd, n))
				p := newReader(nil, DefaultMaxBulkLen, func() bool { return true })
				p.buf = in
				parse := func() bool {
					args, err := p.next()
					if err != nil {
						b.Fatal(err)
					}
					return args != nil
				}
				if path == "general" {
					parse = func() bool {
						if p.r == p.w {
							return false
						}
						k, err := p.parseMultibulk()
						if err != nil || k == 0 {
							b.Fatal("general parse", err)
						}
						p.r += k
						return true
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += n {
					p.r, p.w = 0, len(in)
					for parse() {
					}
				}
			})
		}
	}
}
