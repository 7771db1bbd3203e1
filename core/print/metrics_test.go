package print

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	metricsmemory "github.com/framework-m/framework-m/adapters/metrics/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// TestMetrics: conversions are counted by result and timed; each HTML
// fallback is counted by its reason.
func TestMetrics(t *testing.T) {
	m := metricsmemory.New()
	pdf := &fakePDF{}
	s := &Service{renderer: fakeRenderer{}, pdf: pdf, metrics: newMetrics(m),
		opts: Options{Degraded: time.Hour, MaxConversions: 1, Logger: quiet()}}
	s.opts.defaults()
	s.turns = make(chan struct{}, s.opts.MaxConversions)
	dt := &doctype.DocType{Meta: doctype.Meta{Name: "Invoice"}}
	tmpl := ports.PrintTemplate{Source: "<p>x</p>"}
	ctx := context.Background()
	value := func(name string, labels ...string) float64 {
		v, _ := m.Value(name, labels...)
		return v
	}
	printPDF := func() *Result {
		t.Helper()
		res, err := s.render(ctx, dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatPDF, true)
		if err != nil {
			t.Fatal(err)
		}
		if res.PDF != nil {
			_ = res.PDF.Close()
		}
		return res
	}
	want := func(what string, conversions map[string]float64, fallbacks map[string]float64) {
		t.Helper()
		for r, n := range conversions {
			if got := value("fm_pdf_conversions_total", r); got != n {
				t.Errorf("%s: conversions{%s} = %v, want %v", what, r, got, n)
			}
		}
		for r, n := range fallbacks {
			if got := value("fm_pdf_fallbacks_total", r); got != n {
				t.Errorf("%s: fallbacks{%s} = %v, want %v", what, r, got, n)
			}
		}
	}

	printPDF()
	want("converted", map[string]float64{"ok": 1, "error": 0}, map[string]float64{"unavailable": 0, "timeout": 0, "busy": 0, "not_configured": 0})
	if n, _, ok := m.HistogramValue("fm_pdf_conversion_duration_seconds"); !ok || n != 1 {
		t.Errorf("a conversion is timed: %d observations", n)
	}

	pdf.set(core.Unavailable("pdf service", fmt.Errorf("gotenberg: no answer within 30s: %w", context.DeadlineExceeded)))
	printPDF()
	want("timed out", map[string]float64{"ok": 1, "error": 1}, map[string]float64{"timeout": 1})

	pdf.down.Store(true) // degraded: probed, still down, not converted
	printPDF()
	want("probed down", map[string]float64{"error": 1}, map[string]float64{"unavailable": 1, "timeout": 1})

	pdf.down.Store(false)
	pdf.set(core.Unavailable("pdf service", errors.New("connection refused")))
	printPDF()
	want("refused", map[string]float64{"error": 2}, map[string]float64{"unavailable": 2})
	if n, _, _ := m.HistogramValue("fm_pdf_conversion_duration_seconds"); n != 3 {
		t.Errorf("every conversion is timed, failed ones too: %d observations", n)
	}

	pdf.set(nil)
	s.succeeded()
	s.turns <- struct{}{} // the one turn is taken
	if res := printPDF(); res.Warning != warnBusy {
		t.Fatalf("busy: %+v", res)
	}
	<-s.turns
	want("busy", map[string]float64{"ok": 1}, map[string]float64{"busy": 1})

	s.pdf = nil
	printPDF()
	want("not configured", map[string]float64{"ok": 1, "error": 2}, map[string]float64{"not_configured": 1, "busy": 1, "unavailable": 2, "timeout": 1})
	if _, err := s.render(ctx, dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatHTML, true); err != nil {
		t.Fatal(err)
	}
	want("HTML asked", nil, map[string]float64{"not_configured": 1})
}
