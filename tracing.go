package frameworkm

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/framework-m/framework-m/adapters/tracing/otlp"
)

// WithSpanExporter makes [tracing] export spans through exp instead of OTLP
// (tests pass the SDK's in-memory exporter); tracing must be enabled.
func WithSpanExporter(exp otlp.Option) Option {
	return func(o *options) { o.tracingOpts = append(o.tracingOpts, exp) }
}

// buildTracing starts [tracing] when enabled: an OTLP exporter, the
// sampler and the W3C propagator, installed as OpenTelemetry's globals
// (the outbound clients send traceparent through them). Tracing shuts down
// last, flushing what is buffered.
func (a *App) buildTracing(o *options) error {
	t := a.Config.Tracing
	if !t.Enabled {
		return nil
	}
	name := t.ServiceName
	if name == "" {
		name = a.Config.App.Name
	}
	cfg := otlp.Config{Enabled: true, Endpoint: t.Endpoint, SampleRatio: t.SampleRatio, ServiceName: name, Headers: t.Headers, Insecure: t.Insecure}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	tr, err := otlp.New(context.Background(), cfg, append([]otlp.Option{otlp.WithLogger(a.Logger)}, o.tracingOpts...)...)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	tr.Install()
	a.tracing = tr
	return nil
}

// traceFlushTimeout bounds the last export of spans at shutdown when the
// caller's context has no deadline of its own.
const traceFlushTimeout = 10 * time.Second

// tracer is the app's tracer provider, nil when tracing is off.
func (a *App) tracer() trace.TracerProvider {
	if a.tracing == nil {
		return nil
	}
	return a.tracing.TracerProvider()
}
