package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rskv-go/rskv/bench/harness"
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
	// -from renders the same markdown from the JSON without running.
	again := filepath.Join(t.TempDir(), "again")
	if err := run(context.Background(), []string{"-from", filepath.Join(out, "results.json"), "-out", again}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	md2, _ := os.ReadFile(filepath.Join(again, "results.md"))
	if string(md2) != string(md) {
		t.Errorf("-from rendered different markdown:\n%s\nvs\n%s", md2, md)
	}
}

func TestMainUpdatesReadme(t *testing.T) {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	doc := "# Title\n\nprose before\n\n" + harness.BeginMarker + "\nold results\n" + harness.EndMarker + "\n\nprose after\n"
	if err := os.WriteFile(readme, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-engines", "rskv,syncmap", "-workloads", "C", "-distributions", "uniform",
		"-value-sizes", "8", "-threads", "1", "-modes", "memory", "-records", "500", "-ops", "500",
		"-out", filepath.Join(dir, "out"), "-readme", readme, "-quiet"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(readme)
	for _, want := range []string{"prose before", "prose after", "## YCSB results", "### In memory, 8-byte values", "| C | uniform | 1 |"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("README lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "old results") {
		t.Errorf("old results kept:\n%s", got)
	}
	// A file without markers is refused and left alone.
	if err := os.WriteFile(readme, []byte("no markers"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"-engines", "syncmap", "-workloads", "C", "-distributions", "uniform",
		"-value-sizes", "8", "-threads", "1", "-modes", "memory", "-records", "100", "-ops", "100",
		"-out", filepath.Join(dir, "out"), "-readme", readme, "-quiet"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("a README without markers was accepted")
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
