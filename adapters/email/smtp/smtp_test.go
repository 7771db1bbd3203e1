package smtp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/framework-m/framework-m/adapters/email/smtp"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// script is an SMTP server whose replies a test chooses: what it answers
// to DATA (nil: accept), how long it waits first, and what it received.
type script struct {
	mu       sync.Mutex
	sessions int // connections opened
	reply    error
	delay    time.Duration
	envelope []string
	data     []string
}

func (s *script) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	return &session{s: s}, nil
}

type session struct {
	s    *script
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
	x.s.mu.Lock()
	delay, reply := x.s.delay, x.s.reply
	x.s.mu.Unlock()
	time.Sleep(delay)
	if reply != nil {
		return reply
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.envelope = append([]string{x.from}, x.to...)
	x.s.data = append(x.s.data, string(b))
	return nil
}

// scripted starts a scripted server and a sender for it.
func scripted(t *testing.T, timeoutMS int, tune ...func(*gosmtp.Server, *smtp.Config)) (*script, *smtp.Sender) {
	t.Helper()
	sc := &script{}
	srv := gosmtp.NewServer(sc)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	cfg := smtp.DefaultConfig()
	cfg.Host = "127.0.0.1"
	cfg.Port = l.Addr().(*net.TCPAddr).Port
	cfg.Security = smtp.SecurityNone
	cfg.From = "App <app@example.com>"
	cfg.TimeoutMS = timeoutMS
	for _, f := range tune {
		f(srv, &cfg)
	}
	s, err := smtp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sc, s
}

func message() ports.EmailMessage {
	return ports.EmailMessage{
		MessageID: "0190-test-1@example.com",
		To:        []ports.EmailAddress{{Address: "ann@example.com", Name: "Ann Smith"}},
		Cc:        []ports.EmailAddress{{Address: "cc@example.com"}},
		Bcc:       []ports.EmailAddress{{Address: "hidden@example.com"}},
		Subject:   "Invoice INV-1 — paid",
		HTML:      "<p>Thank <b>you</b></p>",
		Text:      "Thank you",
		InReplyTo: "parent@example.com",
		Attachments: []ports.EmailAttachment{{FileName: "inv.txt", ContentType: "text/plain", Size: 13,
			Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader("attached text")), nil
			}}},
	}
}

// TestScriptedReplies: an accepted email carries its parts, headers and
// envelope (Bcc in the envelope only); a 451 is temporary, a 550 a
// rejection; a server slower than the timeout is a temporary failure.
func TestScriptedReplies(t *testing.T) {
	sc, s := scripted(t, 1000)
	ctx := context.Background()
	if err := s.Send(ctx, message()); err != nil {
		t.Fatal(err)
	}
	sc.mu.Lock()
	env, data := sc.envelope, sc.data[0]
	sc.mu.Unlock()
	if strings.Join(env, ",") != "app@example.com,ann@example.com,cc@example.com,hidden@example.com" {
		t.Errorf("envelope %v", env)
	}
	for _, want := range []string{"Message-ID: <0190-test-1@example.com>", "In-Reply-To: <parent@example.com>",
		`"Ann Smith" <ann@example.com>`, "Cc: <cc@example.com>", "multipart/alternative", "text/html", "text/plain",
		`filename="inv.txt"`} {
		if !strings.Contains(data, want) {
			t.Errorf("the message lacks %q:\n%s", want, data)
		}
	}
	if strings.Contains(data, "hidden@example.com") {
		t.Errorf("Bcc in the headers:\n%s", data)
	}

	sc.mu.Lock()
	sc.reply = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	sc.mu.Unlock()
	err := s.Send(ctx, message())
	if err == nil || errors.Is(err, ports.ErrEmailRejected) {
		t.Errorf("451: %v, want a temporary error", err)
	}
	sc.mu.Lock()
	sc.reply = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	sc.mu.Unlock()
	if err := s.Send(ctx, message()); !errors.Is(err, ports.ErrEmailRejected) {
		t.Errorf("550: %v, want ErrEmailRejected", err)
	}
	sc.mu.Lock()
	sc.reply, sc.delay = nil, 3*time.Second
	sc.mu.Unlock()
	start := time.Now()
	err = s.Send(ctx, message())
	if err == nil || errors.Is(err, ports.ErrEmailRejected) {
		t.Errorf("slow server: %v, want a temporary error", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("a slow server held the send %v", time.Since(start))
	}
}

// TestRefusedBeforeSending: a message without recipients or with a
// malformed address is rejected (not retried) without a connection.
func TestRefusedBeforeSending(t *testing.T) {
	_, s := scripted(t, 1000)
	m := message()
	m.To, m.Cc, m.Bcc = nil, nil, nil
	if err := s.Send(context.Background(), m); !errors.Is(err, ports.ErrEmailRejected) {
		t.Errorf("no recipient: %v", err)
	}
	m = message()
	m.To = []ports.EmailAddress{{Address: "not an address"}}
	if err := s.Send(context.Background(), m); !errors.Is(err, ports.ErrEmailRejected) {
		t.Errorf("bad address: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		edit  func(*smtp.Config)
		field string
	}{
		"port":     {func(c *smtp.Config) { c.Port = 0 }, "port"},
		"security": {func(c *smtp.Config) { c.Security = "ssl" }, "security"},
		"timeout":  {func(c *smtp.Config) { c.TimeoutMS = 5 }, "timeout_ms"},
		"from":     {func(c *smtp.Config) { c.From = "nobody" }, "from"},
		"password": {func(c *smtp.Config) { c.Username = "u" }, "password"},
	} {
		c := smtp.DefaultConfig()
		c.Host = "mail.example.com"
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v", name, err)
		}
	}
	c := smtp.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := c.Required(); err == nil {
		t.Error("no host passed Required")
	}
}

// TestMailpit, against the real mailpit (FM_TEST_SMTP_ADDR host:port and
// FM_TEST_MAILPIT_URL, started by .ci/run): what arrives has both parts,
// the attachment's bytes, the Cc header and every envelope recipient.
func TestMailpit(t *testing.T) {
	addr := fmtest.SkipUnlessServer(t, "FM_TEST_SMTP_ADDR", "SMTP (mailpit)")
	api := fmtest.SkipUnlessServer(t, "FM_TEST_MAILPIT_URL", "SMTP (mailpit)")
	host, port, _ := net.SplitHostPort(addr)
	cfg := smtp.DefaultConfig()
	cfg.Host = host
	cfg.Port, _ = strconv.Atoi(port)
	cfg.Security = smtp.SecurityNone
	cfg.From = "App <app@example.com>"
	s, err := smtp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := message()
	m.MessageID = "mailpit-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@example.com"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var found struct {
		Messages []struct {
			ID        string `json:"ID"`
			MessageID string `json:"MessageID"`
		} `json:"messages"`
	}
	getJSON(t, api+"/api/v1/search?query="+url.QueryEscape("message-id:"+m.MessageID), &found)
	if len(found.Messages) != 1 {
		t.Fatalf("%d messages with Message-ID %s in mailpit, want 1", len(found.Messages), m.MessageID)
	}
	var msg struct {
		Subject string `json:"Subject"`
		HTML    string `json:"HTML"`
		Text    string `json:"Text"`
		Cc      []struct {
			Address string `json:"Address"`
		} `json:"Cc"`
		Bcc []struct {
			Address string `json:"Address"`
		} `json:"Bcc"`
		Attachments []struct {
			FileName string `json:"FileName"`
			PartID   string `json:"PartID"`
		} `json:"Attachments"`
	}
	getJSON(t, api+"/api/v1/message/"+found.Messages[0].ID, &msg)
	if msg.Subject != m.Subject || !strings.Contains(msg.HTML, "<b>you</b>") || !strings.Contains(msg.Text, "Thank you") {
		t.Errorf("arrived: subject %q html %q text %q", msg.Subject, msg.HTML, msg.Text)
	}
	if len(msg.Cc) != 1 || msg.Cc[0].Address != "cc@example.com" {
		t.Errorf("cc %+v", msg.Cc)
	}
	if len(msg.Bcc) != 1 || msg.Bcc[0].Address != "hidden@example.com" {
		t.Errorf("bcc (mailpit reads it from the envelope) %+v", msg.Bcc)
	}
	if len(msg.Attachments) != 1 || msg.Attachments[0].FileName != "inv.txt" {
		t.Fatalf("attachments %+v", msg.Attachments)
	}
	res, err := http.Get(api + "/api/v1/message/" + found.Messages[0].ID + "/part/" + msg.Attachments[0].PartID)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); string(b) != "attached text" {
		t.Errorf("attachment bytes %q", b)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %d %s", u, res.StatusCode, b)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
