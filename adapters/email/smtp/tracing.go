package smtp

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/framework-m/framework-m/ports"
)

// tracerName is the instrumentation scope of the SMTP spans.
const tracerName = "github.com/framework-m/framework-m/adapters/email/smtp"

// Option configures New.
type Option func(*Sender)

// WithTracerProvider makes each Send a client span "smtp send" made with tp:
// a child of the span in its context (a request's), or the root of a trace
// of its own (the email queue's workers). It carries the server's address
// and the numbers of recipients and attachments — never an address or a
// subject — and an error status when sending fails. A nil tp changes
// nothing.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Sender) {
		if tp != nil {
			s.tracer = tp.Tracer(tracerName)
		}
	}
}

// traceSend runs send in the span of WithTracerProvider.
func (s *Sender) traceSend(ctx context.Context, msg ports.EmailMessage, send func(context.Context) error) error {
	ctx, span := s.tracer.Start(ctx, "smtp send", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("server.address", s.cfg.Host),
			attribute.Int("server.port", s.cfg.Port),
			attribute.Int("email.recipients", len(msg.Recipients())),
			attribute.Int("email.attachments", len(msg.Attachments)),
		)
	}
	err := send(ctx)
	if err != nil {
		kind := "temporary"
		if errors.Is(err, ports.ErrEmailRejected) {
			kind = "rejected"
		}
		span.SetAttributes(attribute.String("error.type", kind), attribute.Bool("email.retryable", kind == "temporary"))
		span.SetStatus(codes.Error, "smtp "+kind+" failure")
	}
	return err
}
