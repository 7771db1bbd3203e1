package web

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the server spans.
const tracerName = "github.com/framework-m/framework-m/adapters/web"

// Attribute keys of the server spans (OpenTelemetry HTTP semantic
// conventions).
const (
	attrMethod         = attribute.Key("http.request.method")
	attrMethodOriginal = attribute.Key("http.request.method_original")
	attrRoute          = attribute.Key("http.route")
	attrStatus         = attribute.Key("http.response.status_code")
	attrErrorType      = attribute.Key("error.type")
)

// requestTracing makes the server span of each request.
type requestTracing struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	proxies    []netip.Prefix

	// names caches "METHOD /route" by route and method: the routes are
	// few and fixed, and a request then builds no string.
	mu    sync.RWMutex
	names map[[2]string]string
}

// serverSpan is the start option of every server span (made once).
var serverSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// spanName returns "method route" (method alone without a route).
func (t *requestTracing) spanName(method, route string) string {
	if route == "" {
		return method
	}
	key := [2]string{method, route}
	t.mu.RLock()
	name, ok := t.names[key]
	t.mu.RUnlock()
	if ok {
		return name
	}
	name = method + " " + route
	t.mu.Lock()
	if len(t.names) < maxSpanNames {
		t.names[key] = name
	}
	t.mu.Unlock()
	return name
}

// maxSpanNames bounds the cache of span names (routes × methods).
const maxSpanNames = 4096

// traceRequests returns the middleware making one server span per request,
// or nil when Deps.Tracer is nil (tracing off: no middleware at all).
//
// Health and readiness probes and metrics scrapes are not traced (see
// untraced). The span is named "METHOD /route/template" (c.Path(), never the raw path,
// which holds document names) and carries the method, the route and the
// status; a 5xx sets its status to error. A traceparent (and baggage) sent
// by the peer is honoured only when the peer is a trusted proxy ([auth]
// trusted_proxies): anyone else's request starts a new trace, so a client
// can neither join nor force the sampling of a trace. The span's context
// becomes the request's, so what handlers call — services, the repository,
// outbound clients — makes child spans, and the access log and Error Log
// rows carry its trace id.
func (s *Server) traceRequests() echo.MiddlewareFunc {
	tp := s.deps.Tracer
	if tp == nil {
		return nil
	}
	t := &requestTracing{tracer: tp.Tracer(tracerName), propagator: s.deps.Propagator, proxies: s.proxies,
		names: map[[2]string]string{}}
	return t.middleware
}

func (t *requestTracing) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if untraced(c.Path()) {
			return next(c)
		}
		req := c.Request()
		ctx := req.Context()
		if t.propagator != nil && peerTrusted(t.proxies, req) {
			ctx = t.propagator.Extract(ctx, propagation.HeaderCarrier(req.Header))
		}
		method, known := spanMethod(req.Method)
		route := c.Path()
		ctx, span := t.tracer.Start(ctx, t.spanName(method, route), serverSpan...)
		defer span.End()
		recording := span.IsRecording()
		if recording {
			attrs := make([]attribute.KeyValue, 0, 4)
			attrs = append(attrs, attrMethod.String(method))
			if !known {
				attrs = append(attrs, attrMethodOriginal.String(truncateAttr(req.Method, 32)))
			}
			if route != "" {
				attrs = append(attrs, attrRoute.String(route))
			}
			span.SetAttributes(attrs...)
		}
		c.SetRequest(req.WithContext(ctx))

		err := next(c)
		if !recording {
			return err
		}
		status := c.Response().Status
		if err != nil && !c.Response().Committed {
			// Not yet written (the access log normally writes it): the
			// status the error handler will answer.
			m, _ := classify(err)
			status = m.status
		}
		span.SetAttributes(attrStatus.Int(status))
		if status >= http.StatusInternalServerError {
			span.SetAttributes(attrErrorType.String(strconv.Itoa(status)))
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		return err
	}
}

// untraced reports whether route is an operations probe (health,
// readiness, metrics): called every few seconds by machines, it would fill
// a trace store with nothing, whatever the sample ratio.
func untraced(route string) bool {
	switch route {
	case "/healthz", "/readyz", MetricsPath:
		return true
	}
	return false
}

// spanMethod returns the method as the spans name it: a standard method as
// is, any other as "_OTHER" (a client cannot make up span names).
func spanMethod(m string) (string, bool) {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m, true
	}
	return "_OTHER", false
}

// truncateAttr cuts a client-sent value kept in an attribute to n bytes.
func truncateAttr(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// traceID returns the trace id of the span in c's request context, or ""
// when there is none.
func traceID(c echo.Context) string {
	if sc := trace.SpanContextFromContext(c.Request().Context()); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}
