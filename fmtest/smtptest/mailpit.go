package smtptest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/framework-m/framework-m/fmtest"
)

// Environment variables naming the mailpit server the tests send to
// (https://mailpit.axllent.org: SMTP, and an HTTP API to read what
// arrived). .ci/run starts one and sets both.
const (
	EnvSMTPAddr   = "FM_TEST_SMTP_ADDR"
	EnvMailpitURL = "FM_TEST_MAILPIT_URL"
)

// Mailpit is a mailpit server: its SMTP address and its API.
type Mailpit struct {
	// Host and Port are its SMTP listener.
	Host string
	Port int
	// URL is its HTTP API ("http://127.0.0.1:8025").
	URL string
}

// MailpitFromEnv returns the mailpit of FM_TEST_SMTP_ADDR and
// FM_TEST_MAILPIT_URL, skipping the test without them (failing it under
// FM_REQUIRE_SERVERS).
func MailpitFromEnv(t testing.TB) *Mailpit {
	t.Helper()
	addr := fmtest.SkipUnlessServer(t, EnvSMTPAddr, "an SMTP server (mailpit)")
	api := fmtest.SkipUnlessServer(t, EnvMailpitURL, "mailpit's HTTP API")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s=%q: %v", EnvSMTPAddr, os.Getenv(EnvSMTPAddr), err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("%s=%q: %v", EnvSMTPAddr, addr, err)
	}
	return &Mailpit{Host: host, Port: p, URL: api}
}

// Section is the [email.smtp] section that sends to m.
func (m *Mailpit) Section() map[string]any {
	return map[string]any{"host": m.Host, "port": m.Port, "security": "none", "timeout_ms": 10000}
}

// Summary is an email as mailpit lists it.
type Summary struct {
	// ID is mailpit's id of the message (for Message).
	ID string `json:"ID"`
	// MessageID is the Message-ID header, without angle brackets.
	MessageID string `json:"MessageID"`
	Subject   string `json:"Subject"`
}

// Search returns every email matching query (mailpit's search syntax, such
// as `subject:"run 42"`), newest first.
func (m *Mailpit) Search(t testing.TB, query string) []Summary {
	t.Helper()
	var all []Summary
	for start := 0; ; {
		var page struct {
			MessagesCount int       `json:"messages_count"`
			Messages      []Summary `json:"messages"`
		}
		m.get(t, fmt.Sprintf("/api/v1/search?query=%s&start=%d&limit=1000", url.QueryEscape(query), start), &page)
		all = append(all, page.Messages...)
		start += len(page.Messages)
		if len(page.Messages) == 0 || start >= page.MessagesCount {
			return all
		}
	}
}

// Count returns how many emails match query.
func (m *Mailpit) Count(t testing.TB, query string) int {
	t.Helper()
	var page struct {
		MessagesCount int `json:"messages_count"`
	}
	m.get(t, fmt.Sprintf("/api/v1/search?query=%s&limit=1", url.QueryEscape(query)), &page)
	return page.MessagesCount
}

// WaitFor polls query until at least n emails match (or timeout passes,
// failing t) and returns them.
func (m *Mailpit) WaitFor(t testing.TB, query string, n int, timeout time.Duration) []Summary {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		found := m.Search(t, query)
		if len(found) >= n {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit: %d emails match %s after %v, want %d", len(found), query, timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Message decodes the whole message id (mailpit's id) into v: Subject,
// HTML, Text, To, Cc, Bcc, Attachments … as mailpit's API names them.
func (m *Mailpit) Message(t testing.TB, id string, v any) {
	t.Helper()
	m.get(t, "/api/v1/message/"+url.PathEscape(id), v)
}

var mailpitClient = &http.Client{Timeout: 30 * time.Second}

func (m *Mailpit) get(t testing.TB, path string, v any) {
	t.Helper()
	res, err := mailpitClient.Get(m.URL + path)
	if err != nil {
		t.Fatalf("mailpit: GET %s: %v", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		t.Fatalf("mailpit: GET %s: %d %s", path, res.StatusCode, b)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("mailpit: GET %s: %v", path, err)
	}
}
