// Package smtptest runs an SMTP server inside a test whose replies the
// test scripts (github.com/emersion/go-smtp): accept, answer 451 or 550,
// or wait first. It records what it accepted and how many connections it
// served. Point the app's [email.smtp] at it with Section.
package smtptest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Message is an email the server accepted.
type Message struct {
	// From and To are the envelope's sender and recipients.
	From string
	To   []string
	// Data is the message as it arrived (headers and body).
	Data string
}

// Server is a scripted SMTP server on 127.0.0.1.
type Server struct {
	// Host and Port are where it listens.
	Host string
	Port int

	mu       sync.Mutex
	replies  []error
	delay    time.Duration
	received []Message
	attempts int
	sessions int
}

// Start starts a server that accepts every email until scripted
// otherwise; it stops when the test ends. tune adjusts the go-smtp server
// before it starts (its ReadTimeout, say).
func Start(t testing.TB, tune ...func(*gosmtp.Server)) *Server {
	t.Helper()
	s := &Server{}
	srv := gosmtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	for _, f := range tune {
		f(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.Host, s.Port = "127.0.0.1", l.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Section is the [email.smtp] section that sends to s.
func (s *Server) Section() map[string]any {
	return map[string]any{"host": s.Host, "port": s.Port, "security": "none", "timeout_ms": 5000}
}

// Reply is an SMTP reply to script: Reply(451, "try later").
func Reply(code int, msg string) error {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCodeNotSet, Message: msg}
}

// Script sets the replies to the next emails' data, one each in order
// (nil: accept); once they are used up, emails are accepted.
func (s *Server) Script(replies ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append([]error(nil), replies...)
}

// Delay makes the server wait d before answering each email's data.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Received returns the emails accepted so far, oldest first.
func (s *Server) Received() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.received...)
}

// Attempts counts the emails whose data arrived, accepted or not.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Sessions counts the connections served.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// NewSession serves one connection (gosmtp.Backend).
func (s *Server) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	return &session{s: s}, nil
}

type session struct {
	s    *Server
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

func (x *session) Mail(from string, _ *gosmtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := x.s
	s.mu.Lock()
	s.attempts++
	delay := s.delay
	var reply error
	if len(s.replies) > 0 {
		reply, s.replies = s.replies[0], s.replies[1:]
	}
	s.mu.Unlock()
	time.Sleep(delay)
	if reply != nil {
		return reply
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, Message{From: x.from, To: append([]string(nil), x.to...), Data: string(b)})
	return nil
}
