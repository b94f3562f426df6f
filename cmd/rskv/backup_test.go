package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// cliIn runs the command line in-process with stdin.
func cliIn(t *testing.T, stdin []byte, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd(&out, &errOut)
	cmd.SetIn(bytes.NewReader(stdin))
	cmd.SetArgs(args)
	code = exitOK
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		errOut.WriteString(err.Error())
		code = exitError
	}
	return out.Bytes(), errOut.Bytes(), code
}

func TestBackupRestoreCLI(t *testing.T) {
	src := newStore(t, "user:1", "ada", "user:2", "grace", "job:1", "compile")
	stream, stderr, code := cliIn(t, nil, "backup", "-d", src, "--memory-size", "8MiB")
	require.Equal(t, exitOK, code, string(stderr))
	require.Contains(t, string(stderr), "3 keys")
	require.True(t, bytes.HasPrefix(stream, []byte("RSKVBACK")))

	dst := filepath.Join(t.TempDir(), "restored")
	out, stderr, code := cliIn(t, stream, "restore", "-d", dst)
	require.Equal(t, exitOK, code, string(stderr))
	require.Contains(t, string(out), "restored 3 keys")
	want := "job:1\tcompile\nuser:1\tada\nuser:2\tgrace\n"
	require.Equal(t, want, mustCLI(t, "scan", "--dir", dst, "--sorted", "--memory-size", "16MiB"))

	// A cut stream is refused and leaves no directory behind.
	bad := filepath.Join(t.TempDir(), "bad")
	_, stderr, code = cliIn(t, stream[:len(stream)-3], "restore", "-d", bad)
	require.Equal(t, exitError, code)
	require.True(t, strings.Contains(string(stderr), "truncated"), string(stderr))
	_, err := os.Stat(bad)
	require.ErrorIs(t, err, os.ErrNotExist)
	// A directory with a store in it is refused.
	_, stderr, code = cliIn(t, stream, "restore", "-d", dst)
	require.Equal(t, exitError, code)
	require.Contains(t, string(stderr), "not empty")
}
