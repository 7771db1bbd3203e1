// Package otlp builds the OpenTelemetry tracing of an app ([tracing]): an SDK
// TracerProvider exporting spans over OTLP/HTTP (protobuf) to a collector,
// sampling ParentBased(TraceIDRatioBased(sample_ratio)), with the W3C
// TraceContext and Baggage propagators and a resource naming the service.
//
// New sets no OpenTelemetry global: the composition root passes
// TracerProvider() and Propagator() to the adapters that make spans (the web
// server, the database, the policy, storage, print and email clients) and
// calls Install once, so that libraries using the globals (otelhttp's
// propagation of outbound calls among them) agree. Shutdown flushes the spans
// still buffered; the root calls it last, after the server and the workers
// have stopped.
package otlp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
	"weak"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/quietlog"
)

// Defaults of [tracing].
const (
	// DefaultEndpoint is a collector's OTLP/HTTP receiver on this machine.
	DefaultEndpoint = "http://127.0.0.1:4318"
	// DefaultSampleRatio samples every trace that starts here.
	DefaultSampleRatio = 1.0
	// DefaultServiceName is the service.name of the spans.
	DefaultServiceName = "framework-m"
	// TracesPath is where OTLP/HTTP receivers take spans.
	TracesPath = "/v1/traces"
)

// exportTimeout bounds one export request to the collector.
const exportTimeout = 10 * time.Second

// Config is the [tracing] section.
type Config struct {
	// Enabled turns tracing on (default off). The root builds nothing
	// when it is off, and every adapter then makes no span at all.
	Enabled bool `toml:"enabled"`
	// Endpoint is the collector's OTLP/HTTP base URL, such as
	// http://127.0.0.1:4318: spans are posted to Endpoint + /v1/traces. A
	// URL whose path already ends in /v1/traces is used as it is.
	Endpoint string `toml:"endpoint"`
	// SampleRatio is the share of the traces starting here that are
	// recorded, from 0 (none) to 1 (all). A request whose trusted proxy
	// sent a traceparent follows that parent's decision instead.
	SampleRatio float64 `toml:"sample_ratio"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `toml:"service_name"`
	// Headers are sent with every export (such as an API key of a hosted
	// collector). Their values are never logged nor quoted in errors.
	Headers map[string]string `toml:"headers"`
	// Insecure allows a plain http:// endpoint on a host other than the
	// loopback: spans then cross the network unencrypted. http:// to
	// 127.0.0.1, ::1 or localhost is always allowed.
	Insecure bool `toml:"insecure"`
}

// DefaultConfig returns the documented defaults of [tracing].
func DefaultConfig() Config {
	return Config{
		Endpoint:    DefaultEndpoint,
		SampleRatio: DefaultSampleRatio,
		ServiceName: DefaultServiceName,
	}
}

// WithDefaults returns c with an empty Endpoint and ServiceName set to their
// defaults. SampleRatio is kept: 0 is a valid ratio.
func (c Config) WithDefaults() Config {
	if strings.TrimSpace(c.Endpoint) == "" {
		c.Endpoint = DefaultEndpoint
	}
	if strings.TrimSpace(c.ServiceName) == "" {
		c.ServiceName = DefaultServiceName
	}
	return c
}

// Validate checks the section, enabled or not, and returns a
// *core.ValidationError (matching core.ErrValidation) naming each bad key
// (endpoint, sample_ratio, service_name, headers). It never quotes a
// header's value nor the endpoint's password.
func (c Config) Validate() error {
	v := &core.ValidationError{}
	if ep := strings.TrimSpace(c.Endpoint); ep != "" {
		if _, err := c.target(); err != nil {
			v.Add("endpoint", err.Error())
		}
	} else if c.Enabled {
		v.Add("endpoint", "is required: an http(s) URL such as "+DefaultEndpoint)
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 || c.SampleRatio != c.SampleRatio {
		v.Add("sample_ratio", "must be between 0 and 1")
	}
	if c.Enabled && strings.TrimSpace(c.ServiceName) == "" {
		v.Add("service_name", "is required")
	}
	for k, val := range c.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			v.Add("headers", "a header name must be a token without spaces or colons")
			break
		}
		if strings.ContainsAny(val, "\r\n") {
			v.Add("headers", fmt.Sprintf("the value of %q must not hold a line break", k))
			break
		}
	}
	return v.Err()
}

// target is the parsed endpoint with the traces path.
type target struct {
	host     string // host[:port]
	path     string
	insecure bool // plain http
}

// target parses c.Endpoint.
func (c Config) target() (target, error) {
	u, err := url.Parse(strings.TrimSpace(c.Endpoint))
	switch {
	case err != nil:
		return target{}, errors.New("is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return target{}, fmt.Errorf("must be an http or https URL such as %s", DefaultEndpoint)
	case u.Hostname() == "":
		return target{}, errors.New("has no host")
	case u.User != nil:
		return target{}, errors.New("must not hold credentials (use headers)")
	case u.RawQuery != "" || u.Fragment != "":
		return target{}, errors.New("must not have a query or fragment")
	}
	if u.Scheme == "http" && !c.Insecure && !loopback(u.Hostname()) {
		return target{}, errors.New("is plain http to another host: use https, or set insecure = true to send spans unencrypted")
	}
	path := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(path, TracesPath) {
		path += TracesPath
	}
	return target{host: u.Host, path: path, insecure: u.Scheme == "http"}, nil
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Option configures New.
type Option func(*options)

type options struct {
	exporter sdktrace.SpanExporter
	log      *slog.Logger
}

// WithExporter makes New export through exp instead of OTLP/HTTP to the
// endpoint (tests pass tracetest's in-memory exporter). Spans are still
// batched: call ForceFlush or Shutdown before reading exp.
func WithExporter(exp sdktrace.SpanExporter) Option {
	return func(o *options) { o.exporter = exp }
}

// WithLogger sets the logger of export failures (default slog.Default()).
// Install makes it OpenTelemetry's error handler.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// Tracing is an app's tracing: a TracerProvider and the propagator of trace
// context. A nil *Tracing is tracing off: its TracerProvider and Propagator
// are nil and its other methods do nothing.
type Tracing struct {
	tp         *sdktrace.TracerProvider
	propagator propagation.TextMapPropagator
	log        *slog.Logger
	quiet      quietlog.Limiter

	// installed is what Install replaced, put back by Shutdown (nil: not
	// installed).
	installed *install
}

// globals are OpenTelemetry's process-wide settings.
type globals struct {
	tp         trace.TracerProvider
	propagator propagation.TextMapPropagator
	handler    otel.ErrorHandler
}

// install is one Tracing's Install: the globals it replaced, and whether
// that Tracing has been shut down since.
type install struct {
	prev    globals
	stopped bool
}

// OpenTelemetry's own globals, before anyone sets them: delegates that
// forward to the first value set, for good. Shutdown never puts them back
// (they would forward to the stopped Tracing) but no-op equivalents.
var (
	otelDefaultTP         = otel.GetTracerProvider()
	otelDefaultPropagator = otel.GetTextMapPropagator()
	otelDefaultHandler    = otel.GetErrorHandler()
)

// installs are the Installs of this process by provider, held weakly (a
// provider shut down and dropped leaves nothing behind), so that a Shutdown
// putting back a stopped Tracing's provider puts back what that one had
// replaced instead, whatever order apps shut down in.
var installs struct {
	sync.Mutex
	m map[weak.Pointer[sdktrace.TracerProvider]]*install
}

// New builds the tracing cfg describes, enabled or not (the root calls it
// only when cfg.Enabled): the TracerProvider, exporting in batches over
// OTLP/HTTP (or through WithExporter's exporter), sampling
// ParentBased(TraceIDRatioBased(cfg.SampleRatio)), and the W3C TraceContext
// and Baggage propagator. It sets no OpenTelemetry global (see Install) and
// makes no request: the collector may be down at start, and failed exports
// are logged (at most every ten seconds) and dropped.
func New(ctx context.Context, cfg Config, opts ...Option) (*Tracing, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	exp := o.exporter
	if exp == nil {
		tg, _ := cfg.target()
		hopts := []otlptracehttp.Option{
			otlptracehttp.WithEndpoint(tg.host),
			otlptracehttp.WithURLPath(tg.path),
			otlptracehttp.WithTimeout(exportTimeout),
		}
		if tg.insecure {
			hopts = append(hopts, otlptracehttp.WithInsecure())
		}
		if len(cfg.Headers) > 0 {
			hopts = append(hopts, otlptracehttp.WithHeaders(cfg.Headers))
		}
		var err error
		if exp, err = otlptracehttp.New(ctx, hopts...); err != nil {
			return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
		}
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewSchemaless(attribute.String("service.name", strings.TrimSpace(cfg.ServiceName))))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
		sdktrace.WithResource(res),
	)
	return &Tracing{
		tp:         tp,
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		log:        o.log,
	}, nil
}

// TracerProvider returns the provider the adapters make spans with (nil for
// a nil Tracing).
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return nil // an untyped nil: tracing off
	}
	return t.tp
}

// Propagator returns the W3C TraceContext and Baggage propagator (nil for a
// nil Tracing).
func (t *Tracing) Propagator() propagation.TextMapPropagator {
	if t == nil {
		return nil
	}
	return t.propagator
}

// Install makes t OpenTelemetry's global TracerProvider, propagator and
// error handler (export failures are logged at warn, at most once every ten
// seconds). The composition root calls it once, after New: outbound HTTP
// instrumentation (otelhttp) injects traceparent with the global
// propagator. A nil Tracing installs nothing.
func (t *Tracing) Install() {
	if t == nil {
		return
	}
	in := &install{prev: globals{tp: otel.GetTracerProvider(), propagator: otel.GetTextMapPropagator(), handler: otel.GetErrorHandler()}}
	installs.Lock()
	if installs.m == nil {
		installs.m = map[weak.Pointer[sdktrace.TracerProvider]]*install{}
	}
	for k := range installs.m {
		if k.Value() == nil {
			delete(installs.m, k) // its provider is gone
		}
	}
	installs.m[weak.Make(t.tp)] = in
	t.installed = in
	installs.Unlock()
	otel.SetTracerProvider(t.tp)
	otel.SetTextMapPropagator(t.propagator)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(t.handle))
}

// uninstall marks t stopped and, when the globals are still t's (a later
// Install of another Tracing keeps its own), puts back what t replaced:
// following the chain past Tracings stopped since, so that the provider a
// user had set comes back, or a no-op one, never a stopped provider.
func (t *Tracing) uninstall() {
	installs.Lock()
	defer installs.Unlock()
	in := t.installed
	if in == nil {
		return
	}
	in.stopped = true
	if otel.GetTracerProvider() != trace.TracerProvider(t.tp) {
		return
	}
	g := in.prev
	for {
		p, ok := g.tp.(*sdktrace.TracerProvider)
		if !ok {
			break
		}
		before := installs.m[weak.Make(p)]
		if before == nil || !before.stopped {
			break
		}
		g = before.prev
	}
	// g.tp is now a provider still running: the user's, another Tracing's
	// not shut down yet, or otel's delegate (which forwards to a stopped one).
	if g.tp == otelDefaultTP {
		g.tp = noop.NewTracerProvider()
	}
	if g.propagator == otelDefaultPropagator {
		g.propagator = propagation.NewCompositeTextMapPropagator()
	}
	if g.handler == otelDefaultHandler {
		g.handler = otel.ErrorHandlerFunc(func(err error) { slog.Default().Warn("opentelemetry", "err", err) })
	}
	otel.SetTracerProvider(g.tp)
	otel.SetTextMapPropagator(g.propagator)
	otel.SetErrorHandler(g.handler)
}

// handle logs an OpenTelemetry error (a failed export), rate-limited.
func (t *Tracing) handle(err error) {
	if n, ok := t.quiet.Allow("otel", time.Now()); ok {
		t.log.Warn("tracing: could not export spans (logged at most every 10s)", "err", err, "suppressed", n)
	}
}

// ForceFlush exports the spans ended so far, until ctx ends.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.tp.ForceFlush(ctx); err != nil {
		return fmt.Errorf("tracing: flush: %w", err)
	}
	return nil
}

// Shutdown exports the spans still buffered and stops the provider, until
// ctx ends; spans ended later are dropped. The globals Install set are put
// back as they were (a no-op provider when none was set). Call it after the
// server and the background workers have stopped.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.uninstall()
	if err := t.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}
