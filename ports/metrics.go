package ports

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// Meter creates the instruments through which core services and the web
// adapter record metrics, without knowing the metrics system behind it
// (Prometheus, an in-memory recorder for tests, or nothing: NopMeter).
//
// Instruments are created at startup (when a service is built), not per
// request, and then used from any goroutine.
//
// Names follow Prometheus conventions: [a-zA-Z_:][a-zA-Z0-9_:]*, snake_case,
// a unit suffix (_seconds, _bytes) and _total on counters. The framework's
// own metrics start with "fm_" (fm_http_requests_total); an app's own should
// use a prefix of its own. Label names follow [a-zA-Z_][a-zA-Z0-9_]* and must
// not start with "__".
//
// Label values must come from small, fixed sets (a route template, a DocType
// name, a status code, a strategy name): never user ids, document names, raw
// paths or anything else a client chooses, since every distinct value makes
// a new series that lives as long as the process.
//
// Registering the same name again with the same kind and the same label
// names returns the same instrument, so two services may share one metric;
// the help text and buckets of the first registration are kept. Registering
// it with another kind, other label names, or an invalid name panics: it is a
// programming error, and it happens at startup, where any test finds it.
type Meter interface {
	// Counter returns the counter called name with the given label names:
	// a value that only goes up (requests served, emails sent).
	Counter(name, help string, labels ...string) Counter
	// Gauge returns the gauge called name with the given label names: a
	// value that goes up and down (queue depth, open connections).
	Gauge(name, help string, labels ...string) Gauge
	// Histogram returns the histogram called name with the given label
	// names, counting observations into buckets (their upper bounds, in
	// increasing order; nil: DurationBuckets). Use it for latencies and sizes.
	Histogram(name, help string, buckets []float64, labels ...string) Histogram
}

// Counter is a cumulative value.
//
// labelValues are the values of the instrument's labels, in the order the
// labels were named, each valid UTF-8; a call with another number of values
// (or invalid UTF-8) panics: a programming error, found by the first test
// that reaches the call. An instrument neither keeps nor changes the
// labelValues slice (callers on hot paths pass one slice, bound once, so
// that no call allocates).
type Counter interface {
	// Add adds v, which must be zero or more (a negative v panics), to the
	// series of labelValues.
	Add(v float64, labelValues ...string)
}

// Gauge is a value that can go up and down. labelValues are as for Counter.
type Gauge interface {
	// Set sets the series of labelValues to v.
	Set(v float64, labelValues ...string)
	// Add adds v (negative: subtracts) to the series of labelValues.
	Add(v float64, labelValues ...string)
}

// Histogram counts observations into buckets and keeps their count and sum.
// labelValues are as for Counter.
type Histogram interface {
	// Observe records one observation v in the series of labelValues.
	Observe(v float64, labelValues ...string)
}

// DurationBuckets are the default histogram buckets, in seconds, from 5 ms
// to 10 s (Prometheus' defaults): request latencies and the like.
var DurationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NopMeter records nothing: metrics are off. Its instruments are empty
// structs, so creating and calling them allocates nothing beyond the call.
type NopMeter struct{}

// Counter returns a counter that records nothing.
func (NopMeter) Counter(string, string, ...string) Counter { return nopInstrument{} }

// Gauge returns a gauge that records nothing.
func (NopMeter) Gauge(string, string, ...string) Gauge { return nopInstrument{} }

// Histogram returns a histogram that records nothing.
func (NopMeter) Histogram(string, string, []float64, ...string) Histogram { return nopInstrument{} }

type nopInstrument struct{}

func (nopInstrument) Add(float64, ...string)     {}
func (nopInstrument) Set(float64, ...string)     {}
func (nopInstrument) Observe(float64, ...string) {}

// MeterOrNop returns m, or NopMeter when m is nil, so a service built with
// an optional Meter can create its instruments unconditionally.
func MeterOrNop(m Meter) Meter {
	if m == nil {
		return NopMeter{}
	}
	return m
}

// CheckMetric reports what is wrong with a metric's name, label names or
// histogram buckets (nil for a counter or gauge), for Meter adapters to
// panic with at registration.
func CheckMetric(name string, labels []string, buckets []float64) error {
	if !validName(name, true) {
		return fmt.Errorf("metric %q: invalid name (want [a-zA-Z_:][a-zA-Z0-9_:]*)", name)
	}
	for i, l := range labels {
		if !validName(l, false) || len(l) >= 2 && l[:2] == "__" {
			return fmt.Errorf("metric %q: invalid label name %q (want [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", name, l)
		}
		if slices.Contains(labels[:i], l) {
			return fmt.Errorf("metric %q: label %q named twice", name, l)
		}
	}
	for i, b := range buckets {
		if i > 0 && b <= buckets[i-1] {
			return fmt.Errorf("metric %q: buckets must increase (%v after %v)", name, b, buckets[i-1])
		}
	}
	return nil
}

// CheckLabelValues reports whether labelValues fit an instrument of labels:
// as many values as label names, each valid UTF-8. Adapters panic with the
// error.
func CheckLabelValues(name string, labels, labelValues []string) error {
	if len(labels) != len(labelValues) {
		return fmt.Errorf("metric %q: %d label values for %d labels %v", name, len(labelValues), len(labels), labels)
	}
	for i, v := range labelValues {
		if !utf8.ValidString(v) {
			return fmt.Errorf("metric %q: label %s: value %q is not valid UTF-8", name, labels[i], v)
		}
	}
	return nil
}

// validName reports whether s is a metric name (colons allowed) or a label
// name.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c == ':' && colon:
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
