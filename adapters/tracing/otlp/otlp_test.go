package otlp_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/framework-m/framework-m/adapters/tracing/otlp"
	"github.com/framework-m/framework-m/core"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   func(c *otlp.Config)
		field string // "" = valid
	}{
		{"defaults", func(*otlp.Config) {}, ""},
		{"enabled defaults", func(c *otlp.Config) { c.Enabled = true }, ""},
		{"https elsewhere", func(c *otlp.Config) { c.Endpoint = "https://otel.example.com" }, ""},
		{"http elsewhere needs insecure", func(c *otlp.Config) { c.Endpoint = "http://collector:4318" }, "endpoint"},
		{"http elsewhere with insecure", func(c *otlp.Config) { c.Endpoint = "http://collector:4318"; c.Insecure = true }, ""},
		{"localhost", func(c *otlp.Config) { c.Endpoint = "http://localhost:4318" }, ""},
		{"not http", func(c *otlp.Config) { c.Endpoint = "grpc://127.0.0.1:4317" }, "endpoint"},
		{"no host", func(c *otlp.Config) { c.Endpoint = "http://" }, "endpoint"},
		{"credentials", func(c *otlp.Config) { c.Endpoint = "https://u:secret@otel.example.com" }, "endpoint"},
		{"query", func(c *otlp.Config) { c.Endpoint = "https://otel.example.com/?a=b" }, "endpoint"},
		{"empty when enabled", func(c *otlp.Config) { c.Endpoint = ""; c.Enabled = true }, "endpoint"},
		{"ratio 0", func(c *otlp.Config) { c.SampleRatio = 0 }, ""},
		{"ratio above 1", func(c *otlp.Config) { c.SampleRatio = 1.5 }, "sample_ratio"},
		{"ratio negative", func(c *otlp.Config) { c.SampleRatio = -0.1 }, "sample_ratio"},
		{"no service name", func(c *otlp.Config) { c.ServiceName = " "; c.Enabled = true }, "service_name"},
		{"header with line break", func(c *otlp.Config) { c.Headers = map[string]string{"X-Key": "a\r\nb"} }, "headers"},
		{"bad header name", func(c *otlp.Config) { c.Headers = map[string]string{"X Key": "a"} }, "headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := otlp.DefaultConfig()
			tc.cfg(&cfg)
			err := cfg.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, core.ErrValidation)
			var ve *core.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Contains(t, ve.FieldMap(), tc.field)
			assert.NotContains(t, err.Error(), "secret", "no credential is quoted")
		})
	}
}

func TestDefaults(t *testing.T) {
	c := otlp.DefaultConfig()
	assert.False(t, c.Enabled, "off by default")
	assert.Equal(t, otlp.DefaultEndpoint, c.Endpoint)
	assert.Equal(t, 1.0, c.SampleRatio)
	assert.Equal(t, "framework-m", c.ServiceName)
	c = otlp.Config{}.WithDefaults()
	assert.Equal(t, otlp.DefaultEndpoint, c.Endpoint)
	assert.Equal(t, otlp.DefaultServiceName, c.ServiceName)
	assert.Zero(t, c.SampleRatio, "0 is a ratio, not unset")
}

func TestNewRefusesABadConfig(t *testing.T) {
	cfg := otlp.DefaultConfig()
	cfg.SampleRatio = 2
	_, err := otlp.New(t.Context(), cfg)
	require.ErrorIs(t, err, core.ErrValidation)
}

func newTracing(t *testing.T, ratio float64) (*otlp.Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	cfg := otlp.DefaultConfig()
	cfg.Enabled = true
	cfg.SampleRatio = ratio
	cfg.ServiceName = "invoices"
	tr, err := otlp.New(t.Context(), cfg, otlp.WithExporter(exp))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, exp
}

func TestSpansAreExportedWithTheServiceName(t *testing.T) {
	tr, exp := newTracing(t, 1)
	ctx, parent := tr.TracerProvider().Tracer("test").Start(t.Context(), "parent")
	_, child := tr.TracerProvider().Tracer("test").Start(ctx, "child")
	child.End()
	parent.End()
	require.NoError(t, tr.ForceFlush(t.Context()))

	spans := exp.GetSpans()
	require.Len(t, spans, 2)
	assert.Equal(t, "child", spans[0].Name)
	assert.Equal(t, spans[1].SpanContext.TraceID(), spans[0].SpanContext.TraceID())
	assert.Equal(t, spans[1].SpanContext.SpanID(), spans[0].Parent.SpanID())
	var service string
	for _, kv := range spans[0].Resource.Attributes() {
		if kv.Key == "service.name" {
			service = kv.Value.AsString()
		}
	}
	assert.Equal(t, "invoices", service)
}

func TestSampleRatio(t *testing.T) {
	t.Run("0 records no new trace", func(t *testing.T) {
		tr, exp := newTracing(t, 0)
		for range 50 {
			_, s := tr.TracerProvider().Tracer("test").Start(t.Context(), "root")
			assert.False(t, s.IsRecording())
			assert.True(t, s.SpanContext().IsValid(), "a trace id all the same, for the logs")
			s.End()
		}
		require.NoError(t, tr.ForceFlush(t.Context()))
		assert.Empty(t, exp.GetSpans())
	})
	t.Run("a sampled remote parent wins over ratio 0", func(t *testing.T) {
		tr, exp := newTracing(t, 0)
		ctx := tr.Propagator().Extract(t.Context(), propagation.HeaderCarrier(http.Header{
			"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		}))
		_, s := tr.TracerProvider().Tracer("test").Start(ctx, "child")
		s.End()
		require.NoError(t, tr.ForceFlush(t.Context()))
		spans := exp.GetSpans()
		require.Len(t, spans, 1)
		assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", spans[0].SpanContext.TraceID().String())
	})
	t.Run("1 records all", func(t *testing.T) {
		tr, exp := newTracing(t, 1)
		for range 20 {
			_, s := tr.TracerProvider().Tracer("test").Start(t.Context(), "root")
			s.End()
		}
		require.NoError(t, tr.ForceFlush(t.Context()))
		assert.Len(t, exp.GetSpans(), 20)
	})
}

func TestPropagatorIsW3C(t *testing.T) {
	tr, _ := newTracing(t, 1)
	ctx, s := tr.TracerProvider().Tracer("test").Start(t.Context(), "root")
	defer s.End()
	h := http.Header{}
	tr.Propagator().Inject(ctx, propagation.HeaderCarrier(h))
	assert.Equal(t, "00-"+s.SpanContext().TraceID().String()+"-"+s.SpanContext().SpanID().String()+"-01", h.Get("traceparent"))
	assert.ElementsMatch(t, []string{"traceparent", "tracestate", "baggage"}, tr.Propagator().Fields())
}

// New leaves the globals alone; Install sets them.
func TestInstallSetsTheGlobals(t *testing.T) {
	before, beforeProp, beforeHandler := otel.GetTracerProvider(), otel.GetTextMapPropagator(), otel.GetErrorHandler()
	t.Cleanup(func() {
		otel.SetTracerProvider(before)
		otel.SetTextMapPropagator(beforeProp)
		otel.SetErrorHandler(beforeHandler)
	})
	tr, _ := newTracing(t, 1)
	assert.NotSame(t, tr.TracerProvider(), otel.GetTracerProvider(), "New sets no global")
	assert.Empty(t, otel.GetTextMapPropagator().Fields(), "New sets no global propagator")
	tr.Install()
	assert.Same(t, tr.TracerProvider(), otel.GetTracerProvider())
	assert.Contains(t, otel.GetTextMapPropagator().Fields(), "traceparent")

	// Shut down, it leaves no global pointing at the stopped provider.
	require.NoError(t, tr.Shutdown(t.Context()))
	assert.False(t, tr.TracerProvider() == otel.GetTracerProvider(), "not the stopped provider")
	assert.Empty(t, otel.GetTextMapPropagator().Fields(), "the propagator as it was")
	_, span := otel.Tracer("t").Start(t.Context(), "after")
	assert.False(t, span.SpanContext().IsValid(), "a no-op provider: no trace")
	span.End()
}

// A provider the user had set is put back; a later Tracing's globals are
// left alone by an earlier one's Shutdown.
func TestShutdownRestoresTheUsersGlobals(t *testing.T) {
	before, beforeProp, beforeHandler := otel.GetTracerProvider(), otel.GetTextMapPropagator(), otel.GetErrorHandler()
	t.Cleanup(func() {
		otel.SetTracerProvider(before)
		otel.SetTextMapPropagator(beforeProp)
		otel.SetErrorHandler(beforeHandler)
	})
	users := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = users.Shutdown(context.Background()) })
	otel.SetTracerProvider(users)

	first, _ := newTracing(t, 1)
	first.Install()
	require.NoError(t, first.Shutdown(t.Context()))
	assert.Same(t, users, otel.GetTracerProvider(), "the user's provider is back")

	a, _ := newTracing(t, 1)
	b, _ := newTracing(t, 1)
	a.Install()
	b.Install()
	require.NoError(t, a.Shutdown(t.Context()))
	assert.Same(t, b.TracerProvider(), otel.GetTracerProvider(), "b installed last: a's Shutdown keeps b's")
	require.NoError(t, b.Shutdown(t.Context()))
	assert.Same(t, users, otel.GetTracerProvider(), "nor does b's put back a's stopped provider: the user's is back")

	// Shut down in the order installed, the globals go back step by step.
	c, _ := newTracing(t, 1)
	d, _ := newTracing(t, 1)
	c.Install()
	d.Install()
	require.NoError(t, d.Shutdown(t.Context()))
	assert.Same(t, c.TracerProvider(), otel.GetTracerProvider(), "c is still running: d puts it back")
	require.NoError(t, c.Shutdown(t.Context()))
	assert.Same(t, users, otel.GetTracerProvider())
}

// unhashable is a TracerProvider whose dynamic type cannot be a map key.
type unhashable struct {
	trace.TracerProvider
	tags []string
}

// A provider of any type the user set is put back, even one that cannot be
// compared or hashed (regression test: Shutdown used it as a map key).
func TestShutdownWithAnUnhashableProvider(t *testing.T) {
	before := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(before) })
	users := unhashable{TracerProvider: noop.NewTracerProvider(), tags: []string{"x"}}
	otel.SetTracerProvider(users)
	tr, _ := newTracing(t, 1)
	tr.Install()
	require.NotPanics(t, func() { require.NoError(t, tr.Shutdown(t.Context())) })
	got, ok := otel.GetTracerProvider().(unhashable)
	require.True(t, ok, "the user's provider is back")
	assert.Equal(t, users.tags, got.tags)
}

func TestNilTracingIsOff(t *testing.T) {
	var tr *otlp.Tracing
	assert.Nil(t, tr.TracerProvider(), "an untyped nil")
	assert.Nil(t, tr.Propagator())
	tr.Install()
	assert.NoError(t, tr.ForceFlush(t.Context()))
	assert.NoError(t, tr.Shutdown(t.Context()))
}

// receiver is an OTLP/HTTP receiver: it decodes every export request.
type receiver struct {
	mu       sync.Mutex
	requests []*coltracepb.ExportTraceServiceRequest
	headers  []http.Header
	paths    []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want a protobuf POST", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.requests = append(r.requests, &msg)
	r.headers = append(r.headers, req.Header.Clone())
	r.paths = append(r.paths, req.URL.Path)
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func TestExportsOverOTLPHTTP(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)

	cfg := otlp.DefaultConfig()
	cfg.Enabled = true
	cfg.Endpoint = srv.URL // http://127.0.0.1:port: loopback, no insecure needed
	cfg.ServiceName = "invoices"
	cfg.Headers = map[string]string{"X-Api-Key": "k-123"}
	tr, err := otlp.New(t.Context(), cfg)
	require.NoError(t, err)

	ctx, parent := tr.TracerProvider().Tracer("test").Start(t.Context(), "GET /api/v1/resource/:doctype",
		trace.WithSpanKind(trace.SpanKindServer))
	_, child := tr.TracerProvider().Tracer("test").Start(ctx, "db.query")
	child.End()
	parent.End()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, tr.Shutdown(shutdownCtx), "Shutdown flushes")

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	require.NotEmpty(t, rcv.requests)
	assert.Equal(t, otlp.TracesPath, rcv.paths[0])
	assert.Equal(t, "k-123", rcv.headers[0].Get("X-Api-Key"))
	byName := map[string][]byte{}
	var traceIDs [][]byte
	var service string
	for _, req := range rcv.requests {
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.Resource.Attributes {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					byName[s.Name] = s.ParentSpanId
					traceIDs = append(traceIDs, s.TraceId)
				}
			}
		}
	}
	assert.Equal(t, "invoices", service)
	require.Contains(t, byName, "GET /api/v1/resource/:doctype")
	require.Contains(t, byName, "db.query")
	assert.Equal(t, parent.SpanContext().SpanID().String(), hex.EncodeToString(byName["db.query"]))
	require.Len(t, traceIDs, 2)
	assert.Equal(t, traceIDs[0], traceIDs[1])
	assert.Equal(t, parent.SpanContext().TraceID().String(), hex.EncodeToString(traceIDs[0]))
}

// A collector that is down loses spans, never the app: Shutdown still ends
// within its context.
func TestCollectorDownDoesNotBlock(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	cfg := otlp.DefaultConfig()
	cfg.Enabled = true
	cfg.Endpoint = url
	tr, err := otlp.New(t.Context(), cfg)
	require.NoError(t, err)
	_, s := tr.TracerProvider().Tracer("test").Start(t.Context(), "lost")
	s.End()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = tr.Shutdown(ctx)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// The endpoint is a base URL: /v1/traces is appended unless it is there.
func TestEndpointPath(t *testing.T) {
	for _, tc := range []struct{ suffix, want string }{
		{"", "/v1/traces"},
		{"/", "/v1/traces"},
		{"/otel", "/otel/v1/traces"},
		{"/v1/traces", "/v1/traces"},
	} {
		t.Run(tc.suffix, func(t *testing.T) {
			rcv := &receiver{}
			srv := httptest.NewServer(rcv)
			t.Cleanup(srv.Close)
			cfg := otlp.DefaultConfig()
			cfg.Enabled = true
			cfg.Endpoint = srv.URL + tc.suffix
			tr, err := otlp.New(t.Context(), cfg)
			require.NoError(t, err)
			_, s := tr.TracerProvider().Tracer("test").Start(t.Context(), "span")
			s.End()
			require.NoError(t, tr.Shutdown(t.Context()))
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			require.Len(t, rcv.paths, 1)
			assert.Equal(t, tc.want, rcv.paths[0])
		})
	}
}
