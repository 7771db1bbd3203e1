// Package prometheus is the Meter on prometheus/client_golang. Each Meter
// has its own registry (never the process-global one, so two apps in one
// process, or parallel tests, do not share series) holding the Go runtime
// and process collectors, the database pool statistics registered with
// RegisterDBStats, and every instrument the framework and the app create.
// Handler serves them all in the Prometheus exposition format.
//
// The framework names its metrics fm_… (fm_http_requests_total); the Go,
// process and database pool collectors keep their standard names (go_…,
// process_…, go_sql_…), which existing dashboards expect.
package prometheus

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/framework-m/framework-m/ports"
)

// Meter is a ports.Meter recording into a registry of its own.
type Meter struct {
	reg *prometheus.Registry
	log *slog.Logger

	mu     sync.Mutex
	byName map[string]*entry
}

// entry is one registered instrument.
type entry struct {
	kind   string
	labels []string
	inst   any // counter, gauge or histogram
}

// New returns a Meter whose registry holds the Go runtime and process
// collectors. log receives scrape errors (nil: slog.Default()).
func New(log *slog.Logger) *Meter {
	if log == nil {
		log = slog.Default()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return &Meter{reg: reg, log: log, byName: map[string]*entry{}}
}

// Registry returns the Meter's registry, for an app's own collectors.
func (m *Meter) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry's metrics (GET /metrics). A collector that
// fails is logged and left out; the rest are still served.
func (m *Meter) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg, // promhttp_metric_handler_errors_total
	})
}

// RegisterDBStats exports db's connection pool statistics (go_sql_… with
// label db_name=dbName: open, in use and idle connections, waits and their
// duration, connections closed for each limit). Registering one dbName twice
// is an error.
func (m *Meter) RegisterDBStats(dbName string, db *sql.DB) error {
	if err := m.reg.Register(collectors.NewDBStatsCollector(db, dbName)); err != nil {
		return fmt.Errorf("prometheus: database pool statistics of %q: %w", dbName, err)
	}
	return nil
}

// register returns the instrument called name, making it with build the
// first time; a conflicting registration panics (the port's contract).
func (m *Meter) register(kind, name string, labels []string, buckets []float64, build func() prometheus.Collector, wrap func(prometheus.Collector) any) any {
	if err := ports.CheckMetric(name, labels, buckets); err != nil {
		panic(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byName[name]; ok {
		if e.kind != kind || !slices.Equal(e.labels, labels) {
			panic(fmt.Sprintf("prometheus meter: metric %q registered as a %s with labels %v, now as a %s with labels %v", name, e.kind, e.labels, kind, labels))
		}
		return e.inst
	}
	c := build()
	if err := m.reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			err = fmt.Errorf("a collector of the registry already has this name: %w", err)
		}
		panic(fmt.Sprintf("prometheus meter: register %q: %v", name, err))
	}
	e := &entry{kind: kind, labels: slices.Clone(labels), inst: wrap(c)}
	m.byName[name] = e
	return e.inst
}

// Counter returns the counter called name (see ports.Meter).
func (m *Meter) Counter(name, help string, labels ...string) ports.Counter {
	return m.register("counter", name, labels, nil, func() prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}, func(c prometheus.Collector) any { return counter{c.(*prometheus.CounterVec)} }).(ports.Counter)
}

// Gauge returns the gauge called name (see ports.Meter).
func (m *Meter) Gauge(name, help string, labels ...string) ports.Gauge {
	return m.register("gauge", name, labels, nil, func() prometheus.Collector {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}, func(c prometheus.Collector) any { return gauge{c.(*prometheus.GaugeVec)} }).(ports.Gauge)
}

// Histogram returns the histogram called name (see ports.Meter).
func (m *Meter) Histogram(name, help string, buckets []float64, labels ...string) ports.Histogram {
	if buckets == nil {
		buckets = ports.DurationBuckets
	}
	return m.register("histogram", name, labels, buckets, func() prometheus.Collector {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: slices.Clone(buckets)}, labels)
	}, func(c prometheus.Collector) any { return histogram{c.(*prometheus.HistogramVec)} }).(ports.Histogram)
}

// The vectors' WithLabelValues panics on a wrong number of values or invalid
// UTF-8, and a counter's Add on a negative value: the port's contract.

type counter struct{ vec *prometheus.CounterVec }

func (c counter) Add(v float64, labelValues ...string) { c.vec.WithLabelValues(labelValues...).Add(v) }

type gauge struct{ vec *prometheus.GaugeVec }

func (g gauge) Set(v float64, labelValues ...string) { g.vec.WithLabelValues(labelValues...).Set(v) }
func (g gauge) Add(v float64, labelValues ...string) { g.vec.WithLabelValues(labelValues...).Add(v) }

type histogram struct{ vec *prometheus.HistogramVec }

func (h histogram) Observe(v float64, labelValues ...string) {
	h.vec.WithLabelValues(labelValues...).Observe(v)
}

var _ ports.Meter = (*Meter)(nil)
