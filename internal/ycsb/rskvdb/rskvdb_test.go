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
