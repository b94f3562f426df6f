package errorfs_test

import (
	"errors"
	"fmt"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/log/vfs/errorfs"
)

// appendRecords is a toy workload: it appends records to a log, syncing each.
func appendRecords(fsys vfs.FS, records ...string) (err error) {
	f, err := fsys.Create("log")
	if err != nil {
		return err
	}
	defer closeInto(&err, f)
	if err := fsys.SyncDir("/"); err != nil {
		return err
	}
	var off int64
	for _, r := range records {
		if _, err := f.WriteAt([]byte(r), off); err != nil {
			return err
		}
		off += int64(len(r))
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// Fail each write or sync of a workload in turn, and look at what a crash
// right after the failure leaves behind.
func Example() {
	for i := int64(0); ; i++ {
		mem := vfs.NewMem()
		idx := errorfs.OnIndex(i)
		err := appendRecords(errorfs.Wrap(mem, errorfs.All(errorfs.Ops(errorfs.OpWrite, errorfs.OpSync), idx)), "a|", "b|")
		if !idx.Fired() {
			fmt.Println("clean run:", err)
			break
		}
		f, _ := mem.CrashClone().Open("log")
		size, _ := f.Size()
		_ = f.Close()
		fmt.Printf("%v; %d durable bytes\n", errors.Is(err, errorfs.ErrInjected), size)
	}
	// Output:
	// true; 0 durable bytes
	// true; 0 durable bytes
	// true; 2 durable bytes
	// true; 2 durable bytes
	// clean run: <nil>
}

// A torn write leaves exactly a prefix of the buffer in the file.
func ExampleWithShortWrites() {
	mem := vfs.NewMem()
	wfs := errorfs.Wrap(mem, errorfs.Ops(errorfs.OpWrite),
		errorfs.WithShortWrites(func(n int) int { return 3 }))
	f, _ := wfs.Create("f")
	n, err := f.WriteAt([]byte("abcdef"), 0)
	fmt.Println(n, err)
	_ = f.Close()
	r, _ := mem.Open("f")
	buf := make([]byte, 6)
	n, _ = r.ReadAt(buf, 0)
	_ = r.Close()
	fmt.Printf("%q\n", buf[:n])
	// Output:
	// 3 write f [0, +6): errorfs: injected error
	// "abc"
}

// A Recorder counts the operations of a run.
func ExampleRecord() {
	rec := errorfs.Record(nil, 0)
	_ = appendRecords(errorfs.Wrap(vfs.NewMem(), rec), "a|", "b|", "c|")
	fmt.Println(rec)
	// Output:
	// create=1 write=3 sync=3 syncdir=1 close=1
}
