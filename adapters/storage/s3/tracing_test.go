package s3_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/framework-m/framework-m/adapters/storage/s3"
)

// A request to the server made under a request's span is its child span,
// and carries the trace context; one made outside any span makes none.
func TestRequestsAreChildSpans(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{}) // as otlp.Tracing.Install does
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })

	var mu sync.Mutex
	var seen []string // "METHOD path traceparent"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Traceparent"))
		mu.Unlock()
		w.WriteHeader(http.StatusOK) // HEAD /bucket: the bucket exists
	}))
	t.Cleanup(srv.Close)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	st, err := s3.New(t.Context(), s3.Config{
		Bucket: "files", Endpoint: srv.URL, Region: "us-east-1", UsePathStyle: true,
		AccessKey: "key", SecretKey: "secret-key",
	}, s3.WithTracerProvider(tp))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })

	require.NoError(t, st.Ready(context.Background()))
	assert.Empty(t, rec.Ended(), "no span outside a request's span")

	ctx, parent := tp.Tracer("test").Start(context.Background(), "GET /readyz")
	require.NoError(t, st.Ready(ctx))
	parent.End()
	var call sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "s3 HEAD" {
			call = s
		}
	}
	require.NotNil(t, call, "spans: %v", rec.Ended())
	assert.Equal(t, trace.SpanKindClient, call.SpanKind())
	assert.Equal(t, parent.SpanContext().TraceID(), call.SpanContext().TraceID())
	assert.Equal(t, parent.SpanContext().SpanID(), call.Parent().SpanID())
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	assert.Equal(t, "HEAD /files/ ", seen[0])
	assert.Equal(t, "HEAD /files/ 00-"+call.SpanContext().TraceID().String()+"-"+call.SpanContext().SpanID().String()+"-01", seen[1])
}
