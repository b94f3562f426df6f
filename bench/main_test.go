package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMainWritesOutputs(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"-engines", "rskv,pebble,shardmap", "-workloads", "A,C", "-distributions", "zipfian", "-value-sizes", "16",
		"-threads", "2", "-records", "2000", "-ops", "1000", "-out", out, "-scratch", t.TempDir(),
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, name := range []string{"results.md", "results.json", "throughput.png"} {
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "results.md"))
	if !strings.Contains(string(md), "Reproduce: `cd bench && go run . -engines rskv,pebble,shardmap") {
		t.Errorf("results.md lacks the reproduce command:\n%s", md)
	}
}

func TestMainRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-engines", "leveldb"}, {"-workloads", "E"}, {"-distributions", "latest"}, {"-value-sizes", "0"},
		{"-threads", "x"}, {"-modes", "ssd"}, {"-bogus"}, {"extra"},
	} {
		if err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
