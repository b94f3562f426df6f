package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns a prometheus.Collector for the server's own metrics:
// commands by name (calls, errors, latency histograms), connections and
// network bytes. Register rskvprom's collector beside it for the store.
func (s *Server) Collector() prometheus.Collector { return &collector{s: s} }

type collector struct{ s *Server }

var (
	descCalls   = prometheus.NewDesc("rskv_server_commands_total", "Commands run, by name.", []string{"cmd"}, nil)
	descFailed  = prometheus.NewDesc("rskv_server_command_errors_total", "Commands answered with an error, by name.", []string{"cmd"}, nil)
	descLatency = prometheus.NewDesc("rskv_server_command_duration_seconds", "Time to run a command (reply written to the buffer), by name.", []string{"cmd"}, nil)
	descConns   = prometheus.NewDesc("rskv_server_connected_clients", "Clients connected now.", nil, nil)
	descAccept  = prometheus.NewDesc("rskv_server_connections_total", "Connections accepted.", nil, nil)
	descReject  = prometheus.NewDesc("rskv_server_rejected_connections_total", "Connections refused (maxclients).", nil, nil)
	descNet     = prometheus.NewDesc("rskv_server_net_bytes_total", "Bytes read from and written to clients.", []string{"dir"}, nil)
	descProto   = prometheus.NewDesc("rskv_server_protocol_errors_total", "Connections closed for bad protocol input.", nil, nil)
	descSlow    = prometheus.NewDesc("rskv_server_slow_consumers_closed_total", "Connections closed for reading no reply within the write timeout.", nil, nil)
	descUnknown = prometheus.NewDesc("rskv_server_unknown_commands_total", "Unknown commands received.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCalls, descFailed, descLatency, descConns, descAccept, descReject, descNet, descProto, descSlow, descUnknown} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	for _, cmd := range cmdSorted {
		t := s.stats.totals(cmd)
		if t.calls == 0 && t.failed == 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(t.calls), cmd.name)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(t.failed), cmd.name)
		buckets := make(map[float64]uint64, len(latencyBuckets))
		var cum uint64
		for i, b := range latencyBuckets {
			cum += t.buckets[i]
			buckets[b] = cum
		}
		ch <- prometheus.MustNewConstHistogram(descLatency, t.calls, float64(t.usec)/1e6, buckets, cmd.name)
	}
	s.mu.Lock()
	n := len(s.clients)
	s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(descAccept, prometheus.CounterValue, float64(s.totalConns.Load()))
	ch <- prometheus.MustNewConstMetric(descReject, prometheus.CounterValue, float64(s.rejectedConns.Load()))
	ch <- prometheus.MustNewConstMetric(descNet, prometheus.CounterValue, float64(s.stats.netIn()), "in")
	ch <- prometheus.MustNewConstMetric(descNet, prometheus.CounterValue, float64(s.stats.netOut()), "out")
	ch <- prometheus.MustNewConstMetric(descProto, prometheus.CounterValue, float64(s.protoErrors.Load()))
	ch <- prometheus.MustNewConstMetric(descSlow, prometheus.CounterValue, float64(s.slowClosed.Load()))
	ch <- prometheus.MustNewConstMetric(descUnknown, prometheus.CounterValue, float64(s.stats.unknown.Load()))
}
