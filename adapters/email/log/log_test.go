package log_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	emaillog "github.com/framework-m/framework-m/adapters/email/log"
	"github.com/framework-m/framework-m/ports"
)

// TestLogsInsteadOfSending: the email's envelope and subject are logged,
// Bcc recipients only counted, the text body only at debug level; a
// cancelled context fails.
func TestLogsInsteadOfSending(t *testing.T) {
	var buf bytes.Buffer
	s := emaillog.New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	msg := ports.EmailMessage{
		MessageID: "m1@example.com", From: ports.EmailAddress{Address: "app@example.com"},
		To: []ports.EmailAddress{{Address: "ann@example.com"}}, Bcc: []ports.EmailAddress{{Address: "secret@example.com"}},
		Subject: "Invoice INV-1", Text: "the private body",
		Attachments: []ports.EmailAttachment{{FileName: "inv.pdf"}},
	}
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"m1@example.com", "ann@example.com", "Invoice INV-1", "inv.pdf", "bcc=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
	for _, leak := range []string{"secret@example.com", "the private body"} {
		if strings.Contains(out, leak) {
			t.Errorf("log at info level holds %q: %s", leak, out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, msg); err == nil {
		t.Error("a cancelled context sent anyway")
	}
}
