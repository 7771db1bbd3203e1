package smtp_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/framework-m/framework-m/adapters/email/smtp"
	"github.com/framework-m/framework-m/fmtest/smtptest"
)

func TestSendIsASpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	srv := smtptest.Start(t)
	cfg := smtp.DefaultConfig()
	cfg.Host, cfg.Port, cfg.Security, cfg.From, cfg.TimeoutMS = srv.Host, srv.Port, smtp.SecurityNone, "App <app@example.com>", 2000
	s, err := smtp.New(cfg, smtp.WithTracerProvider(tp))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	ctx, parent := tp.Tracer("test").Start(context.Background(), "email queue")
	require.NoError(t, s.Send(ctx, message()))
	srv.Script(smtptest.Reply(550, "no such user"))
	require.Error(t, s.Send(ctx, message()))
	parent.End()
	require.NoError(t, s.Send(context.Background(), message()), "a send outside any span")

	var sends []sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.Name() == "smtp send" {
			sends = append(sends, sp)
		}
	}
	require.Len(t, sends, 3)
	for _, sp := range sends[:2] {
		assert.Equal(t, trace.SpanKindClient, sp.SpanKind())
		assert.Equal(t, parent.SpanContext().TraceID(), sp.SpanContext().TraceID())
		assert.Equal(t, parent.SpanContext().SpanID(), sp.Parent().SpanID())
		for _, kv := range sp.Attributes() {
			v := kv.Value.Emit()
			for _, private := range []string{"ann@example.com", "hidden@example.com", "Invoice"} {
				assert.False(t, strings.Contains(v, private), "%s carries %q", kv.Key, private)
			}
		}
	}
	assert.Equal(t, codes.Unset, sends[0].Status().Code)
	assert.Equal(t, codes.Error, sends[1].Status().Code, "a rejected email")
	assert.False(t, sends[2].Parent().IsValid(), "a worker's send is a root of its own")
}
