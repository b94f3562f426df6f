package test_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"

	"github.com/rskv-go/rskv/log/vfs"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// TestPowerLossProperty drives one writer through random sequences of
// Put, RMW, Delete, Sync, Checkpoint, Compact, clean reopens and power cuts
// (clean and torn), checking after each cut that every key holds a value
// allowed by the contract and after each clean reopen that it holds
// exactly what was written. rapid shrinks a failing sequence to a short
// one; replay it with -rapid.seed.
func TestPowerLossProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mode := rapid.SampledFrom([]rskv.SyncMode{rskv.SyncAlways, rskv.SyncPeriodic, rskv.SyncNone}).Draw(t, "mode")
		fs := vfs.NewMem()
		open := func() *rskv.Store {
			s, err := rskv.Open("db", smallOptions(mode, false, fs))
			if err != nil {
				t.Fatalf("open: %+v", err)
			}
			return s
		}
		s := open()
		defer func() { _ = s.Close() }()
		start, startVals := map[string]uint64{}, map[string][]byte{}
		j := &journal{}
		ver, syncs := uint64(0), uint64(0)
		// reopen checks the store against the journal (SyncAlways rules
		// when everything must be there) and starts a new journal.
		check := func(s *rskv.Store, exact bool, what string) {
			m := buildModel(start, startVals, j.snapshot(), -1, mode == rskv.SyncAlways || exact)
			var err error
			if start, startVals, err = verifyStore(s, m); err != nil {
				t.Fatalf("after %s: %v (recovery %+v)", what, err, s.Stats().Recovery)
			}
			j = &journal{}
		}
		steps := rapid.IntRange(1, 80).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			key := fmt.Sprintf("k%d", rapid.IntRange(0, 7).Draw(t, "key"))
			ver++
			var err error
			switch op := rapid.IntRange(0, 99).Draw(t, "op"); {
			case op < 40:
				j.add(event{typ: 'I', kind: 'P', key: key, ver: ver})
				err = s.Put([]byte(key), encodeValue(key, ver, 0))
			case op < 55:
				j.add(event{typ: 'I', kind: 'M', key: key, ver: ver})
				v := ver
				_, err = s.RMW([]byte(key), func(old []byte, found bool) []byte {
					prev := uint64(0)
					if found {
						_, prev, _, _ = parseValue(old)
					}
					return encodeValue(key, v, prev)
				})
			case op < 65:
				j.add(event{typ: 'I', kind: 'D', key: key, ver: ver})
				err = s.Delete([]byte(key))
			case op < 75:
				syncs++
				j.add(event{typ: 's', ver: syncs})
				if err = s.Sync(); err == nil {
					j.add(event{typ: 'S', ver: syncs})
				}
				continue
			case op < 80:
				_, err = s.Checkpoint()
			case op < 84:
				_, err = s.Compact()
			case op < 88:
				if err = s.Close(); err == nil {
					s = open()
					check(s, true, "a clean reopen")
				}
			default:
				torn := rapid.Bool().Draw(t, "torn")
				var clone *vfs.MemFS
				if torn {
					clone = fs.CrashCloneTorn(rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "tear"), 0)))
				} else {
					clone = fs.CrashClone()
				}
				_ = s.Close()
				fs = clone
				s = open()
				check(s, false, fmt.Sprintf("a power cut (torn %v)", torn))
			}
			if err != nil {
				t.Fatalf("step %d: %+v", i, err)
			}
			if len(j.events) > 0 && j.events[len(j.events)-1].typ == 'I' {
				j.add(event{typ: 'A', key: key, ver: ver})
			}
		}
	})
}
