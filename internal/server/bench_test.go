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
