package prometheus_test

import (
	"database/sql"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "gorm.io/driver/sqlite" // registers the sqlite3 database/sql driver

	"github.com/framework-m/framework-m/adapters/metrics/prometheus"
	"github.com/framework-m/framework-m/fmtest/metricstest"
	"github.com/framework-m/framework-m/ports"
)

func TestContract(t *testing.T) {
	metricstest.Run(t, func(t *testing.T) (ports.Meter, metricstest.Reader) {
		m := prometheus.New(nil)
		return m, reader{t: t, m: m}
	})
}

// reader reads a Meter's values back from its registry.
type reader struct {
	t *testing.T
	m *prometheus.Meter
}

// series returns the series of name whose label values are values.
func (r reader) series(name string, values []string) (*dto.MetricFamily, *dto.Metric) {
	fams, err := r.m.Registry().Gather()
	require.NoError(r.t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Equal(got, values) || len(got) == 0 && len(values) == 0 {
				return f, m
			}
		}
		return f, nil
	}
	return nil, nil
}

func (r reader) Value(name string, labelValues ...string) (float64, bool) {
	_, m := r.series(name, labelValues)
	switch {
	case m == nil:
		return 0, false
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue(), true
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

func (r reader) HistogramValue(name string, labelValues ...string) (uint64, float64, bool) {
	_, m := r.series(name, labelValues)
	if m.GetHistogram() == nil {
		return 0, 0, false
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum(), true
}

func (r reader) Bucket(name string, le float64, labelValues ...string) uint64 {
	_, m := r.series(name, labelValues)
	h := m.GetHistogram()
	if h == nil {
		return 0
	}
	if math.IsInf(le, 1) {
		return h.GetSampleCount()
	}
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	r.t.Fatalf("%s has no bucket le=%v", name, le)
	return 0
}

func (r reader) Series(name string) int {
	f, _ := r.series(name, nil)
	return len(f.GetMetric())
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

func TestHandlerServesRuntimeProcessAndInstruments(t *testing.T) {
	m := prometheus.New(nil)
	m.Counter("fm_http_requests_total", "Requests.", "route", "method", "status").Add(1, "/api/v1/resource/:doctype", "GET", "200")
	m.Histogram("fm_http_request_duration_seconds", "Latency.", nil, "route", "method").Observe(0.02, "/api/v1/resource/:doctype", "GET")
	body := scrape(t, m.Handler())
	assert.Contains(t, body, `fm_http_requests_total{method="GET",route="/api/v1/resource/:doctype",status="200"} 1`)
	assert.Contains(t, body, `fm_http_request_duration_seconds_bucket{method="GET",route="/api/v1/resource/:doctype",le="0.025"} 1`)
	assert.Contains(t, body, "go_goroutines ")
	assert.Contains(t, body, "go_memstats_alloc_bytes ")
	assert.Contains(t, body, "process_start_time_seconds ")
}

func TestOwnRegistryPerMeter(t *testing.T) {
	a, b := prometheus.New(nil), prometheus.New(nil)
	a.Counter("fm_only_in_a_total", "A.").Add(1)
	b.Counter("fm_only_in_a_total", "Same name, another registry.").Add(5)
	assert.Contains(t, scrape(t, a.Handler()), "fm_only_in_a_total 1\n")
	assert.Contains(t, scrape(t, b.Handler()), "fm_only_in_a_total 5\n")
}

func TestNameOfACollectorPanics(t *testing.T) {
	m := prometheus.New(nil)
	assert.Panics(t, func() { m.Gauge("go_goroutines", "Clashes with the Go collector.") })
}

func TestRegisterDBStats(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, db.Ping())
	m := prometheus.New(nil)
	require.NoError(t, m.RegisterDBStats("main", db))
	body := scrape(t, m.Handler())
	assert.Contains(t, body, `go_sql_open_connections{db_name="main"} 1`)
	assert.Contains(t, body, `go_sql_max_open_connections{db_name="main"}`)
	err = m.RegisterDBStats("main", db)
	require.Error(t, err, "the same database name twice")
	assert.Contains(t, err.Error(), `"main"`)
	require.NoError(t, m.RegisterDBStats("audit", db), "another name is another collector")
}

// BenchmarkRequestInstruments is what the web adapter records per request:
// one counter series of three labels and one histogram series of two.
func BenchmarkRequestInstruments(b *testing.B) {
	m := prometheus.New(nil)
	c := m.Counter("fm_http_requests_total", "Requests.", "route", "method", "status")
	h := m.Histogram("fm_http_request_duration_seconds", "Latency.", nil, "route", "method")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add(1, "/api/v1/resource/:doctype/:name", "GET", "200")
			h.Observe(0.0042, "/api/v1/resource/:doctype/:name", "GET")
		}
	})
}
