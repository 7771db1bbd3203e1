package smtp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/framework-m/framework-m/adapters/email/smtp"
	"github.com/framework-m/framework-m/fmtest/smtptest"
	"github.com/framework-m/framework-m/ports"
)

// scripted starts a scripted server and a sender for it.
func scripted(t *testing.T, timeoutMS int, tune ...func(*smtp.Config)) (*smtptest.Server, *smtp.Sender) {
	t.Helper()
	return senderFor(t, smtptest.Start(t), timeoutMS, tune...)
}

// senderFor returns a sender to srv.
func senderFor(t *testing.T, srv *smtptest.Server, timeoutMS int, tune ...func(*smtp.Config)) (*smtptest.Server, *smtp.Sender) {
	t.Helper()
	cfg := smtp.DefaultConfig()
	cfg.Host, cfg.Port = srv.Host, srv.Port
	cfg.Security = smtp.SecurityNone
	cfg.From = "App <app@example.com>"
	cfg.TimeoutMS = timeoutMS
	for _, f := range tune {
		f(&cfg)
	}
	s, err := smtp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return srv, s
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
	got := sc.Received()
	if len(got) != 1 {
		t.Fatalf("%d emails arrived, want 1", len(got))
	}
	env, data := append([]string{got[0].From}, got[0].To...), got[0].Data
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

	sc.Script(smtptest.Reply(451, "try later"))
	err := s.Send(ctx, message())
	if err == nil || errors.Is(err, ports.ErrEmailRejected) {
		t.Errorf("451: %v, want a temporary error", err)
	}
	sc.Script(smtptest.Reply(550, "no such user"))
	if err := s.Send(ctx, message()); !errors.Is(err, ports.ErrEmailRejected) {
		t.Errorf("550: %v, want ErrEmailRejected", err)
	}
	sc.Delay(3 * time.Second)
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
// TestConnectionsKept: emails sent one after another share a connection,
// up to max_messages_per_connection; with max_idle_connections 0 each has
// its own.
func TestConnectionsKept(t *testing.T) {
	for _, c := range []struct {
		idle, perConn, want int
	}{{idle: 4, perConn: 100, want: 1}, {idle: 4, perConn: 2, want: 3}, {idle: 0, perConn: 100, want: 5}} {
		sc, s := scripted(t, 2000, func(cfg *smtp.Config) {
			cfg.MaxIdleConnections, cfg.MaxMessagesPerConnection = c.idle, c.perConn
		})
		for range 5 {
			if err := s.Send(context.Background(), message()); err != nil {
				t.Fatal(err)
			}
		}
		if got, n := sc.Sessions(), len(sc.Received()); got != c.want || n != 5 {
			t.Errorf("idle %d, per connection %d: %d connections for %d emails, want %d for 5", c.idle, c.perConn, got, n, c.want)
		}
	}
}

// TestDeadConnectionReplaced: a kept connection the server closed (its
// idle timeout) is replaced before the email is sent: the email arrives
// once, on a new connection.
func TestDeadConnectionReplaced(t *testing.T) {
	sc, s := senderFor(t, smtptest.Start(t, func(srv *gosmtp.Server) { srv.ReadTimeout = 150 * time.Millisecond }), 2000)
	if err := s.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // the server drops the idle connection
	if err := s.Send(context.Background(), message()); err != nil {
		t.Fatalf("the second email failed on the dead connection: %v", err)
	}
	if sc.Sessions() != 2 || len(sc.Received()) != 2 {
		t.Errorf("%d connections, %d emails; want 2 and 2", sc.Sessions(), len(sc.Received()))
	}
}

// TestContextBoundsTheExchange: a server slower than the caller's
// deadline does not hold the send past it.
func TestContextBoundsTheExchange(t *testing.T) {
	sc, s := scripted(t, 10000)
	sc.Delay(3 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, message())
	if err == nil || errors.Is(err, ports.ErrEmailRejected) {
		t.Errorf("a send past its deadline: %v, want a temporary error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the send took %v with a 300ms deadline", took)
	}
}

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
	mp := smtptest.MailpitFromEnv(t)
	api := mp.URL
	cfg := smtp.DefaultConfig()
	cfg.Host, cfg.Port = mp.Host, mp.Port
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
	found := mp.Search(t, "message-id:"+m.MessageID)
	if len(found) != 1 {
		t.Fatalf("%d messages with Message-ID %s in mailpit, want 1", len(found), m.MessageID)
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
	mp.Message(t, found[0].ID, &msg)
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
	res, err := http.Get(api + "/api/v1/message/" + found[0].ID + "/part/" + msg.Attachments[0].PartID)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); string(b) != "attached text" {
		t.Errorf("attachment bytes %q", b)
	}
}
