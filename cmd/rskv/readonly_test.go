package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// sortLines returns s with its lines sorted (each ending in a newline).
func sortLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "")
}

// treeState describes every entry under dir: name, mode, size, modification
// time and a hash of the contents, and the directory's own modification time.
func treeState(t testing.TB, dir string) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&sb, "%s %v %d %d", path, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if !d.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			sb.WriteString(" " + hex.EncodeToString(sum[:]))
		}
		sb.WriteByte('\n')
		return nil
	})
	require.NoError(t, err)
	return sb.String()
}

// A store with enough data that Open finds it on disk and in segments.
func biggerStore(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	s, err := rskv.Open(dir, &rskv.Options{MemorySize: 8 << 20, DisableBackground: true})
	require.NoError(t, err)
	for n := range 3000 {
		i := n * 7919 % 3000 // out of key order, as a sorting scan would not show
		require.NoError(t, s.Put(fmt.Appendf(nil, "key-%05d", i), bytes.Repeat([]byte{'v'}, i%200)))
	}
	require.NoError(t, s.Close())
	return dir
}

func TestReadCommandsChangeNoFile(t *testing.T) {
	dir := biggerStore(t)
	before := treeState(t, dir)
	for _, c := range [][]string{
		{"get", "key-00042"}, {"get", "--raw", "key-00007"}, {"scan", "--count"}, {"scan", "--sorted", "--prefix", "key-001"},
		{"scan"}, {"stats"}, {"stats", "--json"}, {"services"},
	} {
		mustCLI(t, append(c, "--dir", dir)...)
		require.Equal(t, before, treeState(t, dir), "rskv %s changed the store's files", strings.Join(c, " "))
	}
	wantFail(t, exitError, []string{"key nope not found"}, "get", "--dir", dir, "nope")
	require.Equal(t, before, treeState(t, dir))
}

// TestReadersShareTheStore: read commands run while another reader holds
// the store, and are refused while a writer does; a write command is
// refused while a reader holds it.
func TestReadersShareTheStore(t *testing.T) {
	dir := newStore(t, "a", "1")
	reader, err := rskv.Open(dir, &rskv.Options{MemorySize: 8 << 20, ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, "1\n", mustCLI(t, "get", "--dir", dir, "a"))
	require.Equal(t, "a\t1\n", mustCLI(t, "scan", "--dir", dir))
	mustCLI(t, "stats", "--dir", dir)
	for _, c := range [][]string{{"put", "b", "2"}, {"delete", "a"}, {"checkpoint"}, {"compact"}, {"services", "--start"}} {
		wantFail(t, exitError, []string{"holds the store", "any number of readers"}, append(c, "--dir", dir)...)
	}
	require.NoError(t, reader.Close())

	writer, err := rskv.Open(dir, &rskv.Options{MemorySize: 8 << 20, DisableBackground: true})
	require.NoError(t, err)
	defer writer.Close()
	cmd := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	cmd.SetArgs([]string{"get", "--dir", dir, "--memory-size", "8MiB", "a"})
	require.True(t, errors.Is(cmd.Execute(), rskv.ErrLocked), "a reader while a writer holds the store")
}

func TestPutValueFromStdinAndFile(t *testing.T) {
	dir := newStore(t)
	value := "line one\nline two\x00\xff binary"
	var out, errOut bytes.Buffer
	cmd := newRootCmd(&out, &errOut)
	cmd.SetIn(strings.NewReader(value))
	cmd.SetArgs([]string{"put", "--dir", dir, "--memory-size", "8MiB", "from-stdin", "-"})
	require.NoError(t, cmd.Execute(), errOut.String())
	require.Equal(t, value, mustCLI(t, "get", "--dir", dir, "--raw", "from-stdin"))

	f := filepath.Join(t.TempDir(), "value.bin")
	big := bytes.Repeat([]byte("0123456789"), 10_000)
	require.NoError(t, os.WriteFile(f, big, 0o644))
	mustCLI(t, "put", "--dir", dir, "--value-file", f, "from-file")
	require.Equal(t, string(big), mustCLI(t, "get", "--dir", dir, "--raw", "from-file"))
	// With --hex the key is hex; the file's bytes are taken as they are.
	mustCLI(t, "put", "--dir", dir, "--hex", "6b6b", "--value-file", f)
	require.Equal(t, string(big), mustCLI(t, "get", "--dir", dir, "--raw", "kk"))
	// The one-byte value "-" goes in as hex.
	mustCLI(t, "put", "--dir", dir, "--hex", "6d", "2d")
	require.Equal(t, "-", mustCLI(t, "get", "--dir", dir, "--raw", "m"))
	// An empty stdin is an empty value.
	cmd = newRootCmd(&out, &errOut)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetArgs([]string{"put", "--dir", dir, "--memory-size", "8MiB", "empty", "-"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, "", mustCLI(t, "get", "--dir", dir, "--raw", "empty"))

	wantFail(t, exitUsage, []string{"not both"}, "put", "--dir", dir, "--value-file", f, "k", "v")
	wantFail(t, exitUsage, []string{"--value-file"}, "put", "--dir", dir, "k")
	wantFail(t, exitError, []string{"read --value-file", "no such file"}, "put", "--dir", dir, "--value-file", f+".missing", "k")
	// A value larger than a log page is the store's clear error.
	huge := filepath.Join(t.TempDir(), "huge.bin")
	require.NoError(t, os.WriteFile(huge, make([]byte, 4<<20), 0o644))
	wantFail(t, exitError, []string{"value too large", "page"}, "put", "--dir", dir, "--value-file", huge, "k")
}

// TestScanStreamsInStoreOrder: scan writes keys in the order the store's
// Scan yields them (it does not collect them to sort), --sorted sorts.
func TestScanStreamsInStoreOrder(t *testing.T) {
	dir := biggerStore(t)
	reader, err := rskv.Open(dir, &rskv.Options{MemorySize: 8 << 20, ReadOnly: true})
	require.NoError(t, err)
	var want strings.Builder
	var keys []string
	require.NoError(t, reader.Scan(nil, func(k, v []byte) bool {
		fmt.Fprintf(&want, "%s\n", k)
		keys = append(keys, string(k))
		return true
	}))
	require.NoError(t, reader.Close())
	require.False(t, slices.IsSorted(keys), "the store's order happens to be sorted: the test shows nothing")

	got := mustCLI(t, "scan", "--dir", dir, "--keys-only")
	require.Equal(t, want.String(), got, "scan does not stream in store order")
	slices.Sort(keys)
	require.Equal(t, strings.Join(keys, "\n")+"\n", mustCLI(t, "scan", "--dir", dir, "--keys-only", "--sorted"))
	require.Equal(t, 10, strings.Count(mustCLI(t, "scan", "--dir", dir, "--keys-only", "--limit", "10"), "\n"))
	require.Equal(t, "3000\n", mustCLI(t, "scan", "--dir", dir, "--count"))
	help := mustCLI(t, "scan", "--help")
	require.Contains(t, help, "holds every listed key and value in memory")
}

func TestErrorsNameTheirSourceOnce(t *testing.T) {
	dir := newStore(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"put", "--dir", dir, "", "v"}, "rskv: put: empty key\n"},
		{[]string{"delete", "--dir", dir, ""}, "rskv: delete \"\": empty key\n"},
		{[]string{"get", "--dir", dir, ""}, "rskv: get: empty key\n"},
	} {
		_, errOut, code := cli(t, tc.args...)
		require.Equal(t, exitError, code, tc.args)
		require.Equal(t, tc.want, errOut, tc.args)
	}
	require.Equal(t, "put: value too large", oneSource("rskv: put: rskv: value too large"))
	require.Equal(t, "cannot open d: d is open: store directory is in use",
		oneSource("cannot open d: d is open: rskv: store directory is in use"))
}

func TestNegativeSizes(t *testing.T) {
	dir := newStore(t)
	for _, c := range [][]string{{"get", "k"}, {"put", "k", "v"}, {"scan"}, {"stats"}, {"compact"}} {
		wantFail(t, exitUsage, []string{"--memory-size -64MiB is negative", "such as 64MiB"},
			append(c, "--dir", dir, "--memory-size", "-64MiB")...)
	}
	wantFail(t, exitUsage, []string{"--memory-size 0 is zero"}, "get", "--dir", dir, "--memory-size", "0", "k")
	wantFail(t, exitUsage, []string{"bad --memory-size \"lots\": not a size"}, "get", "--dir", dir, "--memory-size", "lots", "k")
	wantFail(t, exitUsage, []string{"--memory-size -1 is negative"}, "bench", "--memory-size", "-1")
	wantFail(t, exitUsage, []string{"--value-size -3 is negative"}, "bench", "--value-size", "-3")
	wantFail(t, exitUsage, []string{"--records -3 is negative"}, "bench", "--records", "-3")
	wantFail(t, exitUsage, []string{"--threads -1"}, "bench", "--threads", "-1")
}

func TestStatsLabelsCountersSinceOpen(t *testing.T) {
	dir := newStore(t, "a", "1")
	out := mustCLI(t, "stats", "--dir", dir)
	i := strings.Index(out, "counters since this open")
	require.Positive(t, i, out)
	for _, c := range []string{"Gets", "Puts", "Appends", "Compactions"} {
		require.Greater(t, strings.Index(out, "\n  "+c+" "), i, "%s is not under the since-open heading:\n%s", c, out)
	}
	var js map[string]any
	require.NoError(t, json.Unmarshal([]byte(mustCLI(t, "stats", "--dir", dir, "--json")), &js))
	require.Contains(t, js["counters_since"], "this command's own open")
	require.Contains(t, mustCLI(t, "stats", "--help"), "count since this open")
}
