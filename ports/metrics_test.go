package ports_test

import (
	"testing"

	"github.com/framework-m/framework-m/ports"
)

func TestCheckMetric(t *testing.T) {
	for _, tc := range []struct {
		name    string
		labels  []string
		buckets []float64
		ok      bool
	}{
		{"fm_http_requests_total", []string{"route", "method", "status"}, nil, true},
		{"fm:recorded:rate5m", nil, nil, true},
		{"_x", []string{"_y", "Z9"}, []float64{0.1, 1, 10}, true},
		{"", nil, nil, false},
		{"9lives", nil, nil, false},
		{"fm-x", nil, nil, false},
		{"fm_x", []string{"a:b"}, nil, false},
		{"fm_x", []string{"__name__"}, nil, false},
		{"fm_x", []string{""}, nil, false},
		{"fm_x", []string{"a", "b", "a"}, nil, false},
		{"fm_x", nil, []float64{1, 0.5}, false},
		{"fm_x", nil, []float64{1, 1}, false},
	} {
		if err := ports.CheckMetric(tc.name, tc.labels, tc.buckets); (err == nil) != tc.ok {
			t.Errorf("CheckMetric(%q, %v, %v) = %v, want ok=%v", tc.name, tc.labels, tc.buckets, err, tc.ok)
		}
	}
}

func TestCheckLabelValues(t *testing.T) {
	if err := ports.CheckLabelValues("fm_x", []string{"a", "b"}, []string{"1", "ü"}); err != nil {
		t.Errorf("valid values refused: %v", err)
	}
	for _, tc := range []struct{ labels, values []string }{
		{[]string{"a", "b"}, []string{"1"}},
		{nil, []string{"1"}},
		{[]string{"a"}, []string{"\xff"}},
	} {
		if ports.CheckLabelValues("fm_x", tc.labels, tc.values) == nil {
			t.Errorf("CheckLabelValues(%v, %q) accepted", tc.labels, tc.values)
		}
	}
}

func TestNopMeter(t *testing.T) {
	var m ports.Meter = ports.NopMeter{}
	c := m.Counter("fm_x_total", "X.", "a")
	g := m.Gauge("fm_x", "X.")
	h := m.Histogram("fm_x_seconds", "X.", nil, "a")
	allocs := testing.AllocsPerRun(100, func() {
		c.Add(1, "v")
		g.Set(1)
		g.Add(1)
		h.Observe(1, "v")
	})
	if allocs != 0 {
		t.Errorf("NopMeter instruments allocate %v times per round", allocs)
	}
	if _, ok := ports.MeterOrNop(nil).(ports.NopMeter); !ok {
		t.Errorf("MeterOrNop(nil) is not a NopMeter")
	}
	if ports.MeterOrNop(m) != m {
		t.Errorf("MeterOrNop(m) is not m")
	}
}
