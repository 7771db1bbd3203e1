package gotenberg

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
)

// traced returns a copy of c whose transport makes a client span
// ("gotenberg POST") with tp of each request made under a recording span,
// and sends the trace context along (traceparent, with OpenTelemetry's
// global propagator, which the composition root installs).
func traced(c *http.Client, tp trace.TracerProvider) *http.Client {
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out := *c
	out.Transport = tracedTransport{
		Transport: otelhttp.NewTransport(base,
			otelhttp.WithTracerProvider(tp),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "gotenberg " + r.Method }),
			otelhttp.WithFilter(func(r *http.Request) bool { return trace.SpanFromContext(r.Context()).IsRecording() }),
		),
		base: base,
	}
	return &out
}

// tracedTransport is otelhttp's transport that still drops the idle
// connections of the one it wraps (Close).
type tracedTransport struct {
	*otelhttp.Transport
	base http.RoundTripper
}

// CloseIdleConnections closes the wrapped transport's idle connections.
func (t tracedTransport) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}
