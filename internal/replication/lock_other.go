//go:build !unix

package replication

import (
	"os"

	"github.com/cockroachdb/errors"
)

// lockFile opens path; without flock, no other process is kept out.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	return f, errors.Wrap(err, "replication: open the raft log lock")
}
