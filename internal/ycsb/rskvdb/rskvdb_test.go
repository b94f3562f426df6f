package rskvdb_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/ycsb"
	"github.com/rskv-go/rskv/internal/ycsb/rskvdb"
	"github.com/rskv-go/rskv/pkg/rskv"
)

func TestAdapter(t *testing.T) {
	db, err := rskvdb.Open(t.TempDir(), &rskv.Options{MemorySize: 8 << 20, DisableBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}()
	if _, err := db.Read([]byte("absent"), nil); !errors.Is(err, ycsb.ErrNotFound) {
		t.Errorf("Read of an absent key: %v, want ycsb.ErrNotFound", err)
	}
	if err := db.Update([]byte("k"), []byte("01234567v")); err != nil {
		t.Fatal(err)
	}
	v, err := db.ReadModifyWrite([]byte("k"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if string(v[1:]) != "11234567v" || v[0] != 'x' {
		t.Errorf("ReadModifyWrite returned %q", v)
	}
	got, err := db.Read([]byte("k"), nil)
	if err != nil || string(got) != "11234567v" {
		t.Errorf("Read after RMW = %q, %v", got, err)
	}

	const records = 2000
	if res, err := ycsb.Load(context.Background(), db, ycsb.LoadConfig{Records: records, ValueSize: 8, Threads: 2}); err != nil || res.Errors != 0 {
		t.Fatalf("load: %v, %d errors (%v)", err, res.Errors, res.Err)
	}
	res, err := ycsb.Run(context.Background(), db, ycsb.RunConfig{
		Workload: ycsb.WorkloadF, Distribution: ycsb.DistZipfian, Records: records, Ops: 10_000, Threads: 2,
	})
	if err != nil || res.Errors != 0 || res.NotFound != 0 {
		t.Fatalf("run: %v, %d errors, %d not found (%v)", err, res.Errors, res.NotFound, res.Err)
	}
	// RMW is atomic: the counters grew by exactly the number of RMWs.
	var grown uint64
	for i := range uint64(records) {
		v, err := db.Read(ycsb.AppendKey(nil, i), nil)
		if err != nil {
			t.Fatal(err)
		}
		grown += binary.LittleEndian.Uint64(v) - i
	}
	if want := uint64(res.Counts["rmw"]); grown != want || want == 0 {
		t.Errorf("counters grew by %d, want %d (one per RMW)", grown, want)
	}
	if db.Store().Len() != records+1 {
		t.Errorf("store holds %d keys, want %d", db.Store().Len(), records+1)
	}
}

// TestOperationsDoNotAllocate checks that the adapter adds no allocation
// to the store's in-memory paths: a read, an in-place update and a
// read-modify-write into a buffer with room allocate nothing, as the
// sharded map's do.
func TestOperationsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	db, err := rskvdb.Open(t.TempDir(), &rskv.Options{MemorySize: 8 << 20, DisableBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}()
	key, value := []byte("key"), make([]byte, 100)
	if err := db.Update(key, value); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 128)
	for _, c := range []struct {
		name string
		op   func()
	}{
		{"Read", func() { buf, _ = db.Read(key, buf[:0]) }},
		{"Update", func() { _ = db.Update(key, value) }},
		{"ReadModifyWrite", func() { buf, _ = db.ReadModifyWrite(key, buf[:0]) }}, // last: 101 increments of 0
	} {
		if n := testing.AllocsPerRun(100, c.op); n != 0 {
			t.Errorf("%s: %v allocations per call", c.name, n)
		}
	}
	got, err := db.Read(key, nil)
	if err != nil || binary.LittleEndian.Uint64(got) != 101 || len(got) != 100 {
		t.Errorf("after 101 RMWs the counter reads %d (%d bytes, %v)", binary.LittleEndian.Uint64(got), len(got), err)
	}
}
