// Package rskvprom exports a Store's statistics to Prometheus: an
// application that embeds rskv registers Collector and gets the same store
// metrics as `rskv serve --metrics-addr`.
//
//	reg.MustRegister(rskvprom.NewCollector(store, "rskv"))
//
// Every scrape reads Store.Stats, Store.Services and Store.BackgroundStats
// once; nothing is counted on the store's hot path for it.
package rskvprom

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rskv-go/rskv/pkg/rskv"
)

// Collector is a prometheus.Collector for one Store.
type Collector struct {
	st *rskv.Store

	keys, addr, bytes, ops, index, counts *prometheus.Desc
	svcUp, svcRestarts, svcFailures, bg   *prometheus.Desc
}

// NewCollector returns a collector for st whose metric names start with
// namespace ("rskv" if empty).
func NewCollector(st *rskv.Store, namespace string) *Collector {
	if namespace == "" {
		namespace = "rskv"
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "store", name), help, labels, nil)
	}
	return &Collector{
		st:          st,
		keys:        d("keys", "Live keys in the store."),
		addr:        d("log_address", "Boundaries of the hybrid log (begin <= head <= read_only <= tail).", "boundary"),
		bytes:       d("log_bytes", "Bytes of the log per region.", "region"),
		ops:         d("operations_total", "Store operations since Open.", "op"),
		index:       d("index_buckets", "Buckets of the hash index.", "kind"),
		counts:      d("maintenance_total", "Maintenance events since Open.", "event"),
		svcUp:       d("service_running", "Whether a background service runs now (1) or not (0).", "service"),
		svcRestarts: d("service_restarts_total", "Restarts of a background service by its supervisor.", "service"),
		svcFailures: d("service_failures_total", "Failures and panics of a background service.", "service"),
		bg:          d("background_running", "Whether the supervision tree runs."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.keys, c.addr, c.bytes, c.ops, c.index, c.counts, c.svcUp, c.svcRestarts, c.svcFailures, c.bg} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.st.Stats()
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	k := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	g(c.keys, float64(s.Keys))
	for _, a := range []struct {
		n string
		v uint64
	}{{"begin", s.BeginAddress}, {"head", s.HeadAddress}, {"read_only", s.ReadOnlyAddress}, {"flushed", s.FlushedAddress}, {"durable", s.DurableAddress}, {"tail", s.TailAddress}} {
		g(c.addr, float64(a.v), a.n)
	}
	g(c.bytes, float64(s.MutableBytes), "mutable")
	g(c.bytes, float64(s.ReadOnlyBytes), "read_only")
	g(c.bytes, float64(s.DiskBytes), "disk")
	g(c.bytes, float64(s.DeadBytes), "dead")
	for _, o := range []struct {
		n string
		v uint64
	}{{"get", s.Gets}, {"put", s.Puts}, {"delete", s.Deletes}, {"rmw", s.RMWs}, {"in_place_update", s.InPlaceUpdates},
		{"append", s.Appends}, {"disk_read", s.DiskReads}, {"retry", s.Retries}, {"promotion", s.Promotions}, {"kept_resident", s.KeptResident}} {
		k(c.ops, float64(o.v), o.n)
	}
	g(c.index, float64(s.IndexBuckets), "main")
	g(c.index, float64(s.IndexOverflowBuckets), "overflow")
	k(c.counts, float64(s.Checkpoints), "checkpoint")
	k(c.counts, float64(s.Compactions), "compaction")
	k(c.counts, float64(s.InlineMaintenance), "inline_maintenance")
	for _, sv := range c.st.Services() {
		up := 0.0
		if sv.Running {
			up = 1
		}
		g(c.svcUp, up, sv.Name)
		k(c.svcRestarts, float64(sv.Restarts), sv.Name)
		k(c.svcFailures, float64(sv.Failures), sv.Name)
	}
	bg := 0.0
	if c.st.BackgroundStats().Running {
		bg = 1
	}
	g(c.bg, bg)
}
