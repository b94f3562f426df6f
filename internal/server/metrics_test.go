package server

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rskv-go/rskv/pkg/rskv/rskvprom"
	"github.com/stretchr/testify/require"
)

func TestPrometheusCollectors(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.client(2)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		require.NoError(t, c.Set(ctx, "k", i, 0).Err())
	}
	require.NoError(t, c.Set(ctx, "s", "x", 0).Err())
	require.Error(t, c.Incr(ctx, "s").Err())
	require.NoError(t, c.Get(ctx, "k").Err())

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(ts.srv.Collector()))
	require.NoError(t, reg.Register(rskvprom.NewCollector(ts.st, "rskv")))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Equal(t, 11.0, metricValue(t, mfs, "rskv_server_commands_total", "set"))
	require.Equal(t, 1.0, metricValue(t, mfs, "rskv_server_command_errors_total", "incr"))
	require.Equal(t, 1.0, metricValue(t, mfs, "rskv_server_commands_total", "get"))
	require.Equal(t, 11.0, metricValue(t, mfs, "rskv_server_command_duration_seconds", "set"), "histogram count")
	require.GreaterOrEqual(t, metricValue(t, mfs, "rskv_server_connected_clients", ""), 1.0)
	require.Equal(t, 2.0, metricValue(t, mfs, "rskv_store_keys", ""))
	require.Positive(t, metricValue(t, mfs, "rskv_store_log_address", "tail"))
	require.GreaterOrEqual(t, metricValue(t, mfs, "rskv_store_operations_total", "rmw"), 12.0)
}

// metricValue returns the value of the metric name whose only label (if
// any) has the value label; a histogram gives its sample count.
func metricValue(t *testing.T, mfs []*dto.MetricFamily, name, label string) float64 {
	t.Helper()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("metric %s{%s} not found", name, label)
	return 0
}
