package memory_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/metrics/memory"
	"github.com/framework-m/framework-m/fmtest/metricstest"
	"github.com/framework-m/framework-m/ports"
)

func TestContract(t *testing.T) {
	metricstest.Run(t, func(*testing.T) (ports.Meter, metricstest.Reader) {
		m := memory.New()
		return m, m
	})
}

func TestHandlerWritesTextFormat(t *testing.T) {
	m := memory.New()
	m.Counter("fm_x_total", "X done.\nTwo lines.", "route", "status").Add(2, "/a/:id", "200")
	m.Counter("fm_x_total", "X done.", "route", "status").Add(1, `q"\`+"\n", "500")
	m.Counter("fm_unused_total", "Never recorded.")
	m.Gauge("fm_depth", "Depth.").Set(-1.5)
	m.Histogram("fm_lat_seconds", "Latency.", []float64{0.1, 1}, "route").Observe(0.5, "/a")

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Equal(t, `# HELP fm_depth Depth.
# TYPE fm_depth gauge
fm_depth -1.5
# HELP fm_lat_seconds Latency.
# TYPE fm_lat_seconds histogram
fm_lat_seconds_bucket{route="/a",le="0.1"} 0
fm_lat_seconds_bucket{route="/a",le="1"} 1
fm_lat_seconds_bucket{route="/a",le="+Inf"} 1
fm_lat_seconds_sum{route="/a"} 0.5
fm_lat_seconds_count{route="/a"} 1
# HELP fm_x_total X done.\nTwo lines.
# TYPE fm_x_total counter
fm_x_total{route="/a/:id",status="200"} 2
fm_x_total{route="q\"\\\n",status="500"} 1
`, rec.Body.String())
	assert.Equal(t, []string{"/a/:id", "q\"\\\n"}, m.LabelValues("fm_x_total", "route"))
	assert.Nil(t, m.LabelValues("fm_x_total", "nope"))
	assert.Zero(t, m.Series("fm_unknown"))
}
