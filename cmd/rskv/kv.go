package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"

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
		Long: "Print a key's value. A key that is absent is an error (exit code 1).\n" +
			"The store is opened read-only: no file changes, and other readers may run at the same time.",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) (err error) {
			key, err := c.decode("key", a[0])
			if err != nil {
				return err
			}
			s, err := sf.openRead()
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
	var valueFile string
	cmd := &cobra.Command{
		Use:   "put --dir DIR KEY (VALUE | - | --value-file FILE)",
		Short: "Set a key's value (creates the store if DIR holds none)",
		Long: "Set a key's value: VALUE, or the bytes read from standard input when VALUE is -,\n" +
			"or the bytes of FILE with --value-file. Bytes from stdin or a file are taken as they are,\n" +
			"even with --hex (which then applies to KEY only); to store the one-byte value \"-\",\n" +
			"use --hex KEYHEX 2d. If DIR does not exist, or is empty, a new store is created in it.\n" +
			"The write is durable when the command returns (the store is closed).",
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, a []string) (err error) {
			key, err := c.decode("key", a[0])
			if err != nil {
				return err
			}
			value, err := putValue(cmd, c, a[1:], valueFile)
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
	cmd.Flags().StringVar(&valueFile, "value-file", "", "read the value from this file (instead of VALUE)")
	return cmd
}

// maxValueRead bounds what put reads from stdin or a file: far above any
// value a store accepts (a record fits in one log page), so the store's own
// check reports the limit, yet a mistaken endless input cannot exhaust
// memory.
const maxValueRead = 1 << 30

// putValue returns the value put stores: the VALUE argument, stdin for "-",
// or --value-file's contents.
func putValue(cmd *cobra.Command, c codec, rest []string, valueFile string) ([]byte, error) {
	var r io.Reader
	var from string
	switch {
	case valueFile != "" && len(rest) > 0:
		return nil, usageError{errors.New("give the value as VALUE, - or --value-file, not both")}
	case valueFile == "" && len(rest) == 0:
		return nil, usageError{errors.New("accepts 2 args (KEY and VALUE, or KEY and - for stdin), or KEY with --value-file; received 1")}
	case valueFile != "":
		f, err := os.Open(valueFile)
		if err != nil {
			return nil, errors.Wrap(err, "read --value-file")
		}
		defer f.Close()
		r, from = f, valueFile
	case rest[0] == "-":
		r, from = cmd.InOrStdin(), "standard input"
	default:
		return c.decode("value", rest[0])
	}
	v, err := io.ReadAll(io.LimitReader(r, maxValueRead+1))
	if err != nil {
		return nil, errors.Wrapf(err, "read the value from %s", from)
	}
	if len(v) > maxValueRead {
		return nil, errors.Newf("the value from %s is over %d bytes", from, maxValueRead)
	}
	return v, nil
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
					return errors.Wrapf(err, "delete %s", c.encode(k))
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
	var keysOnly, count, sorted bool
	cmd := &cobra.Command{
		Use:   "scan --dir DIR [--prefix P] [--sorted]",
		Short: "List keys and values",
		Long: "List the live keys (with --prefix, those that start with it) and their values,\n" +
			"one \"key<TAB>value\" line each, as the store holds them: in no particular order,\n" +
			"written out as they are found, in constant memory. --sorted sorts by key instead,\n" +
			"which holds every listed key and value in memory first. --limit stops after that\n" +
			"many keys (with --sorted: the first of the keys found, then sorted).\n" +
			"The store is opened read-only: no file changes.",
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
			s, err := sf.openRead()
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			line := func(k, v []byte) error {
				_, _ = out.WriteString(c.encode(k))
				if !keysOnly {
					_ = out.WriteByte('\t')
					_, _ = out.WriteString(c.encode(v))
				}
				return out.WriteByte('\n')
			}
			type kv struct{ k, v []byte }
			var rows []kv
			var werr error
			n := 0
			err = s.Scan(p, func(k, v []byte) bool {
				n++
				switch {
				case count:
				case sorted:
					rows = append(rows, kv{k, v})
				default:
					werr = line(k, v)
				}
				return werr == nil && (limit == 0 || n < limit)
			})
			if err != nil {
				return errors.Wrap(err, "scan")
			}
			if werr != nil {
				return errors.Wrap(werr, "write the listing")
			}
			if count {
				fmt.Fprintln(out, n)
			}
			slices.SortFunc(rows, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
			for _, r := range rows {
				if err := line(r.k, r.v); err != nil {
					return errors.Wrap(err, "write the listing")
				}
			}
			return errors.Wrap(out.Flush(), "write the listing")
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&c.hex, "hex", false, "--prefix is hex, and keys and values are printed as hex")
	cmd.Flags().StringVarP(&prefix, "prefix", "p", "", "only keys that start with this prefix")
	cmd.Flags().IntVarP(&limit, "limit", "n", 0, "stop after this many keys (0: no limit)")
	cmd.Flags().BoolVar(&keysOnly, "keys-only", false, "print keys only")
	cmd.Flags().BoolVar(&count, "count", false, "print only the number of keys")
	cmd.Flags().BoolVar(&sorted, "sorted", false, "sort by key (buffers all listed keys and values in memory)")
	return cmd
}
