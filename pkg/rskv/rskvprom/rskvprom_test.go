package rskvprom_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rskv-go/rskv/pkg/rskv"
	"github.com/rskv-go/rskv/pkg/rskv/rskvprom"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCollector(t *testing.T) {
	st, err := rskv.Open(t.TempDir(), &rskv.Options{MemorySize: 8 << 20, DisableBackground: true})
	require.NoError(t, err)
	defer st.Close()
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, st.Put([]byte(k), []byte("v")))
	}
	_, err = st.Get([]byte("a"))
	require.NoError(t, err)

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(rskvprom.NewCollector(st, "app")))
	want := `
# HELP app_store_keys Live keys in the store.
# TYPE app_store_keys gauge
app_store_keys 3
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "app_store_keys"))
	n, err := testutil.GatherAndCount(reg, "app_store_operations_total", "app_store_log_address", "app_store_background_running")
	require.NoError(t, err)
	require.Equal(t, 10+6+1, n)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "app_store_operations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch m.GetLabel()[0].GetValue() {
			case "put":
				require.Equal(t, 3.0, m.GetCounter().GetValue())
			case "get":
				require.Equal(t, 1.0, m.GetCounter().GetValue())
			}
		}
	}
}
