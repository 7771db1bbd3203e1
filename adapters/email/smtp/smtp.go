// Package smtp delivers emails over SMTP (ports.EmailSender) with
// github.com/wneessen/go-mail: multipart/alternative HTML and text,
// attachments streamed from their source while the message is written,
// Cc in the headers and Bcc in the envelope only, the queue's Message-ID,
// and In-Reply-To/References for threads.
//
// Replies classify failures: a 5xx (the server refuses the email or a
// recipient) wraps ports.ErrEmailRejected and is not retried; 4xx
// replies, network errors and timeouts are temporary.
package smtp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
	"go.opentelemetry.io/otel/trace"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Security of the connection.
const (
	SecurityStartTLS = "starttls" // plain connection upgraded with STARTTLS (required)
	SecurityTLS      = "tls"      // TLS from the first byte (port 465)
	SecurityNone     = "none"     // no encryption (local relays, tests)
)

// Config is [email.smtp].
type Config struct {
	Host     string `toml:"host"`
	Port     int    `toml:"port"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	// Security is starttls, tls or none.
	Security string `toml:"security"`
	// From is the sender of emails that name none ("App <app@example.com>").
	From string `toml:"from"`
	// TimeoutMS bounds connecting and each SMTP command.
	TimeoutMS int `toml:"timeout_ms"`
	// HELO is the name the client greets with ("" : go-mail's default).
	HELO string `toml:"helo"`
	// MaxIdleConnections is how many open connections are kept for the
	// next emails (0: a connection per email). Each worker sending at
	// once uses one.
	MaxIdleConnections int `toml:"max_idle_connections"`
	// IdleTimeoutMS closes a kept connection unused that long (servers
	// drop idle clients after a while).
	IdleTimeoutMS int `toml:"idle_timeout_ms"`
	// MaxMessagesPerConnection starts a new connection after that many
	// emails (servers limit them per connection).
	MaxMessagesPerConnection int `toml:"max_messages_per_connection"`
}

// DefaultConfig is [email.smtp]'s defaults.
func DefaultConfig() Config {
	return Config{Host: "", Port: 587, Security: SecurityStartTLS, TimeoutMS: 15000,
		MaxIdleConnections: 16, IdleTimeoutMS: 30000, MaxMessagesPerConnection: 100}
}

// Validate checks the settings' shape.
func (c Config) Validate() error {
	v := &core.ValidationError{}
	if c.Port < 1 || c.Port > 65535 {
		v.Add("port", "must be between 1 and 65535")
	}
	switch c.Security {
	case SecurityStartTLS, SecurityTLS, SecurityNone:
	default:
		v.Add("security", `must be "starttls", "tls" or "none"`)
	}
	if c.TimeoutMS < 100 || c.TimeoutMS > 600_000 {
		v.Add("timeout_ms", "must be between 100 and 600000")
	}
	if c.From != "" {
		if _, err := mail.ParseAddress(c.From); err != nil {
			v.Add("from", "must be an address such as \"App <app@example.com>\"")
		}
	}
	if c.MaxIdleConnections < 0 || c.MaxIdleConnections > 1000 {
		v.Add("max_idle_connections", "must be between 0 and 1000")
	}
	if c.IdleTimeoutMS < 0 || c.IdleTimeoutMS > 3_600_000 {
		v.Add("idle_timeout_ms", "must be between 0 and 3600000")
	}
	if c.MaxMessagesPerConnection < 1 || c.MaxMessagesPerConnection > 100_000 {
		v.Add("max_messages_per_connection", "must be between 1 and 100000")
	}
	if (c.Username == "") != (c.Password == "") {
		v.Add("password", "username and password go together")
	}
	return v.Err()
}

// Required checks what sending needs: a host.
func (c Config) Required() error {
	if strings.TrimSpace(c.Host) == "" {
		return core.Invalid("host", "is required with sender = \"smtp\"")
	}
	return nil
}

// Sender delivers over SMTP. Connections are kept open between emails
// (up to MaxIdleConnections, each for at most MaxMessagesPerConnection
// emails and IdleTimeoutMS idle): one email at a time per connection, as
// many at once as callers send.
type Sender struct {
	cfg    Config
	from   *mail.Address
	idle   chan *conn
	tracer trace.Tracer // nil: no spans
}

// conn is an open connection and what it has done.
type conn struct {
	smtp     *gosmtp.Client
	sent     int
	lastUsed time.Time
}

// New returns a sender for cfg (WithTracerProvider: a span per email).
func New(cfg Config, opts ...Option) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Required(); err != nil {
		return nil, err
	}
	s := &Sender{cfg: cfg, idle: make(chan *conn, cfg.MaxIdleConnections)}
	if cfg.From != "" {
		s.from, _ = mail.ParseAddress(cfg.From)
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// timeout is how long the next exchange may take: timeout_ms, or less
// when ctx ends sooner (the caller's deadline, within the email's lease).
func (s *Sender) timeout(ctx context.Context) (time.Duration, error) {
	d := time.Duration(s.cfg.TimeoutMS) * time.Millisecond
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	if err := ctx.Err(); err != nil || d <= 0 {
		return 0, fmt.Errorf("smtp: %w", cmp.Or(err, context.DeadlineExceeded))
	}
	return d, nil
}

// client returns a go-mail client with the settings and timeout d: it
// dials connections, and sends one email on a kept one. go-mail sets a
// connection's deadline to now + d when a send begins, and its calls take
// no context: a client per exchange is how ctx's deadline bounds it.
func (s *Sender) client(d time.Duration) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(d),
		// No NOOP before each email: a kept connection that died fails at
		// MAIL FROM (no reply, or the server's 421 as it hung up), and Send
		// opens another then.
		gomail.WithoutNoop(),
	}
	switch s.cfg.Security {
	case SecurityTLS:
		opts = append(opts, gomail.WithSSL())
	case SecurityNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	if s.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HELO))
	}
	return gomail.NewClient(s.cfg.Host, opts...)
}

// message builds the MIME message of msg.
func (s *Sender) message(ctx context.Context, msg ports.EmailMessage) (*gomail.Msg, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	bad := func(field string, err error) error {
		return fmt.Errorf("%w: %s: %v", ports.ErrEmailRejected, field, err)
	}
	from := msg.From
	if from.Address == "" && s.from != nil {
		from = ports.EmailAddress{Address: s.from.Address, Name: s.from.Name}
	}
	if from.Address == "" {
		return nil, bad("from", errors.New("no sender: set [email.smtp] from"))
	}
	if err := m.FromFormat(from.Name, from.Address); err != nil {
		return nil, bad("from", err)
	}
	if msg.ReplyTo != nil {
		if err := m.ReplyToFormat(msg.ReplyTo.Name, msg.ReplyTo.Address); err != nil {
			return nil, bad("reply_to", err)
		}
	}
	for _, list := range []struct {
		field string
		addrs []ports.EmailAddress
		add   func(name, addr string) error
	}{{"to", msg.To, m.AddToFormat}, {"cc", msg.Cc, m.AddCcFormat}, {"bcc", msg.Bcc, m.AddBccFormat}} {
		for _, a := range list.addrs {
			if err := list.add(a.Name, a.Address); err != nil {
				return nil, bad(list.field, err)
			}
		}
	}
	if len(msg.Recipients()) == 0 {
		return nil, bad("to", errors.New("no recipient"))
	}
	m.Subject(msg.Subject)
	if msg.MessageID != "" {
		m.SetMessageIDWithValue(msg.MessageID)
	} else {
		m.SetMessageID()
	}
	m.SetDate()
	if msg.InReplyTo != "" {
		m.SetGenHeader(gomail.HeaderInReplyTo, "<"+msg.InReplyTo+">")
	}
	if len(msg.References) > 0 {
		refs := make([]string, len(msg.References))
		for i, r := range msg.References {
			refs[i] = "<" + r + ">"
		}
		m.SetGenHeader(gomail.HeaderReferences, strings.Join(refs, " "))
	}
	switch {
	case msg.Text != "" && msg.HTML != "":
		m.SetBodyString(gomail.TypeTextPlain, msg.Text)
		m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	case msg.HTML != "":
		m.SetBodyString(gomail.TypeTextHTML, msg.HTML)
	default:
		m.SetBodyString(gomail.TypeTextPlain, msg.Text)
	}
	files := make([]*gomail.File, 0, len(msg.Attachments))
	for _, a := range msg.Attachments {
		a := a
		files = append(files, &gomail.File{
			Name:        a.FileName,
			ContentType: gomail.ContentType(a.ContentType),
			Header:      map[string][]string{},
			// Opened as the message is written: the bytes stream from
			// their storage to the server, never held whole.
			Writer: func(w io.Writer) (int64, error) {
				r, err := a.Open(ctx)
				if err != nil {
					return 0, fmt.Errorf("open attachment %q: %w", a.FileName, err)
				}
				defer r.Close()
				return io.Copy(w, r)
			},
		})
	}
	m.SetAttachments(files)
	return m, nil
}

// Send delivers msg: ports.ErrEmailRejected for a message the server (or
// this sender) refuses for good, another error when retrying may help. A
// kept connection the server has closed meanwhile is replaced before
// anything is sent on it.
func (s *Sender) Send(ctx context.Context, msg ports.EmailMessage) error {
	if s.tracer != nil {
		return s.traceSend(ctx, msg, func(ctx context.Context) error { return s.send(ctx, msg) })
	}
	return s.send(ctx, msg)
}

// send is Send without its span.
func (s *Sender) send(ctx context.Context, msg ports.EmailMessage) error {
	m, err := s.message(ctx, msg)
	if err != nil {
		return err
	}
	for {
		c, reused, err := s.conn(ctx)
		if err != nil {
			return err
		}
		d, err := s.timeout(ctx)
		if err != nil {
			_ = c.smtp.Close()
			return err
		}
		cl, err := s.client(d)
		if err != nil {
			_ = c.smtp.Close()
			return fmt.Errorf("smtp client: %w", err)
		}
		err = cl.SendWithSMTPClient(c.smtp, m)
		if err == nil || m.IsDelivered() {
			// Delivered: a failure after the server accepted the data (the
			// RSET that follows) must not make the email be sent again.
			s.put(c, err == nil)
			return nil
		}
		_ = c.smtp.Close()
		var se *gomail.SendError
		if reused && errors.As(err, &se) && (se.ErrorCode() == 0 || se.ErrorCode() == 421) &&
			(se.Reason == gomail.ErrConnCheck || se.Reason == gomail.ErrSMTPMailFrom) && ctx.Err() == nil {
			// The kept connection was dead (or the server closed it with a
			// 421) before anything was sent: open a new one.
			continue
		}
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
			return fmt.Errorf("%w: %v", ports.ErrEmailRejected, err)
		}
		return fmt.Errorf("smtp send: %w", err)
	}
}

// conn returns a kept connection, or a new one; reused says which.
func (s *Sender) conn(ctx context.Context) (*conn, bool, error) {
	idle := time.Duration(s.cfg.IdleTimeoutMS) * time.Millisecond
	for {
		select {
		case c := <-s.idle:
			if idle > 0 && time.Since(c.lastUsed) > idle {
				_ = c.smtp.Close()
				continue
			}
			return c, true, nil
		default:
		}
		break
	}
	d, err := s.timeout(ctx)
	if err != nil {
		return nil, false, err
	}
	cl, err := s.client(d)
	if err != nil {
		return nil, false, fmt.Errorf("smtp client: %w", err)
	}
	sc, err := cl.DialToSMTPClientWithContext(ctx)
	if err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
			return nil, false, fmt.Errorf("%w: %v", ports.ErrEmailRejected, err)
		}
		return nil, false, fmt.Errorf("smtp connect: %w", err)
	}
	return &conn{smtp: sc}, false, nil
}

// put keeps c for the next email when it is healthy and has room, else
// closes it.
func (s *Sender) put(c *conn, healthy bool) {
	c.sent++
	c.lastUsed = time.Now()
	if healthy && c.sent < s.cfg.MaxMessagesPerConnection {
		select {
		case s.idle <- c:
			return
		default:
		}
	}
	_ = c.smtp.Close()
}

// Close closes the kept connections.
func (s *Sender) Close() error {
	for {
		select {
		case c := <-s.idle:
			_ = c.smtp.Close()
		default:
			return nil
		}
	}
}

var _ ports.EmailSender = (*Sender)(nil)
