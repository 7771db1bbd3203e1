// Package log is the development email sender (ports.EmailSender): it logs
// each email instead of delivering it — who it is from and to, its
// subject, Message-ID, body sizes and attachments, and at debug level its
// text body — so the example server sends "email" with no SMTP server.
package log

import (
	"context"
	"log/slog"

	"github.com/framework-m/framework-m/ports"
)

// Sender logs emails.
type Sender struct {
	log *slog.Logger
}

// New returns a sender logging to l (slog.Default() when nil).
func New(l *slog.Logger) *Sender {
	if l == nil {
		l = slog.Default()
	}
	return &Sender{log: l}
}

// Send logs msg; it fails only when ctx has ended.
func (s *Sender) Send(ctx context.Context, msg ports.EmailMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	addrs := func(as []ports.EmailAddress) []string {
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = a.Address
		}
		return out
	}
	files := make([]string, len(msg.Attachments))
	for i, a := range msg.Attachments {
		files[i] = a.FileName
	}
	s.log.InfoContext(ctx, "email (log sender: not delivered)",
		"message_id", msg.MessageID, "from", msg.From.Address, "to", addrs(msg.To), "cc", addrs(msg.Cc),
		"bcc", len(msg.Bcc), "subject", msg.Subject, "html_bytes", len(msg.HTML), "text_bytes", len(msg.Text),
		"attachments", files)
	s.log.DebugContext(ctx, "email text", "message_id", msg.MessageID, "text", msg.Text)
	return nil
}

var _ ports.EmailSender = (*Sender)(nil)
