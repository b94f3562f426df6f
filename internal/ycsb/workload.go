package ycsb

import (
	"strings"

	"github.com/cockroachdb/errors"
)

// Workload is a mix of operations, given as proportions that sum to 1.
type Workload struct {
	// Name is the workload's YCSB letter, e.g. "A".
	Name string
	// Description says what the mix models.
	Description string
	// Read, Update and ReadModifyWrite are the shares of each operation.
	Read, Update, ReadModifyWrite float64
}

// The core YCSB workloads that touch single records. (D reads the latest
// inserts and E scans ranges; neither fits a hash store's point API, so they
// are left out.)
var (
	// WorkloadA is update heavy: 50% reads, 50% updates (a session store).
	WorkloadA = Workload{Name: "A", Description: "update heavy: 50% read, 50% update", Read: 0.5, Update: 0.5}
	// WorkloadB is read mostly: 95% reads, 5% updates (photo tagging).
	WorkloadB = Workload{Name: "B", Description: "read mostly: 95% read, 5% update", Read: 0.95, Update: 0.05}
	// WorkloadC is read only (a user profile cache).
	WorkloadC = Workload{Name: "C", Description: "read only: 100% read", Read: 1}
	// WorkloadF is read-modify-write: 50% reads, 50% read-modify-writes (a
	// user database whose records are read and changed).
	WorkloadF = Workload{Name: "F", Description: "read-modify-write: 50% read, 50% RMW", Read: 0.5, ReadModifyWrite: 0.5}
)

// Workloads lists the predefined workloads in order.
func Workloads() []Workload { return []Workload{WorkloadA, WorkloadB, WorkloadC, WorkloadF} }

// ParseWorkload returns the predefined workload named s ("a", "B", "ycsb-c"...).
func ParseWorkload(s string) (Workload, error) {
	name := strings.ToUpper(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "ycsb-"))
	for _, w := range Workloads() {
		if w.Name == name {
			return w, nil
		}
	}
	return Workload{}, errors.Newf("ycsb: unknown workload %q (want A, B, C or F)", s)
}

// ParseWorkloads parses a comma-separated list of workload names.
func ParseWorkloads(list string) ([]Workload, error) {
	var out []Workload
	for _, f := range strings.Split(list, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		w, err := ParseWorkload(f)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, errors.New("ycsb: no workload given")
	}
	return out, nil
}

// validate checks that the proportions are non-negative and sum to 1.
func (w Workload) validate() error {
	if w.Read < 0 || w.Update < 0 || w.ReadModifyWrite < 0 {
		return errors.Newf("ycsb: workload %q has a negative proportion", w.Name)
	}
	sum := w.Read + w.Update + w.ReadModifyWrite
	if sum < 0.999 || sum > 1.001 {
		return errors.Newf("ycsb: workload %q proportions sum to %v, not 1", w.Name, sum)
	}
	return nil
}
