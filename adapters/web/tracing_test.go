package web_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/adapters/metrics/memory"
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// Addresses of the requests of the tracing tests.
const (
	proxyAddr   = "10.1.2.3:5000"    // in [auth] trusted_proxies
	strangerIP  = "203.0.113.9:5000" // anyone else
	remoteTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	remoteSpan  = "00f067aa0ba902b7"
)

// tracedStack is an app whose Echo stack is built with tracing: the
// composition root's wiring, done by hand.
type tracedStack struct {
	app   *fmtest.App
	e     *echo.Echo
	spans *tracetest.SpanRecorder
	logs  *fmtest.LogBuffer
}

// newTracedStack builds a test app (Note, the failing test routes, the
// trusted proxy 10.0.0.0/8) and an Echo stack over its services that traces
// with a sampler of ratio, its database statements too. tracing = false
// builds the same stack without a TracerProvider.
func newTracedStack(t testing.TB, tracing bool, ratio float64) *tracedStack {
	t.Helper()
	s := &tracedStack{spans: tracetest.NewSpanRecorder(), logs: &fmtest.LogBuffer{}}
	var tp trace.TracerProvider
	if tracing {
		tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))))
	}
	s.app = newTracedApp(t, tp)
	s.e = tracedEcho(s.app, tp, s.logs)
	return s
}

// newTracedApp builds the test app, its database statements traced with tp
// (nil: not traced).
func newTracedApp(t testing.TB, tp trace.TracerProvider) *fmtest.App {
	t.Helper()
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Auth.TrustedProxies = []string{"10.0.0.0/8"}
	opts := []frameworkm.Option{frameworkm.WithDocType[Note](noteMeta), frameworkm.WithRoutes(testRoutes)}
	if tp != nil {
		// Before anything runs: the root passes db.WithTracerProvider to db.Open.
		opts = append(opts, frameworkm.WithSetup(func(a *frameworkm.App) error { return db.Trace(a.DB, tp) }))
	}
	return fmtest.NewWithConfig(t, cfg, opts...)
}

// tracedEcho builds an Echo stack over app's services, tracing with tp (nil:
// off) and writing its access log as JSON to w.
func tracedEcho(app *fmtest.App, tp trace.TracerProvider, w io.Writer) *echo.Echo {
	deps := web.Deps{
		Config:    app.Config,
		Logger:    slog.New(slog.NewJSONHandler(w, nil)),
		Registry:  app.Registry,
		Resources: app.Resources,
		Settings:  app.Settings,
		Auth:      app.Auth,
		Errors:    app.Errors,
		Tenants:   app.Tenants,
		Routes:    []func(*echo.Group){testRoutes},
		// /metrics is served (and must not be traced).
		MetricsHandler: memory.New().Handler(),
	}
	if tp != nil {
		deps.Tracer = tp
		deps.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return web.New(deps).Echo()
}

// do serves one request from remote as user u (nil: anonymous).
func (s *tracedStack) do(method, target string, u *ports.UserContext, remote string, h http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = remote
	for k, v := range h {
		req.Header[k] = v
	}
	if u != nil {
		b, _ := json.Marshal(u)
		req.Header.Set(fmtest.HeaderUser, string(b))
	}
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	return rec
}

// server returns the one server span ended so far.
func (s *tracedStack) server(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.spans.Ended() {
		if sp.SpanKind() == trace.SpanKindServer {
			out = append(out, sp)
		}
	}
	require.Len(t, out, 1, "one server span per request")
	return out[0]
}

// accessLines returns the access log's lines.
func (s *tracedStack) accessLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func attrs(sp sdktrace.ReadOnlySpan) map[attribute.Key]string {
	out := map[attribute.Key]string{}
	for _, kv := range sp.Attributes() {
		out[kv.Key] = kv.Value.Emit()
	}
	return out
}

// The acceptance: a request through the Echo stack makes a server
// span, its database statements are child spans of the same trace, and the
// access log line carries that trace id.
func TestTraceOfARequest(t *testing.T) {
	s := newTracedStack(t, true, 1)
	writer := fmtest.User("w", "Writer")
	s.app.As(writer).Post("/api/v1/resource/Note", map[string]any{"title": "private title"}).RequireStatus(t, http.StatusCreated)
	require.Empty(t, s.spans.Ended(), "the app's own untraced stack makes no span")

	res := s.do(http.MethodGet, "/api/v1/resource/Note?filters="+url.QueryEscape(`[["title","=","private title"]]`), writer, strangerIP, nil)
	require.Equal(t, http.StatusOK, res.Code, res.Body.String())

	srv := s.server(t)
	assert.Equal(t, "GET /api/v1/resource/:doctype", srv.Name())
	a := attrs(srv)
	assert.Equal(t, "GET", a["http.request.method"])
	assert.Equal(t, "/api/v1/resource/:doctype", a["http.route"])
	assert.Equal(t, "200", a["http.response.status_code"])
	assert.Equal(t, codes.Unset, srv.Status().Code)
	traceID := srv.SpanContext().TraceID()

	var queries int
	for _, sp := range s.spans.Ended() {
		if sp.SpanKind() == trace.SpanKindServer {
			continue
		}
		assert.Equal(t, traceID, sp.SpanContext().TraceID(), "%s is in the request's trace", sp.Name())
		assert.Equal(t, srv.SpanContext().SpanID(), sp.Parent().SpanID(), "%s is the request's child", sp.Name())
		if sp.Name() == "db.query" {
			queries++
			assert.Equal(t, "note", attrs(sp)["db.sql.table"])
		}
		for _, v := range attrs(sp) {
			assert.NotContains(t, v, "private title", "no bound value in %s", sp.Name())
		}
	}
	assert.GreaterOrEqual(t, queries, 2, "the page and its count")

	lines := s.accessLines(t)
	require.Len(t, lines, 1)
	assert.Equal(t, traceID.String(), lines[0]["trace_id"], "the access log line names the trace")
	assert.Equal(t, res.Header().Get(web.HeaderRequestID), lines[0]["request_id"])
}

// The span is named by the route template, never by the path with its
// document names.
func TestSpanNamedByRouteTemplate(t *testing.T) {
	s := newTracedStack(t, true, 1)
	res := s.do(http.MethodGet, "/api/v1/resource/Note/secret-doc-name", fmtest.User("w", "Writer"), strangerIP, nil)
	require.Equal(t, http.StatusNotFound, res.Code)
	srv := s.server(t)
	assert.Equal(t, "GET /api/v1/resource/:doctype/:name", srv.Name())
	for k, v := range attrs(srv) {
		assert.NotContains(t, v, "secret-doc-name", k)
	}
	assert.Equal(t, "404", attrs(srv)["http.response.status_code"])
	assert.Equal(t, codes.Unset, srv.Status().Code, "a 4xx is no server error")
}

func TestTraceparentOnlyFromTrustedProxies(t *testing.T) {
	parent := http.Header{
		"Traceparent": {"00-" + remoteTrace + "-" + remoteSpan + "-01"},
		"Baggage":     {"tenant=forged"},
	}
	t.Run("trusted proxy", func(t *testing.T) {
		s := newTracedStack(t, true, 1)
		require.Equal(t, http.StatusOK, s.do(http.MethodGet, "/api/v1/resource/Note", fmtest.User("w", "Writer"), proxyAddr, parent).Code)
		srv := s.server(t)
		assert.Equal(t, remoteTrace, srv.SpanContext().TraceID().String(), "the proxy's trace is joined")
		assert.Equal(t, remoteSpan, srv.Parent().SpanID().String())
		assert.True(t, srv.Parent().IsRemote())
	})
	t.Run("untrusted peer", func(t *testing.T) {
		s := newTracedStack(t, true, 1)
		require.Equal(t, http.StatusOK, s.do(http.MethodGet, "/api/v1/resource/Note", fmtest.User("w", "Writer"), strangerIP, parent).Code)
		srv := s.server(t)
		assert.NotEqual(t, remoteTrace, srv.SpanContext().TraceID().String(), "a stranger cannot join a trace")
		assert.False(t, srv.Parent().IsValid(), "a new root")
	})
	t.Run("untrusted peer cannot force sampling", func(t *testing.T) {
		s := newTracedStack(t, true, 0)
		require.Equal(t, http.StatusOK, s.do(http.MethodGet, "/api/v1/resource/Note", fmtest.User("w", "Writer"), strangerIP, parent).Code)
		assert.Empty(t, s.spans.Ended(), "ratio 0 holds whatever the client sends")
	})
}

// A 5xx marks the span as an error, and the Error Log row carries its
// trace id.
func TestServerErrorSpanAndErrorLog(t *testing.T) {
	s := newTracedStack(t, true, 1)
	res := s.do(http.MethodGet, "/api/v1/test/error", fmtest.User("ann"), strangerIP, nil)
	require.Equal(t, http.StatusInternalServerError, res.Code)
	var srv sdktrace.ReadOnlySpan
	for _, sp := range s.spans.Ended() {
		if sp.SpanKind() == trace.SpanKindServer {
			srv = sp
		}
	}
	require.NotNil(t, srv)
	assert.Equal(t, "GET /api/v1/test/error", srv.Name())
	assert.Equal(t, codes.Error, srv.Status().Code)
	assert.Equal(t, "500", attrs(srv)["http.response.status_code"])
	assert.NotContains(t, srv.Status().Description, "disk on fire", "no internal message in the span")
	traceID := srv.SpanContext().TraceID().String()

	var body web.ErrorBody
	require.NoError(t, json.Unmarshal(res.Body.Bytes(), &body))
	filter := url.QueryEscape(fmt.Sprintf(`[["request_id","=",%q]]`, body.RequestID))
	logs, total := s.app.As(fmtest.Admin()).Get("/api/v1/resource/Error%20Log?filters="+filter).RequireStatus(t, http.StatusOK).List(t)
	require.Equal(t, 1, total)
	assert.Equal(t, traceID, logs[0]["trace_id"], "the Error Log row names the trace")

	lines := s.accessLines(t)
	require.Len(t, lines, 1)
	assert.Equal(t, traceID, lines[0]["trace_id"])
}

func TestPanicSpanIsAnError(t *testing.T) {
	s := newTracedStack(t, true, 1)
	require.Equal(t, http.StatusInternalServerError, s.do(http.MethodGet, "/api/v1/test/panic", fmtest.User("ann"), strangerIP, nil).Code)
	srv := s.server(t)
	assert.Equal(t, codes.Error, srv.Status().Code)
	assert.Equal(t, "500", attrs(srv)["http.response.status_code"])
}

// At ratio 0 nothing is recorded, yet the log still names the request's
// trace (for correlation with the services it calls).
func TestRatioZeroRecordsNothing(t *testing.T) {
	s := newTracedStack(t, true, 0)
	require.Equal(t, http.StatusOK, s.do(http.MethodGet, "/api/v1/resource/Note", fmtest.User("w", "Writer"), strangerIP, nil).Code)
	assert.Empty(t, s.spans.Ended())
	lines := s.accessLines(t)
	require.Len(t, lines, 1)
	assert.Len(t, lines[0]["trace_id"], 32)
}

func TestNoTracerNoTraceID(t *testing.T) {
	s := newTracedStack(t, false, 0)
	require.Equal(t, http.StatusOK, s.do(http.MethodGet, "/api/v1/resource/Note", fmtest.User("w", "Writer"), proxyAddr,
		http.Header{"Traceparent": {"00-" + remoteTrace + "-" + remoteSpan + "-01"}}).Code)
	lines := s.accessLines(t)
	require.Len(t, lines, 1)
	assert.NotContains(t, lines[0], "trace_id")
}

// A made-up method never becomes a span name.
func TestUnknownMethodIsOther(t *testing.T) {
	s := newTracedStack(t, true, 1)
	res := s.do("BREW", "/api/v1/resource/Note", fmtest.User("w", "Writer"), strangerIP, nil)
	require.Less(t, res.Code, 500)
	for _, sp := range s.spans.Ended() {
		assert.NotContains(t, sp.Name(), "BREW")
		if sp.SpanKind() == trace.SpanKindServer {
			assert.Equal(t, "_OTHER", attrs(sp)["http.request.method"])
			assert.Equal(t, "BREW", attrs(sp)["http.request.method_original"])
		}
	}
}

// Health and readiness probes and metrics scrapes make no trace, even at ratio 1 and with a
// trusted proxy's sampled traceparent: machines call them every few seconds.
func TestProbesNotTraced(t *testing.T) {
	s := newTracedStack(t, true, 1)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		res := s.do(http.MethodGet, path, nil, proxyAddr,
			http.Header{"Traceparent": {"00-" + remoteTrace + "-" + remoteSpan + "-01"}})
		require.Equal(t, http.StatusOK, res.Code, "%s: %s", path, res.Body.String())
	}
	assert.Empty(t, s.spans.Ended(), "no span for a probe")

	// The API next to them still is.
	require.Equal(t, http.StatusOK, s.do(http.MethodGet, "/api/v1/resource/Note", fmtest.User("w", "Writer"), strangerIP, nil).Code)
	assert.Equal(t, "GET /api/v1/resource/:doctype", s.server(t).Name())
}
