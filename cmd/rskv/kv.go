package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/spf13/cobra"
)

func newGetCmd() *cobra.Command {
	var sf storeFlags
	var c codec
	var raw bool
	cmd := &cobra.Command{
		Use:   "get --dir DIR KEY",
		Short: "Print a key's value",
		Long:  "Print a key's value. A key that is absent is an error (exit code 1).",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) (err error) {
			key, err := c.decode("key", a[0])
			if err != nil {
				return err
			}
			s, err := sf.openExisting(false)
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
			v, err := s.Get(key)
			if errors.Is(err, rskv.ErrNotFound) {
				return errors.Newf("key %s not found", c.encode(key))
			}
			if err != nil {
				return errors.Wrap(err, "get")
			}
			if raw {
				_, err = cmd.OutOrStdout().Write(v)
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), c.encode(v))
			return err
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&c.hex, "hex", false, "KEY is hex, and the value is printed as hex")
	cmd.Flags().BoolVar(&raw, "raw", false, "write the value's bytes exactly, with no newline")
	return cmd
}

func newPutCmd() *cobra.Command {
	var sf storeFlags
	var c codec
	cmd := &cobra.Command{
		Use:   "put --dir DIR KEY VALUE",
		Short: "Set a key's value (creates the store if DIR holds none)",
		Long: "Set a key's value. If DIR does not exist, or is empty, a new store is created in it.\n" +
			"The write is durable when the command returns (the store is closed).",
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) (err error) {
			key, err := c.decode("key", a[0])
			if err != nil {
				return err
			}
			value, err := c.decode("value", a[1])
			if err != nil {
				return err
			}
			s, err := sf.openOrCreate()
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
			return errors.Wrap(s.Put(key, value), "put")
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&c.hex, "hex", false, "KEY and VALUE are hex")
	return cmd
}

func newDeleteCmd() *cobra.Command {
	var sf storeFlags
	var c codec
	var quiet bool
	cmd := &cobra.Command{
		Use:     "delete --dir DIR KEY...",
		Aliases: []string{"del", "rm"},
		Short:   "Delete keys",
		Long:    "Delete keys. Deleting an absent key is not an error; the command says which keys were absent.",
		Args:    args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) (err error) {
			keys := make([][]byte, len(a))
			for i, arg := range a {
				if keys[i], err = c.decode("key", arg); err != nil {
					return err
				}
			}
			s, err := sf.openExisting(false)
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
			for _, k := range keys {
				had, err := s.Has(k)
				if err != nil {
					return errors.Wrap(err, "has")
				}
				if err := s.Delete(k); err != nil {
					return errors.Wrapf(err, "delete %s", c.encode(k))
				}
				if !had && !quiet {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: not found\n", c.encode(k))
				}
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&c.hex, "hex", false, "KEYs are hex")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not report absent keys")
	return cmd
}

func newScanCmd() *cobra.Command {
	var sf storeFlags
	var c codec
	var prefix string
	var limit int
	var keysOnly, count bool
	cmd := &cobra.Command{
		Use:   "scan --dir DIR [--prefix P]",
		Short: "List keys and values, sorted by key",
		Long: "List the live keys (with --prefix, those that start with it) and their values,\n" +
			"one \"key<TAB>value\" line each, sorted by key. --limit stops after that many keys;\n" +
			"since the store has no key order, which keys those are is not defined before sorting.",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if limit < 0 {
				return usageError{errors.Newf("--limit %d is negative", limit)}
			}
			var p []byte
			if cmd.Flags().Changed("prefix") {
				if p, err = c.decode("prefix", prefix); err != nil {
					return err
				}
			}
			s, err := sf.openExisting(false)
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
			type kv struct{ k, v []byte }
			var rows []kv
			n := 0
			err = s.Scan(p, func(k, v []byte) bool {
				n++
				if !count {
					rows = append(rows, kv{k, v})
				}
				return limit == 0 || n < limit
			})
			if err != nil {
				return errors.Wrap(err, "scan")
			}
			out := cmd.OutOrStdout()
			if count {
				_, err = fmt.Fprintln(out, n)
				return err
			}
			slices.SortFunc(rows, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
			var sb strings.Builder
			for _, r := range rows {
				sb.WriteString(c.encode(r.k))
				if !keysOnly {
					sb.WriteByte('\t')
					sb.WriteString(c.encode(r.v))
				}
				sb.WriteByte('\n')
			}
			_, err = fmt.Fprint(out, sb.String())
			return err
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&c.hex, "hex", false, "--prefix is hex, and keys and values are printed as hex")
	cmd.Flags().StringVarP(&prefix, "prefix", "p", "", "only keys that start with this prefix")
	cmd.Flags().IntVarP(&limit, "limit", "n", 0, "stop after this many keys (0: no limit)")
	cmd.Flags().BoolVar(&keysOnly, "keys-only", false, "print keys only")
	cmd.Flags().BoolVar(&count, "count", false, "print only the number of keys")
	return cmd
}
