package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/cockroachdb/errors"
	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError marks errors in how the command was called.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// newRootCmd builds the command tree writing to stdout and stderr, so that
// tests can run commands in-process.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "rskv",
		Short: "Benchmark rskv and inspect rskv stores",
		Long: "rskv is an embedded key-value store for Go in the family of Microsoft FASTER.\n" +
			"This tool runs its YCSB benchmark and reads, writes and maintains stores by hand.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newBenchCmd(),
		newGetCmd(), newPutCmd(), newDeleteCmd(), newScanCmd(),
		newStatsCmd(), newCheckpointCmd(), newCompactCmd(), newServicesCmd(), newServeCmd(), newBackupCmd(), newRestoreCmd(),
	)
	return root
}

// args wraps a cobra argument check so that its failures are usage errors.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// run executes the command line args and returns the exit code. Errors are
// printed to stderr with their hints.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newRootCmd(stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "rskv: %s\n", oneSource(err.Error()))
	for _, h := range errors.GetAllHints(err) {
		fmt.Fprintf(stderr, "hint: %s\n", h)
	}
	var u usageError
	if errors.As(err, &u) || isCobraUsage(err) {
		fmt.Fprintf(stderr, "Run 'rskv --help' for usage.\n")
		return exitUsage
	}
	return exitError
}

// oneSource returns msg with the "rskv: " prefix of every wrapped layer
// removed: the library's sentinels carry it (as Go errors name their
// package), and run prints it once in front of the whole message, so "put:
// rskv: empty key" reads "put: empty key".
func oneSource(msg string) string {
	for strings.HasPrefix(msg, "rskv: ") {
		msg = strings.TrimPrefix(msg, "rskv: ")
	}
	for strings.Contains(msg, ": rskv: ") {
		msg = strings.ReplaceAll(msg, ": rskv: ", ": ")
	}
	return msg
}

// isCobraUsage recognizes the errors cobra returns itself for an unknown
// command, which do not pass through the flag error function.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return len(msg) >= 16 && msg[:16] == "unknown command "
}
