package rskv_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// The storage side of fault injection: give the store a file system that
// fails on demand. Here every fsync fails once the toggle is on; the store
// reports the failure, refuses writes from then on (a failed fsync may have
// lost data) and still serves reads.
func ExampleOptions_faultInjection() {
	var broken errorfs.Toggle
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.All(&broken, errorfs.Ops(errorfs.OpSync)))
	o := &rskv.Options{FS: fs, MemorySize: 1 << 20, DisableBackground: true}
	o.SetSyncMode(rskv.SyncAlways)
	s, err := rskv.Open("db", o)
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Put([]byte("a"), []byte("1")))

	broken.On()
	err = s.Put([]byte("b"), []byte("2"))
	fmt.Println("put failed:", errors.Is(err, errorfs.ErrInjected))
	v, err := s.Get([]byte("a"))
	fmt.Println("read:", string(v), err)
	err = s.Put([]byte("c"), []byte("3"))
	fmt.Println("later writes refused:", errors.Is(err, errorfs.ErrInjected))
	fmt.Println("close reports it:", s.Close() != nil)
	// Output:
	// <nil>
	// put failed: true
	// read: 1 <nil>
	// later writes refused: true
	// close reports it: true
}

// The service side of fault injection: make a background service panic and
// watch its supervisor restart it while the store keeps serving.
func ExampleServiceFaults() {
	faults := &rskv.ServiceFaults{}
	s, err := rskv.Open("db", &rskv.Options{
		FS: vfs.NewMem(), MemorySize: 1 << 20,
		CheckpointInterval: time.Hour, // the checkpointer runs only when triggered
		ServiceFaults:      faults,
	})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	if err := faults.PanicNext("checkpointer", "injected panic"); err != nil {
		panic(err)
	}
	_ = faults.Trigger("checkpointer") // run its step now
	for !restarted(s, "checkpointer") {
		time.Sleep(time.Millisecond)
	}
	for _, st := range s.Services() {
		if st.Name == "checkpointer" {
			fmt.Println("restarts:", st.Restarts, "last error:", strings.Contains(st.LastError, "injected panic"))
		}
	}
	fmt.Println("store serves:", s.Put([]byte("k"), []byte("v")))

	err = faults.FailNext("compactor", nil)
	fmt.Println("unknown service:", errors.Is(err, rskv.ErrUnknownService))
	// Output:
	// restarts: 1 last error: true
	// store serves: <nil>
	// unknown service: true
}

func restarted(s *rskv.Store, name string) bool {
	for _, st := range s.Services() {
		if st.Name == name {
			return st.Restarts >= 1 && st.Running
		}
	}
	return false
}
