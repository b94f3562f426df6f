package churn

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// Config is one churn run's shape.
type Config struct {
	Keys, ValueSize, Writers int
	Churn, Idle              time.Duration
	// Dir is the (empty) store directory; the caller removes it.
	Dir string
}

// Result is what one run measured.
type Result struct {
	PutsPerSec float64
	// InPlace is the share (0..1) of the churn's Puts done in place.
	InPlace float64
	// Live, PeakDisk and SettledDisk are bytes: the keys and values, the
	// directory at its largest sample, and the directory after Idle.
	Live, PeakDisk, SettledDisk float64
	// SyncLag is the store's Stats.SyncLagMax at the end of the churn (0
	// without periodic syncs); PacedWrites its Stats.PacedWrites.
	SyncLag     time.Duration
	PacedWrites uint64
	// PeakAt says when the peak was and where its bytes were (Breakdown);
	// SettledAt is the breakdown after Idle.
	PeakAt, SettledAt string
}

// keySize is the length of a churn key: "key-" and a big-endian index.
const keySize = 12

func key(b []byte, i int) []byte {
	copy(b, "key-")
	binary.BigEndian.PutUint64(b[4:], uint64(i))
	return b
}

// Run opens a store in c.Dir with o, runs the churn and closes the store.
// A cancelled ctx ends the churn and the idle period early and is returned.
func Run(ctx context.Context, c Config, o *rskv.Options) (res Result, err error) {
	s, err := rskv.Open(c.Dir, o)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	kb, val := make([]byte, keySize), make([]byte, c.ValueSize)
	for i := 0; i < c.Keys; i++ {
		if err := s.Put(key(kb, i), val); err != nil {
			return Result{}, err
		}
	}
	res.Live = float64(c.Keys * (keySize + c.ValueSize))
	st0 := s.Stats()
	stop := make(chan struct{})
	puts := make([]int64, c.Writers)
	errs := make(chan error, c.Writers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < c.Writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kb, v := make([]byte, keySize), make([]byte, c.ValueSize)
			x := uint64(w + 1)
			for n := int64(0); ; n++ {
				if n%1024 == 0 { // look at stop now and then, not on every Put
					select {
					case <-stop:
						puts[w] = n
						return
					default:
					}
				}
				x ^= x << 13 // xorshift: a random key and value without a shared source
				x ^= x >> 7
				x ^= x << 17
				binary.LittleEndian.PutUint64(v, x)
				if err := s.Put(key(kb, int(x%uint64(c.Keys))), v); err != nil {
					errs <- err
					puts[w] = n
					return
				}
			}
		}()
	}
	var sampleErr error
	sample := func() float64 {
		n, err := DirBytes(c.Dir)
		if err != nil && sampleErr == nil {
			sampleErr = err
		}
		if f := float64(n); f > res.PeakDisk {
			res.PeakDisk = f
			res.PeakAt = fmt.Sprintf("%.1fs: %s", time.Since(start).Seconds(), Breakdown(c.Dir))
		}
		return float64(n)
	}
	for time.Since(start) < c.Churn && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		sample()
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return Result{}, err
	}
	st := s.Stats()
	for t := time.Now(); time.Since(t) < c.Idle && ctx.Err() == nil; {
		time.Sleep(100 * time.Millisecond)
		sample()
	}
	res.SettledDisk = sample()
	res.SettledAt = Breakdown(c.Dir)
	if sampleErr != nil {
		return Result{}, errors.Wrap(sampleErr, "size of the store directory")
	}
	var total int64
	for _, n := range puts {
		total += n
	}
	res.PutsPerSec = float64(total) / elapsed.Seconds()
	res.InPlace = float64(st.InPlaceUpdates-st0.InPlaceUpdates) / float64(st.Puts-st0.Puts)
	res.SyncLag, res.PacedWrites = st.SyncLagMax, st.PacedWrites-st0.PacedWrites
	return res, ctx.Err()
}

// DirBytes is the total size of the files directly in dir.
func DirBytes(dir string) (int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range ents {
		if info, err := e.Info(); err == nil && !info.IsDir() {
			n += info.Size() // a file deleted meanwhile is simply not counted
		}
	}
	return n, nil
}

// Breakdown sums the sizes of the files in dir by name prefix (up to the
// first '-': seg, delta, checkpoint, ...): "seg: 3 files 72.0 MiB, ...".
func Breakdown(dir string) string {
	ents, _ := os.ReadDir(dir)
	sums, files := map[string]int64{}, map[string]int{}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && !info.IsDir() {
			p, _, _ := strings.Cut(e.Name(), "-")
			sums[p] += info.Size()
			files[p]++
		}
	}
	out := make([]string, 0, len(sums))
	for p, n := range sums {
		out = append(out, fmt.Sprintf("%s: %d files %.1f MiB", p, files[p], float64(n)/(1<<20)))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
