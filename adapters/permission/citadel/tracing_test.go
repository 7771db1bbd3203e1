package citadel_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/framework-m/framework-m/adapters/permission/citadel"
	"github.com/framework-m/framework-m/fmtest/permtest"
	"github.com/framework-m/framework-m/fmtest/spantest"
	"github.com/framework-m/framework-m/ports"
)

func TestDecisionIsAChildSpan(t *testing.T) {
	spantest.UseW3C(t)
	rec := &recorder{answer: func(map[string]any) string { return `{"allowed": true}` }}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	tp, spans := spantest.Recorder()
	a := newAdapter(t, citadel.Config{Endpoint: srv.URL, Format: citadel.FormatCitadel}, citadel.WithTracerProvider(tp))
	req := permtest.Case{Who: permtest.AnnAndRep, Action: ports.ActionRead, Doc: permtest.AnnNorth}.Request()

	_, err := a.Evaluate(tenantCtx(), req)
	require.NoError(t, err)
	assert.Empty(t, spans.Ended(), "no span outside a request's span")
	_, hdr := rec.last(t)
	assert.Empty(t, hdr.Get("Traceparent"))

	ctx, parent := tp.Tracer("test").Start(tenantCtx(), "GET /api/v1/resource/:doctype/:name")
	res, err := a.Evaluate(ctx, req)
	require.NoError(t, err)
	assert.True(t, res.Authorized)
	parent.End()
	call := spantest.ClientChild(t, spans, parent, "citadel POST")
	_, hdr = rec.last(t)
	assert.Contains(t, hdr.Get("Traceparent"), call.SpanContext().TraceID().String(), "the policy service joins the trace")
}

// Without a TracerProvider the client is the one given, untouched.
func TestNoTracerNoWrapping(t *testing.T) {
	spantest.UseW3C(t)
	rec := &recorder{answer: func(map[string]any) string { return `{"allowed": true}` }}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	a := newAdapter(t, citadel.Config{Endpoint: srv.URL}, citadel.WithTracerProvider(nil))
	ctx, parent := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "request")
	defer parent.End()
	_, err := a.Evaluate(ports.WithTenantID(ctx, "t"), permtest.Case{Who: permtest.Bob, Action: ports.ActionRead}.Request())
	require.NoError(t, err)
	_, hdr := rec.last(t)
	assert.Empty(t, hdr.Get("Traceparent"))
}
