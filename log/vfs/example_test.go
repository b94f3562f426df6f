package vfs_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/rskv-go/rskv/log/vfs"
)

// Only what was synced, file contents and directory entries both, survives
// CrashClone.
func ExampleMemFS_CrashClone() {
	mem := vfs.NewMem()
	f, _ := mem.Create("log")
	_, _ = f.WriteAt([]byte("synced|"), 0)
	_ = f.Sync()
	_ = mem.SyncDir("/")
	_, _ = f.WriteAt([]byte("unsynced"), 7)
	_ = f.Close()
	g, _ := mem.Create("new-file") // its directory is never synced
	_ = g.Sync()
	_ = g.Close()

	crashed := mem.CrashClone()
	names, _ := crashed.List("/")
	fmt.Println(names)
	r, _ := crashed.Open("log")
	size, _ := r.Size()
	_ = r.Close()
	fmt.Println(size)
	// Output:
	// [log]
	// 7
}

// CrashCloneTorn keeps a random prefix of the unsynced writes, possibly
// ending in the middle of one; the seed decides which.
func ExampleMemFS_CrashCloneTorn() {
	mem := vfs.NewMem()
	f, _ := mem.Create("log")
	_ = mem.SyncDir("/")
	for i, rec := range []string{"one|", "two|", "three|"} {
		_, _ = f.WriteAt([]byte(rec), int64(4*i))
	}
	_ = f.Close()
	for _, seed := range []uint64{0, 1, 4, 6} {
		crashed := mem.CrashCloneTorn(rand.New(rand.NewPCG(seed, 0)))
		r, _ := crashed.Open("log")
		size, _ := r.Size()
		buf := make([]byte, size)
		_, _ = r.ReadAt(buf, 0)
		_ = r.Close()
		fmt.Printf("%q\n", buf)
	}
	// Output:
	// "one|two|thre"
	// "one|two|three|"
	// "one|tw"
	// "one|two|"
}
