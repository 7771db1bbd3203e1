package citadel

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
)

// WithTracerProvider makes every call to the policy service a client span
// ("citadel POST") of the request that asked for the decision, made with
// tp, and sends the trace context along (traceparent, with OpenTelemetry's
// global propagator, which the composition root installs). Calls outside
// a recording span make none. A nil tp changes nothing.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(a *Adapter) { a.tracer = tp }
}

// traced returns a copy of c whose transport makes the spans of
// WithTracerProvider.
func traced(c *http.Client, tp trace.TracerProvider) *http.Client {
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out := *c
	out.Transport = otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "citadel " + r.Method }),
		otelhttp.WithFilter(func(r *http.Request) bool { return trace.SpanFromContext(r.Context()).IsRecording() }),
	)
	return &out
}
