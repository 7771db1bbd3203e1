package s3

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
)

// Option configures New.
type Option func(*options)

type options struct {
	tracer trace.TracerProvider
}

// WithTracerProvider makes every request to the server a client span
// ("s3 PUT", "s3 GET" …) of the request that stores or reads the file,
// made with tp, and sends the trace context along (with OpenTelemetry's
// global propagator, which the composition root installs; the header is
// not signed, which S3 allows). Requests outside a recording span make
// none. A nil tp changes nothing.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}

// traced wraps base in the transport of WithTracerProvider.
func traced(base http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "s3 " + r.Method }),
		otelhttp.WithFilter(func(r *http.Request) bool { return trace.SpanFromContext(r.Context()).IsRecording() }),
	)
}
