package supervisor

import "github.com/cockroachdb/errors"

// Errors returned by Tree methods. Match them with errors.Is; the errors
// returned wrap them with the tree's name and details.
var (
	// ErrAlreadyRunning is returned by [Tree.Start] when the tree is
	// already running, and by [Tree.Wait] while it runs.
	ErrAlreadyRunning = errors.New("supervisor: already running")
	// ErrStopTimeout is returned by [Tree.Stop] when some services did not
	// return within their policy's Timeout. The tree is stopped all the
	// same; those services finish in the background, and [Tree.Wait] waits
	// for them.
	ErrStopTimeout = errors.New("supervisor: services did not stop in time")
	// ErrInvalidConfig is returned by [New] for a Config it cannot use.
	ErrInvalidConfig = errors.New("supervisor: invalid config")
)
