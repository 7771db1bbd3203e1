// Package spantest checks the spans of an adapter that calls a service over
// HTTP (a policy service, S3, Gotenberg …): made under a request's span,
// the call is a client span, child of that span, and the service receives
// its trace context.
//
//	spantest.UseW3C(t)
//	tp, rec := spantest.Recorder()
//	ctx, parent := tp.Tracer("test").Start(ctx, "GET /api/v1/…")
//	… call the adapter with ctx …
//	parent.End()
//	call := spantest.ClientChild(t, rec, parent, "s3 HEAD")
//	// the service saw spantest.Traceparent(call)
package spantest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// UseW3C installs the W3C propagator globally for the test, as the
// composition root's otlp.Tracing.Install does, and puts the previous one
// back when the test ends.
func UseW3C(t testing.TB) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
}

// Recorder returns a TracerProvider sampling every span, and the recorder
// of the spans it ends.
func Recorder() (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), rec
}

// ClientChild returns the span called name among those rec ended, failing
// t unless there is one, it is a client span, and it is a child of parent
// in parent's trace.
func ClientChild(t testing.TB, rec *tracetest.SpanRecorder, parent trace.Span, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var call sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			call = s
		}
	}
	require.NotNil(t, call, "no span %q among %v", name, rec.Ended())
	assert.Equal(t, trace.SpanKindClient, call.SpanKind())
	assert.Equal(t, parent.SpanContext().TraceID(), call.SpanContext().TraceID())
	assert.Equal(t, parent.SpanContext().SpanID(), call.Parent().SpanID())
	return call
}

// Traceparent is the W3C traceparent header a call made under the sampled
// span s sends.
func Traceparent(s sdktrace.ReadOnlySpan) string {
	return "00-" + s.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-01"
}
