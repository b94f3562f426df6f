package server

import (
	"time"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// sweepEvery is how often the sweeper looks for due keys.
const sweepEvery = 100 * time.Millisecond

// sweep handles the keys of the expiry index that are due: the store's
// expirer makes them absent by itself; the server uncounts them (DBSIZE)
// and deletes an expired hash's fields, which carry no expiry of their own.
// An entry whose key turns out to have another expiry (or none) is
// corrected. It returns how many keys it found expired.
func (d *db) sweep(now time.Time) (int, error) {
	var sc scratch
	n := 0
	for i := range d.stripes {
		st := &d.stripes[i]
		st.Lock()
		for k, e := range st.exp {
			if e.at.After(now) {
				continue
			}
			sc.k = metaKey(sc.k, []byte(k))
			at, err := d.st.ExpiresAt(sc.k)
			if err == nil {
				if at.IsZero() {
					delete(st.exp, k)
				} else {
					st.exp[k] = expEntry{at: at, hid: e.hid}
				}
				continue
			}
			if !errors.Is(err, rskv.ErrNotFound) {
				st.Unlock()
				return n, err
			}
			delete(st.exp, k)
			d.addKeys([]byte(k), -1)
			n++
			if e.hid != 0 {
				if err := d.dropAll(&sc, e.hid); err != nil {
					st.Unlock()
					return n, err
				}
			}
		}
		st.Unlock()
	}
	return n, nil
}

// sweeper runs sweep every sweepEvery until stop is closed. Serve owns it.
func (s *Server) sweeper(stop <-chan struct{}) {
	defer s.bg.Done()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := s.db.sweep(s.db.now()); err != nil && !errors.Is(err, rskv.ErrClosed) {
				s.cfg.Logger.Warn("expiry sweep failed", "err", err)
			}
		}
	}
}

// expiring is the number of keys in the expiry index (INFO keyspace's
// expires=).
func (d *db) expiring() int {
	n := 0
	for i := range d.stripes {
		st := &d.stripes[i]
		st.Lock()
		n += len(st.exp)
		st.Unlock()
	}
	return n
}
