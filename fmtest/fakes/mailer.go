package fakes

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/framework-m/framework-m/ports"
)

// Mail is one message handed to a Mailer.
type Mail struct {
	// TenantID is the tenant of the context Send got.
	TenantID string
	// From is the sender's address.
	From string
	// To, Cc and Bcc are the recipients' addresses.
	To, Cc, Bcc []string
	// Subject is the subject line.
	Subject string
	// Body is the plain-text body.
	Body string
	// HTML is the HTML body, if any.
	HTML string
	// Headers are extra message headers.
	Headers map[string]string
}

// Mailer is a ports.EmailSender that records the messages it is asked to
// send and sends nothing: register it with frameworkm.WithEmailSender (or
// hand it to email.New) to see what an app sends, or make sends fail with
// FailWith.
type Mailer struct {
	mu   sync.Mutex
	sent []Mail
	err  error
}

// NewMailer returns a Mailer that has sent nothing.
func NewMailer() *Mailer { return &Mailer{} }

// Send records msg as a Mail, stamped with the tenant in ctx, or returns
// the error set with FailWith (recording nothing).
func (m *Mailer) Send(ctx context.Context, msg ports.EmailMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	addrs := func(l []ports.EmailAddress) []string {
		out := make([]string, len(l))
		for i, a := range l {
			out[i] = a.Address
		}
		return out
	}
	mail := Mail{From: msg.From.Address, To: addrs(msg.To), Cc: addrs(msg.Cc), Bcc: addrs(msg.Bcc),
		Subject: msg.Subject, Body: msg.Text, HTML: msg.HTML, Headers: map[string]string{"Message-ID": "<" + msg.MessageID + ">"}}
	if msg.InReplyTo != "" {
		mail.Headers["In-Reply-To"] = "<" + msg.InReplyTo + ">"
	}
	return m.record(ctx, mail)
}

// record keeps msg, or returns the error set with FailWith.
func (m *Mailer) record(ctx context.Context, msg Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	msg.TenantID = ports.TenantIDFrom(ctx)
	m.sent = append(m.sent, copyMail(msg))
	return nil
}

// Sent returns copies of the recorded messages, oldest first.
func (m *Mailer) Sent() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Mail, len(m.sent))
	for i, msg := range m.sent {
		out[i] = copyMail(msg)
	}
	return out
}

// SentTo returns the recorded messages with addr among To, Cc or Bcc.
func (m *Mailer) SentTo(addr string) []Mail {
	var out []Mail
	for _, msg := range m.Sent() {
		if slices.Contains(msg.To, addr) || slices.Contains(msg.Cc, addr) || slices.Contains(msg.Bcc, addr) {
			out = append(out, msg)
		}
	}
	return out
}

// FailWith makes every later Send return err (nil: succeed again).
func (m *Mailer) FailWith(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// Reset forgets the recorded messages.
func (m *Mailer) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = nil
}

func copyMail(m Mail) Mail {
	m.To, m.Cc, m.Bcc = slices.Clone(m.To), slices.Clone(m.Cc), slices.Clone(m.Bcc)
	m.Headers = maps.Clone(m.Headers)
	return m
}

var _ ports.EmailSender = (*Mailer)(nil)
