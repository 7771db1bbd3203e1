// Package metricstest is the contract suite of the Meter port: every Meter
// (in-memory, Prometheus …) records and refuses the same way.
//
//	func TestMeter(t *testing.T) {
//		metricstest.Run(t, func(t *testing.T) (ports.Meter, metricstest.Reader) {
//			m := mymeter.New()
//			return m, m
//		})
//	}
//
// The suite reads recorded values back through a Reader, which the adapter
// (or its test) provides.
package metricstest

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/ports"
)

// Reader reads back what a Meter recorded. A series is one combination of
// label values of one instrument.
type Reader interface {
	// Value returns the value of a counter's or gauge's series, and whether
	// that series exists (was ever recorded).
	Value(name string, labelValues ...string) (float64, bool)
	// HistogramValue returns the observation count and sum of a
	// histogram's series, and whether that series exists.
	HistogramValue(name string, labelValues ...string) (count uint64, sum float64, ok bool)
	// Bucket returns how many observations of a histogram's series were at
	// most le (le is one of its buckets; +Inf counts all).
	Bucket(name string, le float64, labelValues ...string) uint64
	// Series returns how many series the instrument called name has.
	Series(name string) int
}

// NewMeter returns a fresh Meter (no instruments) and its Reader. It is
// called once per subtest; subtests run in parallel.
type NewMeter = func(t *testing.T) (ports.Meter, Reader)

// Run checks newMeter's meters against the Meter contract, each behaviour in
// a parallel subtest of its own.
func Run(t *testing.T, newMeter NewMeter) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, m ports.Meter, r Reader)
	}{
		{"CounterAdds", counterAdds},
		{"SeriesPerLabelValues", seriesPerLabelValues},
		{"NoLabels", noLabels},
		{"SameNameSameInstrument", sameNameSameInstrument},
		{"ConflictingRegistrationPanics", conflictingRegistrationPanics},
		{"InvalidNamesPanic", invalidNamesPanic},
		{"WrongLabelCountPanics", wrongLabelCountPanics},
		{"NegativeCounterPanics", negativeCounterPanics},
		{"Gauge", gauge},
		{"Histogram", histogram},
		{"DefaultBuckets", defaultBuckets},
		{"LabelValuesKeptVerbatim", labelValuesVerbatim},
		{"Concurrent", concurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, r := newMeter(t)
			tc.fn(t, m, r)
		})
	}
}

func counterAdds(t *testing.T, m ports.Meter, r Reader) {
	c := m.Counter("fm_test_things_total", "Things done.", "kind")
	_, ok := r.Value("fm_test_things_total", "a")
	assert.False(t, ok, "no series before the first Add")
	c.Add(1, "a")
	c.Add(2.5, "a")
	c.Add(0, "a")
	v, ok := r.Value("fm_test_things_total", "a")
	require.True(t, ok)
	assert.InDelta(t, 3.5, v, 1e-9)
}

func seriesPerLabelValues(t *testing.T, m ports.Meter, r Reader) {
	c := m.Counter("fm_test_requests_total", "Requests.", "route", "status")
	c.Add(1, "/a", "200")
	c.Add(1, "/a", "404")
	c.Add(1, "/a", "200")
	c.Add(1, "/b", "200")
	assert.Equal(t, 3, r.Series("fm_test_requests_total"))
	v, _ := r.Value("fm_test_requests_total", "/a", "200")
	assert.InDelta(t, 2, v, 1e-9)
	v, _ = r.Value("fm_test_requests_total", "/a", "404")
	assert.InDelta(t, 1, v, 1e-9)
	_, ok := r.Value("fm_test_requests_total", "/b", "404")
	assert.False(t, ok, "a combination never recorded has no series")
	_, ok = r.Value("fm_test_requests_total", "200", "/a")
	assert.False(t, ok, "label values are positional")
}

func noLabels(t *testing.T, m ports.Meter, r Reader) {
	m.Counter("fm_test_ticks_total", "Ticks.").Add(2)
	v, ok := r.Value("fm_test_ticks_total")
	require.True(t, ok)
	assert.InDelta(t, 2, v, 1e-9)
	assert.Equal(t, 1, r.Series("fm_test_ticks_total"))
}

func sameNameSameInstrument(t *testing.T, m ports.Meter, r Reader) {
	a := m.Counter("fm_test_shared_total", "Shared.", "x")
	b := m.Counter("fm_test_shared_total", "Other help is ignored.", "x")
	a.Add(1, "v")
	b.Add(1, "v")
	v, _ := r.Value("fm_test_shared_total", "v")
	assert.InDelta(t, 2, v, 1e-9, "both registrations record into one series")

	g1, g2 := m.Gauge("fm_test_shared_gauge", "G."), m.Gauge("fm_test_shared_gauge", "G.")
	g1.Set(5)
	g2.Add(1)
	v, _ = r.Value("fm_test_shared_gauge")
	assert.InDelta(t, 6, v, 1e-9)

	h1 := m.Histogram("fm_test_shared_seconds", "H.", []float64{1, 2})
	h2 := m.Histogram("fm_test_shared_seconds", "H.", []float64{1, 2})
	h1.Observe(0.5)
	h2.Observe(1.5)
	n, _, _ := r.HistogramValue("fm_test_shared_seconds")
	assert.EqualValues(t, 2, n)
}

func conflictingRegistrationPanics(t *testing.T, m ports.Meter, _ Reader) {
	m.Counter("fm_test_conflict_total", "C.", "a")
	assert.Panics(t, func() { m.Gauge("fm_test_conflict_total", "C.", "a") }, "another kind")
	assert.Panics(t, func() { m.Histogram("fm_test_conflict_total", "C.", nil, "a") }, "another kind")
	assert.Panics(t, func() { m.Counter("fm_test_conflict_total", "C.", "b") }, "other labels")
	assert.Panics(t, func() { m.Counter("fm_test_conflict_total", "C.", "a", "b") }, "more labels")
	assert.Panics(t, func() { m.Counter("fm_test_conflict_total", "C.") }, "fewer labels")
}

func invalidNamesPanic(t *testing.T, m ports.Meter, _ Reader) {
	for _, name := range []string{"", "1abc", "fm-test", "fm test", "fm_tëst"} {
		assert.Panics(t, func() { m.Counter(name, "Bad.") }, "name %q", name)
	}
	for _, label := range []string{"", "1x", "a-b", "__reserved", "a:b"} {
		assert.Panics(t, func() { m.Counter("fm_test_bad_label_total", "Bad.", label) }, "label %q", label)
	}
	assert.Panics(t, func() { m.Counter("fm_test_dup_label_total", "Bad.", "a", "a") }, "a label named twice")
	assert.Panics(t, func() { m.Histogram("fm_test_bad_buckets", "Bad.", []float64{1, 1}) }, "buckets not increasing")
	assert.Panics(t, func() { m.Histogram("fm_test_bad_buckets2", "Bad.", []float64{2, 1}) }, "buckets decreasing")
}

func wrongLabelCountPanics(t *testing.T, m ports.Meter, _ Reader) {
	c := m.Counter("fm_test_count_total", "C.", "a", "b")
	assert.Panics(t, func() { c.Add(1, "x") })
	assert.Panics(t, func() { c.Add(1, "x", "y", "z") })
	assert.Panics(t, func() { c.Add(1) })
	g := m.Gauge("fm_test_count_gauge", "G.", "a")
	assert.Panics(t, func() { g.Set(1) })
	assert.Panics(t, func() { g.Add(1, "x", "y") })
	h := m.Histogram("fm_test_count_seconds", "H.", nil, "a")
	assert.Panics(t, func() { h.Observe(1) })
	assert.Panics(t, func() { c.Add(1, "x", "\xff") }, "label values must be valid UTF-8")
}

func negativeCounterPanics(t *testing.T, m ports.Meter, r Reader) {
	c := m.Counter("fm_test_neg_total", "C.")
	c.Add(1)
	assert.Panics(t, func() { c.Add(-1) })
	v, _ := r.Value("fm_test_neg_total")
	assert.InDelta(t, 1, v, 1e-9, "a refused Add changes nothing")
}

func gauge(t *testing.T, m ports.Meter, r Reader) {
	g := m.Gauge("fm_test_queue_depth", "Depth.", "queue")
	g.Set(10, "email")
	g.Add(-3, "email")
	g.Add(2.5, "email")
	v, ok := r.Value("fm_test_queue_depth", "email")
	require.True(t, ok)
	assert.InDelta(t, 9.5, v, 1e-9)
	g.Set(-4, "email")
	v, _ = r.Value("fm_test_queue_depth", "email")
	assert.InDelta(t, -4, v, 1e-9, "a gauge may go below zero")
	g.Add(1, "other")
	v, _ = r.Value("fm_test_queue_depth", "other")
	assert.InDelta(t, 1, v, 1e-9, "Add on a new series starts from zero")
}

func histogram(t *testing.T, m ports.Meter, r Reader) {
	h := m.Histogram("fm_test_latency_seconds", "Latency.", []float64{0.1, 0.5, 1}, "route")
	for _, v := range []float64{0.05, 0.1, 0.3, 0.5, 0.7, 2} {
		h.Observe(v, "/a")
	}
	n, sum, ok := r.HistogramValue("fm_test_latency_seconds", "/a")
	require.True(t, ok)
	assert.EqualValues(t, 6, n)
	assert.InDelta(t, 3.65, sum, 1e-9)
	assert.EqualValues(t, 2, r.Bucket("fm_test_latency_seconds", 0.1, "/a"), "a bucket's bound is inclusive")
	assert.EqualValues(t, 4, r.Bucket("fm_test_latency_seconds", 0.5, "/a"), "buckets are cumulative")
	assert.EqualValues(t, 5, r.Bucket("fm_test_latency_seconds", 1, "/a"))
	assert.EqualValues(t, 6, r.Bucket("fm_test_latency_seconds", math.Inf(1), "/a"))
	_, _, ok = r.HistogramValue("fm_test_latency_seconds", "/b")
	assert.False(t, ok)
}

func defaultBuckets(t *testing.T, m ports.Meter, r Reader) {
	h := m.Histogram("fm_test_default_seconds", "Default buckets.", nil)
	h.Observe(0.003)
	h.Observe(0.2)
	h.Observe(7)
	for _, le := range ports.DurationBuckets {
		want := uint64(0)
		for _, v := range []float64{0.003, 0.2, 7} {
			if v <= le {
				want++
			}
		}
		assert.Equal(t, want, r.Bucket("fm_test_default_seconds", le), "le=%v", le)
	}
}

func labelValuesVerbatim(t *testing.T, m ports.Meter, r Reader) {
	c := m.Counter("fm_test_verbatim_total", "C.", "v")
	odd := []string{"", `quo"te`, "back\\slash", "new\nline", "ünï cödé", "/api/v1/resource/:doctype/:name"}
	for _, s := range odd {
		c.Add(1, s)
	}
	for _, s := range odd {
		v, ok := r.Value("fm_test_verbatim_total", s)
		assert.True(t, ok, "%q", s)
		assert.InDelta(t, 1, v, 1e-9, "%q", s)
	}
}

func concurrent(t *testing.T, m ports.Meter, r Reader) {
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Every worker registers too: registration is safe concurrently.
			c := m.Counter("fm_test_concurrent_total", "C.", "w")
			g := m.Gauge("fm_test_concurrent_gauge", "G.")
			h := m.Histogram("fm_test_concurrent_seconds", "H.", []float64{1})
			for range each {
				c.Add(1, fmt.Sprint(w%2))
				g.Add(1)
				h.Observe(0.5)
			}
		})
	}
	wg.Wait()
	a, _ := r.Value("fm_test_concurrent_total", "0")
	b, _ := r.Value("fm_test_concurrent_total", "1")
	assert.InDelta(t, workers*each, a+b, 1e-9)
	g, _ := r.Value("fm_test_concurrent_gauge")
	assert.InDelta(t, workers*each, g, 1e-9)
	n, _, _ := r.HistogramValue("fm_test_concurrent_seconds")
	assert.EqualValues(t, workers*each, n)
}
