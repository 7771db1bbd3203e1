package gotenberg_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/framework-m/framework-m/adapters/print/gotenberg"
	"github.com/framework-m/framework-m/ports"
)

// useW3C installs the W3C propagator globally for the test, as the
// composition root's otlp.Tracing.Install does.
func useW3C(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
}

func TestConversionIsAChildSpan(t *testing.T) {
	useW3C(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var mu sync.Mutex
	var traceparents []string
	c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparents = append(traceparents, r.Header.Get("Traceparent"))
		mu.Unlock()
		servePDF(w)
	}, func(cfg *gotenberg.Config) { cfg.TracerProvider = tp })

	convert := func(ctx context.Context) {
		body, err := c.HTMLToPDF(ctx, page, ports.PDFOptions{})
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, body)
		require.NoError(t, body.Close())
	}
	convert(context.Background())
	assert.Empty(t, rec.Ended(), "no span outside a request's span")

	ctx, parent := tp.Tracer("test").Start(context.Background(), "POST /api/v1/print/:doctype/:name")
	convert(ctx)
	parent.End()

	var child sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "gotenberg POST" {
			child = s
		}
	}
	require.NotNil(t, child, "spans: %v", rec.Ended())
	assert.Equal(t, trace.SpanKindClient, child.SpanKind())
	assert.Equal(t, parent.SpanContext().TraceID(), child.SpanContext().TraceID())
	assert.Equal(t, parent.SpanContext().SpanID(), child.Parent().SpanID())
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, traceparents, 2)
	assert.Empty(t, traceparents[0], "no trace context without a span")
	assert.Equal(t, "00-"+child.SpanContext().TraceID().String()+"-"+child.SpanContext().SpanID().String()+"-01", traceparents[1],
		"the service sees the client span as its parent")
}
