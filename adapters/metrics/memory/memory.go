// Package memory is an in-process Meter that keeps every value it records,
// for tests: an app's test builds its App with a memory.Meter, drives
// requests, and reads the values back (Value, HistogramValue, Bucket,
// Series), or scrapes Handler, which writes them in the Prometheus text
// format.
package memory

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/framework-m/framework-m/ports"
)

// kind is an instrument's kind.
type kind int

const (
	counterKind kind = iota
	gaugeKind
	histogramKind
)

func (k kind) String() string {
	switch k {
	case counterKind:
		return "counter"
	case gaugeKind:
		return "gauge"
	}
	return "histogram"
}

// Meter records metrics in memory. It is safe for concurrent use; the zero
// value is not: use New.
type Meter struct {
	mu     sync.RWMutex
	byName map[string]*instrument
}

// New returns an empty Meter.
func New() *Meter {
	return &Meter{byName: map[string]*instrument{}}
}

// instrument is one registered metric and its series.
type instrument struct {
	name, help string
	kind       kind
	labels     []string
	buckets    []float64

	mu     sync.Mutex
	series map[string]*series
}

// series is one combination of label values.
type series struct {
	values []string
	value  float64
	count  uint64
	sum    float64
	// counts are per bucket (not cumulative); the last one is +Inf.
	counts []uint64
}

// sep joins label values into a series key: it never occurs in valid
// UTF-8, which label values must be.
const sep = "\xff"

// register returns the instrument called name, creating it; a conflicting
// registration panics (the port's contract).
func (m *Meter) register(k kind, name, help string, buckets []float64, labels []string) *instrument {
	if err := ports.CheckMetric(name, labels, buckets); err != nil {
		panic(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if in, ok := m.byName[name]; ok {
		if in.kind != k || !slices.Equal(in.labels, labels) {
			panic(fmt.Sprintf("memory meter: metric %q registered as a %s with labels %v, now as a %s with labels %v", name, in.kind, in.labels, k, labels))
		}
		return in
	}
	if k == histogramKind && buckets == nil {
		buckets = ports.DurationBuckets
	}
	in := &instrument{name: name, help: help, kind: k, labels: slices.Clone(labels), buckets: slices.Clone(buckets), series: map[string]*series{}}
	m.byName[name] = in
	return in
}

// at returns the series of values, creating it. Call with in.mu held.
func (in *instrument) at(values []string) *series {
	if err := ports.CheckLabelValues(in.name, in.labels, values); err != nil {
		panic(err)
	}
	key := strings.Join(values, sep)
	s, ok := in.series[key]
	if !ok {
		s = &series{values: slices.Clone(values)}
		if in.kind == histogramKind {
			s.counts = make([]uint64, len(in.buckets)+1)
		}
		in.series[key] = s
	}
	return s
}

// Counter returns the counter called name (see ports.Meter).
func (m *Meter) Counter(name, help string, labels ...string) ports.Counter {
	return counter{m.register(counterKind, name, help, nil, labels)}
}

// Gauge returns the gauge called name (see ports.Meter).
func (m *Meter) Gauge(name, help string, labels ...string) ports.Gauge {
	return gauge{m.register(gaugeKind, name, help, nil, labels)}
}

// Histogram returns the histogram called name (see ports.Meter).
func (m *Meter) Histogram(name, help string, buckets []float64, labels ...string) ports.Histogram {
	return histogram{m.register(histogramKind, name, help, buckets, labels)}
}

type counter struct{ in *instrument }

func (c counter) Add(v float64, labelValues ...string) {
	if v < 0 || math.IsNaN(v) {
		panic(fmt.Sprintf("memory meter: counter %q cannot add %v", c.in.name, v))
	}
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	c.in.at(labelValues).value += v
}

type gauge struct{ in *instrument }

func (g gauge) Set(v float64, labelValues ...string) {
	g.in.mu.Lock()
	defer g.in.mu.Unlock()
	g.in.at(labelValues).value = v
}

func (g gauge) Add(v float64, labelValues ...string) {
	g.in.mu.Lock()
	defer g.in.mu.Unlock()
	g.in.at(labelValues).value += v
}

type histogram struct{ in *instrument }

func (h histogram) Observe(v float64, labelValues ...string) {
	h.in.mu.Lock()
	defer h.in.mu.Unlock()
	s := h.in.at(labelValues)
	i, _ := slices.BinarySearch(h.in.buckets, v) // the first bucket ≥ v
	s.counts[i]++
	s.count++
	s.sum += v
}

// lookup returns the series of name with values, or nil.
func (m *Meter) lookup(name string, values []string) (*instrument, *series) {
	m.mu.RLock()
	in := m.byName[name]
	m.mu.RUnlock()
	if in == nil {
		return nil, nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in, in.series[strings.Join(values, sep)]
}

// Value returns the value of a counter's or gauge's series, and whether that
// series exists.
func (m *Meter) Value(name string, labelValues ...string) (float64, bool) {
	in, s := m.lookup(name, labelValues)
	if s == nil || in.kind == histogramKind {
		return 0, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return s.value, true
}

// HistogramValue returns the observation count and sum of a histogram's
// series, and whether that series exists.
func (m *Meter) HistogramValue(name string, labelValues ...string) (count uint64, sum float64, ok bool) {
	in, s := m.lookup(name, labelValues)
	if s == nil || in.kind != histogramKind {
		return 0, 0, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return s.count, s.sum, true
}

// Bucket returns how many observations of a histogram's series were at most
// le (cumulative, as Prometheus' le buckets; +Inf counts all).
func (m *Meter) Bucket(name string, le float64, labelValues ...string) uint64 {
	in, s := m.lookup(name, labelValues)
	if s == nil || in.kind != histogramKind {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	var n uint64
	for i, c := range s.counts {
		bound := math.Inf(1)
		if i < len(in.buckets) {
			bound = in.buckets[i]
		}
		if bound > le {
			break
		}
		n += c
	}
	return n
}

// Series returns how many series the instrument called name has (0 when it
// is not registered).
func (m *Meter) Series(name string) int {
	m.mu.RLock()
	in := m.byName[name]
	m.mu.RUnlock()
	if in == nil {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.series)
}

// LabelValues returns the distinct values the label called label took in
// the instrument called name, sorted.
func (m *Meter) LabelValues(name, label string) []string {
	m.mu.RLock()
	in := m.byName[name]
	m.mu.RUnlock()
	if in == nil {
		return nil
	}
	i := slices.Index(in.labels, label)
	if i < 0 {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, s := range in.series {
		if !slices.Contains(out, s.values[i]) {
			out = append(out, s.values[i])
		}
	}
	slices.Sort(out)
	return out
}

// Handler serves every recorded series in the Prometheus text exposition
// format (version 0.0.4), instruments by name and series by label values.
func (m *Meter) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write([]byte(m.Text()))
	})
}

// Text returns every recorded series in the Prometheus text exposition
// format.
func (m *Meter) Text() string {
	m.mu.RLock()
	ins := make([]*instrument, 0, len(m.byName))
	for _, in := range m.byName {
		ins = append(ins, in)
	}
	m.mu.RUnlock()
	slices.SortFunc(ins, func(a, b *instrument) int { return cmp.Compare(a.name, b.name) })
	var b strings.Builder
	for _, in := range ins {
		in.write(&b)
	}
	return b.String()
}

// write writes in's series in the text format.
func (in *instrument) write(b *strings.Builder) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.series) == 0 {
		return
	}
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", in.name, escapeHelp(in.help), in.name, in.kind)
	all := make([]*series, 0, len(in.series))
	for _, s := range in.series {
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b *series) int { return slices.Compare(a.values, b.values) })
	for _, s := range all {
		if in.kind != histogramKind {
			fmt.Fprintf(b, "%s%s %s\n", in.name, labelSet(in.labels, s.values, ""), formatFloat(s.value))
			continue
		}
		var n uint64
		for i, c := range s.counts {
			n += c
			le := math.Inf(1)
			if i < len(in.buckets) {
				le = in.buckets[i]
			}
			fmt.Fprintf(b, "%s_bucket%s %d\n", in.name, labelSet(in.labels, s.values, formatFloat(le)), n)
		}
		fmt.Fprintf(b, "%s_sum%s %s\n", in.name, labelSet(in.labels, s.values, ""), formatFloat(s.sum))
		fmt.Fprintf(b, "%s_count%s %d\n", in.name, labelSet(in.labels, s.values, ""), s.count)
	}
}

// labelSet formats {name="value",…}, with le last when given.
func labelSet(labels, values []string, le string) string {
	if len(labels) == 0 && le == "" {
		return ""
	}
	parts := make([]string, 0, len(labels)+1)
	for i, l := range labels {
		parts = append(parts, l+`="`+escapeValue(values[i])+`"`)
	}
	if le != "" {
		parts = append(parts, `le="`+le+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

var (
	valueEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeValue(s string) string { return valueEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var _ ports.Meter = (*Meter)(nil)
