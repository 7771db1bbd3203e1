package print

import (
	"context"
	"errors"
	"time"

	"github.com/framework-m/framework-m/ports"
)

// The print service's metrics; their labels take fixed sets of values.
const (
	metricConversions = "fm_pdf_conversions_total"
	metricFallbacks   = "fm_pdf_fallbacks_total"
	metricDuration    = "fm_pdf_conversion_duration_seconds"
)

// Results of a conversion.
const (
	conversionOK    = "ok"
	conversionError = "error"
)

// Why a PDF request was answered with HTML: the values of
// fm_pdf_fallbacks_total's reason label.
const (
	// fallbackNotConfigured: no PDF converter ([print] pdf_backend = "none").
	fallbackNotConfigured = "not_configured"
	// fallbackUnavailable: the converter failed, or failed lately and its
	// health check still fails.
	fallbackUnavailable = "unavailable"
	// fallbackTimeout: the converter did not answer in time.
	fallbackTimeout = "timeout"
	// fallbackBusy: no conversion turn came within QueueWait.
	fallbackBusy = "busy"
)

// pdfBuckets are the conversion time buckets, in seconds: conversions take
// longer than requests (up to Gotenberg's 30 s timeout).
var pdfBuckets = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60}

// metrics are the print service's instruments. A nil *metrics records
// nothing.
type metrics struct {
	conversions ports.Counter
	fallbacks   ports.Counter
	duration    ports.Histogram
}

func newMetrics(m ports.Meter) *metrics {
	m = ports.MeterOrNop(m)
	ms := &metrics{
		conversions: m.Counter(metricConversions,
			"HTML to PDF conversions by the PDF converter, by result (ok, error).", "result"),
		fallbacks: m.Counter(metricFallbacks,
			"PDF requests answered with HTML instead, by reason (not_configured, unavailable, timeout, busy).", "reason"),
		duration: m.Histogram(metricDuration,
			"Time the PDF converter took to answer a conversion (until the PDF starts streaming), whatever its result.", pdfBuckets),
	}
	ms.conversions.Add(0, conversionOK)
	ms.conversions.Add(0, conversionError)
	for _, r := range []string{fallbackNotConfigured, fallbackUnavailable, fallbackTimeout, fallbackBusy} {
		ms.fallbacks.Add(0, r) // every series exists from the start
	}
	return ms
}

// converted counts a conversion that took d and ended with err.
func (m *metrics) converted(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.duration.Observe(d.Seconds())
	if err != nil {
		m.conversions.Add(1, conversionError)
		return
	}
	m.conversions.Add(1, conversionOK)
}

// fellBack counts a PDF request answered with HTML for reason.
func (m *metrics) fellBack(reason string) {
	if m != nil {
		m.fallbacks.Add(1, reason)
	}
}

// fallbackOf is the reason label of the HTML fallback warning warn.
func fallbackOf(warn string) string {
	if warn == warnBusy {
		return fallbackBusy
	}
	return fallbackUnavailable
}

// failureOf is the reason label of a conversion that failed as
// unavailable: a timeout, or anything else.
func failureOf(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fallbackTimeout
	}
	return fallbackUnavailable
}
