package main

import (
	"fmt"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/spf13/cobra"
)

func newBackupCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "backup --dir DIR > FILE",
		Short: "Write a consistent backup of the store to stdout",
		Long: "Write a backup of the store to stdout: a framed, checksummed stream that 'rskv restore'\n" +
			"turns back into a store. The store is opened read-only: no file changes, and other\n" +
			"readers may run at the same time (a program that has the store open for writing takes\n" +
			"its backups with Store.Backup). A summary goes to stderr.",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			s, err := sf.openRead()
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
			info, err := s.Backup(cmd.OutOrStdout())
			if err != nil {
				return errors.Wrap(err, "backup")
			}
			_, err = fmt.Fprintf(cmd.ErrOrStderr(), "backup of %s: %d keys, %d bytes, consistent with %s\n",
				sf.dir, info.Keys, info.Bytes, info.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
			return err
		},
	}
	sf.register(cmd)
	return cmd
}

func newRestoreCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "restore --dir DIR < FILE",
		Short: "Create a store from a backup read from stdin",
		Long: "Create a store in DIR, which must be absent or empty, from a backup stream ('rskv backup')\n" +
			"read from stdin. A truncated or damaged stream is refused and leaves DIR as it was.",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageError{errors.WithHint(errNoDirFlag, "pass the new store's directory with --dir DIR")}
			}
			info, err := rskv.Restore(dir, cmd.InOrStdin())
			switch {
			case errors.Is(err, rskv.ErrCorruption):
				return errors.WithHint(errors.Wrap(err, "restore"), "the backup stream is damaged or cut short; "+dir+" was left as it was")
			case errors.Is(err, rskv.ErrInvalidOptions):
				return errors.WithHint(errors.Wrap(err, "restore"), "restore into a new or empty directory")
			case err != nil:
				return errors.Wrap(err, "restore")
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "restored %d keys into %s (backup of %s)\n",
				info.Keys, dir, info.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
			return err
		},
	}
	cmd.Flags().StringVarP(&dir, "dir", "d", "", "directory of the new store (required; absent or empty)")
	return cmd
}
