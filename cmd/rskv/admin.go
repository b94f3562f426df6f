package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/dustin/go-humanize"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/spf13/cobra"
)

func newStatsCmd() *cobra.Command {
	var sf storeFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats --dir DIR",
		Short: "Print the store's statistics and checkpoints",
		Long: "Print the store's statistics and checkpoints. The store is opened read-only: no file\n" +
			"changes. The operation counters (Gets, Puts, ... Compactions) count since this open,\n" +
			"by this command: a store keeps no counters across opens, so they show what opening did.",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			s, err := sf.openRead()
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
			// A store whose checkpoints cannot be listed still has stats
			// worth showing: report the listing error in place of the list.
			cps, cpErr := s.Checkpoints()
			du, err := dirBytes(sf.dir)
			if err != nil {
				return err
			}
			st := s.Stats()
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				report := struct {
					Dir              string                `json:"dir"`
					DirBytes         int64                 `json:"dir_bytes"`
					Len              int                   `json:"len"`
					CountersSince    string                `json:"counters_since"`
					Stats            rskv.Stats            `json:"stats"`
					Checkpoints      []rskv.CheckpointInfo `json:"checkpoints"`
					CheckpointsError string                `json:"checkpoints_error,omitempty"`
				}{Dir: sf.dir, DirBytes: du, Len: s.Len(), Stats: st, Checkpoints: cps, CountersSince: countersSince}
				if cpErr != nil {
					report.CheckpointsError = cpErr.Error()
				}
				return enc.Encode(report)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "directory\t%s\n", sf.dir)
			fmt.Fprintf(tw, "files\t%s\n", sizeString(du))
			fmt.Fprintf(tw, "live keys\t%d\n", s.Len())
			writeFieldsExcept(tw, "", reflect.ValueOf(st), sinceOpenCounters)
			fmt.Fprintf(tw, "counters since this open\t(%s)\n", countersSince)
			writeFieldsOnly(tw, "  ", reflect.ValueOf(st), sinceOpenCounters)
			if cpErr != nil {
				fmt.Fprintf(tw, "checkpoints\tunavailable: %v\n", cpErr)
			} else {
				fmt.Fprintf(tw, "checkpoints\t%d\n", len(cps))
			}
			for _, cp := range cps {
				fmt.Fprintf(tw, "  #%d\t%s  tail %d  %d keys  %s\n",
					cp.ID, cp.Time.Format(time.RFC3339), cp.TailAddress, cp.Keys, sizeString(cp.Bytes))
			}
			return tw.Flush()
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newCheckpointCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "checkpoint --dir DIR",
		Short: "Take a checkpoint",
		Long:  "Take a checkpoint, so that recovery replays the log only from its tail address.",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			s, err := sf.openExisting(false)
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
			cp, err := s.Checkpoint()
			if err != nil {
				return errors.Wrap(err, "checkpoint")
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "checkpoint #%d: tail address %d, %d keys, %s\n",
				cp.ID, cp.TailAddress, cp.Keys, sizeString(cp.Bytes))
			return err
		},
	}
	sf.register(cmd)
	return cmd
}

func newCompactCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "compact --dir DIR",
		Short: "Reclaim the space of dead records",
		Long:  "Compact the log: copy live records from its oldest part to the tail and remove the segments left dead.",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			s, err := sf.openExisting(false)
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
			before, err := dirBytes(sf.dir)
			if err != nil {
				return err
			}
			cs, err := s.Compact()
			if err != nil {
				return errors.Wrap(err, "compact")
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "files before\t%s\n", sizeString(before))
			writeFields(tw, "", reflect.ValueOf(cs))
			return tw.Flush()
		},
	}
	sf.register(cmd)
	return cmd
}

func newServicesCmd() *cobra.Command {
	var sf storeFlags
	var wait time.Duration
	var start bool
	cmd := &cobra.Command{
		Use:   "services --dir DIR [--start]",
		Short: "Print the supervisor tree of the background services",
		Long: "Print the supervisor tree of the store's background services. By default the store is\n" +
			"opened read-only (no file changes), where no service runs: the tree shows them stopped.\n" +
			"With --start the store is opened for writing with its services running: wait (up to\n" +
			"--wait) until they have all started, print the tree, and close the store (the services\n" +
			"may write a checkpoint).",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			var s *rskv.Store
			if start {
				s, err = sf.openExisting(true)
			} else {
				s, err = sf.openRead()
			}
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
			if !start {
				fmt.Fprintln(cmd.OutOrStdout(), "read-only open: services do not run (--start runs them)")
				return printServices(cmd.OutOrStdout(), s.BackgroundStats(), s.Services())
			}
			deadline := time.Now().Add(wait)
			for !allRunning(s) && time.Now().Before(deadline) {
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(10 * time.Millisecond):
				}
			}
			return printServices(cmd.OutOrStdout(), s.BackgroundStats(), s.Services())
		},
	}
	sf.register(cmd)
	cmd.Flags().DurationVar(&wait, "wait", 2*time.Second, "how long to wait for the services to start (with --start)")
	cmd.Flags().BoolVar(&start, "start", false, "open the store for writing and start its services")
	return cmd
}

func allRunning(s *rskv.Store) bool {
	svcs := s.Services()
	if len(svcs) == 0 {
		return false
	}
	for _, sv := range svcs {
		if !sv.Running {
			return false
		}
	}
	return true
}

// printServices draws the supervisor and its services as a tree.
func printServices(w io.Writer, bs rskv.BackgroundStats, svcs []rskv.ServiceStatus) error {
	state := "stopped"
	if bs.Running {
		state = "running"
	}
	fmt.Fprintf(w, "supervisor (%s, %d of %d services active", state, bs.ActiveServices, len(svcs))
	if bs.CheckpointEnabled {
		fmt.Fprintf(w, ", checkpoint every %v", bs.CheckpointInterval)
	}
	if bs.GCEnabled {
		fmt.Fprintf(w, ", compaction check every %v", bs.GCInterval)
	}
	fmt.Fprintln(w, ")")
	if len(svcs) == 0 {
		_, err := fmt.Fprintln(w, "└── (no services)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, sv := range svcs {
		branch := "├── "
		if i == len(svcs)-1 {
			branch = "└── "
		}
		run := "stopped"
		if sv.Running {
			run = "running"
		}
		fmt.Fprintf(tw, "%s%s\t%s\trestarts %d", branch, sv.Name, run, sv.Restarts)
		if sv.LastError != "" {
			fmt.Fprintf(tw, "\tlast error: %s", sv.LastError)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// countersSince says what the operation counters of Stats count.
const countersSince = "the operations of this command's own open of the store; they start at zero at every open"

// sinceOpenCounters are the fields of rskv.Stats that count operations since
// Open, as opposed to describing the store.
var sinceOpenCounters = map[string]bool{
	"Gets": true, "Puts": true, "Deletes": true, "RMWs": true,
	"InPlaceUpdates": true, "Appends": true, "DiskReads": true, "Retries": true,
	"Promotions": true, "KeptResident": true, "Checkpoints": true, "Compactions": true,
	"InlineMaintenance": true,
}

// writeFieldsExcept is writeFields without the top-level fields in skip.
func writeFieldsExcept(w io.Writer, prefix string, v reflect.Value, skip map[string]bool) {
	writeFieldsIf(w, prefix, v, func(name string) bool { return !skip[name] })
}

// writeFieldsOnly is writeFields for the top-level fields in only, in the
// struct's order.
func writeFieldsOnly(w io.Writer, prefix string, v reflect.Value, only map[string]bool) {
	writeFieldsIf(w, prefix, v, func(name string) bool { return only[name] })
}

// writeFields prints every exported field of the struct v as "name\tvalue"
// lines, so that fields the engine adds later show up without a change here.
func writeFields(w io.Writer, prefix string, v reflect.Value) {
	writeFieldsIf(w, prefix, v, func(string) bool { return true })
}

func writeFieldsIf(w io.Writer, prefix string, v reflect.Value, keep func(name string) bool) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || !keep(f.Name) {
			continue
		}
		fv := v.Field(i)
		name := prefix + f.Name
		switch x := fv.Interface().(type) {
		case time.Duration:
			fmt.Fprintf(w, "%s\t%v\n", name, x)
		case time.Time:
			fmt.Fprintf(w, "%s\t%s\n", name, x.Format(time.RFC3339))
		default:
			if fv.Kind() == reflect.Struct {
				writeFields(w, name+".", fv)
				continue
			}
			if fv.Kind() == reflect.Int64 && strings.Contains(f.Name, "Bytes") {
				fmt.Fprintf(w, "%s\t%s\n", name, sizeString(fv.Int()))
				continue
			}
			fmt.Fprintf(w, "%s\t%v\n", name, x)
		}
	}
}

// sizeString prints a byte count exactly and in IEC units.
func sizeString(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%d (%s)", n, humanize.IBytes(uint64(n)))
}

// dirBytes sums the sizes of the regular files under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, errors.Wrapf(err, "size of %s", dir)
}
