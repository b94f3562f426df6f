package replication

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rskv-go/rskv/internal/server"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/stretchr/testify/require"
)

// BenchmarkReplicated measures SET and GET through a 3-node in-process
// cluster (raft over InmemTransport, raft-boltdb on disk, clients over
// loopback RESP to the leader and to a follower) against one
// non-replicated server whose store syncs every write (SyncAlways, the
// same durability as a raft ack) and one with the default periodic sync.
// Each op's latency is recorded: p50 and p99 are reported in µs.
//
//	go test ./internal/replication -run '^$' -bench Replicated -benchtime 3s -count 3
func BenchmarkReplicated(b *testing.B) {
	b.Run("raft3-leader", func(b *testing.B) {
		c := newCluster(b, 3, nil)
		benchOps(b, c.leader().addr)
	})
	b.Run("raft3-follower", func(b *testing.B) {
		c := newCluster(b, 3, nil)
		l := c.leader()
		for _, tn := range c.nodes {
			if tn != l {
				benchOps(b, tn.addr)
				return
			}
		}
	})
	for _, m := range []struct {
		name string
		mode rskv.SyncMode
	}{{"single-syncalways", rskv.SyncAlways}, {"single-periodic", rskv.SyncPeriodic}} {
		b.Run(m.name, func(b *testing.B) {
			st, err := rskv.Open(filepath.Join(b.TempDir(), "s"), &rskv.Options{MemorySize: 16 << 20, SyncMode: m.mode})
			require.NoError(b, err)
			srv, err := server.New(st, server.Config{Logger: quiet})
			require.NoError(b, err)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(b, err)
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			benchOps(b, ln.Addr().String())
			require.NoError(b, srv.Shutdown(context.Background()))
			<-done
			require.NoError(b, st.Close())
		})
	}
}

func benchOps(b *testing.B, addr string) {
	b.Run("SET-1client", func(b *testing.B) {
		// One client, one command at a time: the commit latency.
		cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, PoolSize: 1, MaxRetries: -1})
		defer cl.Close()
		ctx := context.Background()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			require.NoError(b, cl.Set(ctx, "s"+strconv.Itoa(i%1000), "v", 0).Err())
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		reportLatency(b, lat)
	})
	for _, op := range []string{"SET", "GET"} {
		b.Run(op, func(b *testing.B) {
			cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, PoolSize: 64, MaxRetries: -1})
			defer cl.Close()
			ctx := context.Background()
			require.NoError(b, cl.Set(ctx, "k0", "v", 0).Err())
			var mu sync.Mutex
			var lat []time.Duration
			var errs atomic.Int64
			var seq atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				mine := make([]time.Duration, 0, 1024)
				val := []byte("value-of-32-bytes-xxxxxxxxxxxxxx")
				for pb.Next() {
					k := "k" + strconv.FormatInt(seq.Add(1)%1000, 10)
					start := time.Now()
					var err error
					if op == "SET" {
						err = cl.Set(ctx, k, val, 0).Err()
					} else {
						err = cl.Get(ctx, "k0").Err()
					}
					mine = append(mine, time.Since(start))
					if err != nil {
						errs.Add(1)
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			require.Zero(b, errs.Load(), "errors")
			reportLatency(b, lat)
		})
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}
