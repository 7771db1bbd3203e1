package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/smtptest"
)

// hostileTo is the one recipient most probes use.
var hostileTo = []map[string]string{{"address": "ann@example.com"}}

// queueOnlyApp is an app whose workers send nothing: emails stay Queued.
func queueOnlyApp(t *testing.T, driver fmtest.Driver) *fmtest.App {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	cfg.Email.Queue.Workers = 0
	return fmtest.NewWithConfig(t, cfg)
}

// validJSON reports whether body is one whole JSON document.
func validJSON(body []byte) bool {
	var v any
	return json.Unmarshal(body, &v) == nil
}

// Regression test (a review found it): a send_after whose UTC form falls outside years 0–9999 (RFC 3339
// allows "0000-01-01T00:00:00+01:00" = year -1 in UTC, and
// "9999-12-31T23:59:59-01:00" = year 10000 in UTC) passes validation and is
// queued, but the 201's body cannot be encoded (time.MarshalJSON refuses
// such years): the client gets a 500 for an email that was queued (and, on
// SQLite, sent at once: see TestHostileFarFutureNotSentEarly), and on
// PostgreSQL every later list of the tenant fails with a 500.
func TestHostileSendAfterOutOfRange(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := queueOnlyApp(t, driver)
			admin := app.As(fmtest.Admin())
			for _, sa := range []string{"0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"} {
				r := admin.Post(emailQueue, map[string]any{"to": hostileTo, "send_after": sa})
				if r.Status == http.StatusBadRequest {
					continue // refused cleanly: holds
				}
				if r.Status != http.StatusCreated || !validJSON(r.Body) {
					t.Errorf("BUG: send_after %s: status %d (the email is queued all the same): %s", sa, r.Status, r.Body)
				}
			}
			r := admin.Get(emailQueue)
			if r.Status >= 500 || !validJSON(r.Body) {
				t.Errorf("BUG: the list fails once such an email is queued: %d %q", r.Status, r.Body)
			}
		})
	}
}

// Year 0 and 9999 in UTC are stored, read back and listed (edges that hold).
func TestHostileSendAfterEdgesInRange(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := queueOnlyApp(t, driver)
			admin := app.As(fmtest.Admin())
			for _, sa := range []string{"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z", "2030-06-01T12:00:00+14:00"} {
				r := admin.Post(emailQueue, map[string]any{"to": hostileTo, "send_after": sa})
				require.Equal(t, http.StatusCreated, r.Status, "%s: %s", sa, r.Body)
				id := r.Data(t)["id"].(string)
				g := admin.Get(emailQueue + "/" + id)
				assert.Equal(t, http.StatusOK, g.Status, "%s: %s", sa, g.Body)
			}
			r := admin.Get(emailQueue)
			assert.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		})
	}
}

// Regression test (SQLite, a review found it): timestamps are compared as text; an email due in year
// 10000 UTC (send_after "9999-12-31T23:59:59-01:00") sorts before today's
// date ("10000-…" < "2026-…") and is sent at once instead of never.
func TestHostileFarFutureNotSentEarly(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app, srv := emailApp(t, driver)
			admin := app.As(fmtest.Admin())
			r := admin.Post(emailQueue, map[string]any{"to": hostileTo, "subject": "far", "send_after": "9999-12-31T23:59:59-01:00"})
			if r.Status == http.StatusBadRequest {
				return // refused: holds
			}
			// The 201 and the far-future email were accepted; nothing may be
			// sent for millennia.
			time.Sleep(500 * time.Millisecond)
			if n := len(srv.Received()); n != 0 {
				t.Errorf("BUG: an email held back until year 10000 was sent at once (%d received)", n)
			}
		})
	}
}

// Regression test (PostgreSQL, a review found it): path ids and list filters holding NUL or invalid UTF-8
// (GET /email-queue/%00, ?reference_id=%00, ?reference_doctype=%ff) reach
// PostgreSQL, which refuses them: a 500 instead of a 404/400. (Body fields
// holding NUL are refused with a 400: that part holds.)
func TestHostileNULAndBadUTF8(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := queueOnlyApp(t, driver)
			admin := app.As(fmtest.Admin())
			for _, field := range []string{"body", "text_body", "reference_doctype", "reference_id", "in_reply_to", "subject"} {
				r := admin.Post(emailQueue, map[string]any{"to": hostileTo, field: "a\u0000b"})
				if r.Status >= 500 {
					t.Errorf("BUG: %s holding NUL: %d %s", field, r.Status, r.Body)
				}
			}
			r := admin.Post(emailQueue, map[string]any{"to": hostileTo, "attachments": []string{"a\u0000b"}})
			if r.Status >= 500 {
				t.Errorf("BUG: attachment id holding NUL: %d %s", r.Status, r.Body)
			}
			r = admin.Post(emailQueue, map[string]any{"to": []map[string]string{{"address": "ann@example.com", "name": "A\u0000nn"}}})
			assert.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
			for _, p := range []string{"/%00", "/%ff", "/a%00b/retry", "/a%00b/cancel", "/%ff/cancel"} {
				method := http.MethodGet
				if strings.HasSuffix(p, "retry") || strings.HasSuffix(p, "cancel") {
					method = http.MethodPost
				}
				r := admin.Do(method, emailQueue+p, nil)
				if r.Status >= 500 {
					t.Errorf("BUG: %s %s: %d %s", method, p, r.Status, r.Body)
				}
			}
			for _, q := range []string{"?reference_id=%00", "?reference_doctype=%ff", "?reference_doctype=x&reference_id=%ff%fe"} {
				r := admin.Get(emailQueue + q)
				if r.Status >= 500 {
					t.Errorf("BUG: list %s: %d %s", q, r.Status, r.Body)
				}
			}
		})
	}
}

// Weird JSON never yields a 5xx: deep nesting, wrong types, nulls, huge
// bodies, duplicate keys, trailing data.
func TestHostileWeirdBodies(t *testing.T) {
	app := queueOnlyApp(t, fmtest.SQLite)
	admin := app.As(fmtest.Admin())
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	bodies := []string{
		deep,
		`{"to": ` + deep + `}`,
		`{"to": "ann@example.com"}`,
		`{"to": [{"address": 5}]}`,
		`{"to": [null]}`,
		`{"to": null}`,
		`{"to": [{"address": "ann@example.com"}], "max_retries": 1.5}`,
		`{"to": [{"address": "ann@example.com"}], "max_retries": 1e400}`,
		`{"to": [{"address": "ann@example.com"}], "max_retries": -9223372036854775809}`,
		`{"to": [{"address": "ann@example.com"}], "send_after": 5}`,
		`{"to": [{"address": "ann@example.com"}], "send_after": "10000-01-01T00:00:00Z"}`,
		`{"to": [{"address": "ann@example.com"}], "send_after": "-0001-01-01T00:00:00Z"}`,
		`{"to": [{"address": "ann@example.com"}], "from_address": null, "reply_to": null, "max_retries": null, "send_after": null}`,
		`{"to": [{"address": "ann@example.com"}], "To": [{"address": "b@example.com"}]}`,
		`{"to": [{"address": "ann@example.com"}]} {}`,
		`{"to": [{"address": "ann@example.com"}], "subject": "\ud800"}`,
		`{"to": [{"address": "ann@example.com"}], "references": [null, 1]}`,
		`{"to": [{"address": "ann@example.com"}], "reply_to": []}`,
		`"just a string"`,
		`null`,
		`[]`,
		`{"to": [{"address": "` + strings.Repeat("a", 300) + `@example.com"}]}`,
		`{"to": [{"address": "ann@example.com", "name": "` + strings.Repeat("é", 150) + `"}]}`,
		`{"to": [{"address": "ann@example.com"}], "body": "` + strings.Repeat("x", 2<<20) + `"}`,
	}
	for i, b := range bodies {
		r := admin.Raw(http.MethodPost, emailQueue, strings.NewReader(b), http.Header{"Content-Type": {"application/json"}})
		assert.Less(t, r.Status, 500, "body %d (%.80s): %s", i, b, r.Body)
		assert.True(t, validJSON(r.Body), "body %d: %q", i, r.Body)
	}
}

// Limits and offsets at and past the edges are 200 or 400, never 5xx.
func TestHostileListEdges(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := queueOnlyApp(t, driver)
			admin := app.As(fmtest.Admin())
			admin.Post(emailQueue, map[string]any{"to": hostileTo}).RequireStatus(t, http.StatusCreated)
			ok := []string{"?limit=1000", "?limit=1", "?offset=1000000", "?limit=%2B5", "?status=", "?offset=0&limit=1000"}
			bad := []string{"?limit=1001", "?limit=-1", "?limit=-0", "?offset=1000001", "?limit=9223372036854775808",
				"?offset=-9223372036854775808", "?limit=1&limit=2", "?status=queued", "?limit=0x10", "?limit=1.0", "?limit=%20"}
			for _, q := range ok {
				r := admin.Get(emailQueue + q)
				assert.Equal(t, http.StatusOK, r.Status, "%s: %s", q, r.Body)
			}
			for _, q := range bad {
				r := admin.Get(emailQueue + q)
				assert.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", q, r.Body)
			}
		})
	}
}

// Role names are matched exactly: a role spelt like System Manager in
// another case, or with spaces, grants nothing; nor do lookalike admin roles.
func TestHostileRoleLookalikes(t *testing.T) {
	app := queueOnlyApp(t, fmtest.SQLite)
	for _, role := range []string{"system manager", "SYSTEM MANAGER", "System Manager ", " System Manager", "System  Manager", "System Manager\u200b", "Administrator ", "administrator", "Employee"} {
		u := app.As(fmtest.User("u-"+role, role))
		assert.Equal(t, http.StatusForbidden, u.Post(emailQueue, map[string]any{"to": hostileTo}).Status, "%q", role)
		assert.Equal(t, http.StatusForbidden, u.Get(emailQueue).Status, "%q", role)
		assert.Equal(t, http.StatusForbidden, u.Get(emailQueue+"/x").Status, "%q", role)
		assert.Equal(t, http.StatusForbidden, u.Post(emailQueue+"/x/retry", nil).Status, "%q", role)
		assert.Equal(t, http.StatusForbidden, u.Post(emailQueue+"/x/cancel", nil).Status, "%q", role)
	}
	// The exact role and the admin role are let in.
	assert.Equal(t, http.StatusOK, app.As(fmtest.User("m", "System Manager")).Get(emailQueue).Status)
	assert.Equal(t, http.StatusOK, app.As(fmtest.Admin()).Get(emailQueue).Status)
	// The Email Queue DocType's resource API refuses plain users too.
	assert.GreaterOrEqual(t, app.As(fmtest.User("p", "system manager")).Get("/api/v1/resource/Email Queue").Status, 400)
}

// Regression test (database backend, a review found it): filtering the list by reference_doctype alone
// (or reference_id alone) matches only emails whose other reference field
// is empty, i.e. nothing useful, while the memory backend filters by each
// field given. The admin API documents the two as independent parameters.
func TestHostileReferenceFilterAlone(t *testing.T) {
	for _, backend := range []string{"database", "memory"} {
		t.Run(backend, func(t *testing.T) {
			cfg := fmtest.Config(t, fmtest.SQLite)
			cfg.Email.Queue.Workers = 0
			cfg.Email.Queue.Backend = backend
			app := fmtest.NewWithConfig(t, cfg)
			admin := app.As(fmtest.Admin())
			admin.Post(emailQueue, map[string]any{"to": hostileTo, "reference_doctype": "Invoice", "reference_id": "INV-1"}).RequireStatus(t, http.StatusCreated)
			admin.Post(emailQueue, map[string]any{"to": hostileTo, "reference_doctype": "Invoice", "reference_id": "INV-2"}).RequireStatus(t, http.StatusCreated)
			_, total := admin.Get(emailQueue+"?reference_doctype=Invoice").RequireStatus(t, http.StatusOK).List(t)
			if total != 2 {
				t.Errorf("BUG: ?reference_doctype=Invoice selects %d emails on %s, want 2", total, backend)
			}
			_, total = admin.Get(emailQueue+"?reference_doctype=Invoice&reference_id=INV-1").RequireStatus(t, http.StatusOK).List(t)
			assert.Equal(t, 1, total)
		})
	}
}

// TestHostileSlowServerOutlivesLease: a server slower than the send
// timeout (half the lease) never holds an email past its lease: each
// attempt is cut at the send timeout (go-mail's Send takes no context; the
// sender closes the connection when its context ends) and counts as a
// temporary failure, tried again with backoff, then Failed. The server may
// have kept each copy it got; all carry the email's one Message-ID.
// (Before the fix the email stayed Sending, was claimed again at every
// lease and reached the server 7 times in 40 s without ever failing.)
func TestHostileSlowServerOutlivesLease(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~10s")
	}
	srv := smtptest.Start(t)
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Email.Sender = "smtp"
	sec := srv.Section()
	sec["timeout_ms"] = 15000
	cfg.SetSection("email.smtp", sec)
	cfg.Email.Queue.PollIntervalMS = 20
	cfg.Email.Queue.Workers = 2
	cfg.Email.Queue.LeaseSeconds = 5
	cfg.Email.Queue.RetryBaseMS, cfg.Email.Queue.RetryMaxMS = 100, 200
	app := fmtest.NewWithConfig(t, cfg)
	admin := app.As(fmtest.Admin())
	srv.Delay(7 * time.Second)
	e := admin.Post(emailQueue, map[string]any{"to": hostileTo, "subject": "slow", "text_body": "x", "max_retries": 1}).
		RequireStatus(t, http.StatusCreated).Data(t)
	id := e["id"].(string)
	began := time.Now()
	failed := waitStatus(t, admin, id, "Failed")
	assert.Less(t, time.Since(began), 5*time.Second+2*time.Second, "two attempts of 2.5 s each, not a lease's wait")
	assert.EqualValues(t, 1, failed["retry_count"])
	assert.Contains(t, failed["error"], "timeout", "the attempt was cut at the send timeout")
	time.Sleep(8 * time.Second) // the server finishes what it got
	for _, m := range srv.Received() {
		assert.Contains(t, m.Data, "Message-ID: <"+e["message_id"].(string)+">", "every copy carries the one Message-ID")
	}
	assert.LessOrEqual(t, srv.Attempts(), 2, "one copy per attempt, none from a lease expiring")
}

// Header injection through every field that reaches a header is refused
// (the service's validation; go-mail encodes what is left).
func TestHostileHeaderInjection(t *testing.T) {
	app, srv := emailApp(t, fmtest.SQLite)
	admin := app.As(fmtest.Admin())
	inj := "x\r\nBcc: evil@example.com"
	cases := []map[string]any{
		{"to": hostileTo, "subject": inj},
		{"to": []map[string]string{{"address": "ann@example.com", "name": inj}}},
		{"to": hostileTo, "from_address": map[string]string{"address": "a@example.com", "name": inj}},
		{"to": hostileTo, "reply_to": map[string]string{"address": "a@example.com\r\nBcc: evil@example.com"}},
		{"to": hostileTo, "in_reply_to": "<a@b>\r\nBcc: evil@example.com"},
		{"to": hostileTo, "references": []string{"<a@b>\r\nBcc: evil@example.com"}},
		{"to": hostileTo, "references": []string{"<a@b> <c@d>"}},
		{"to": hostileTo, "in_reply_to": "<a@b\nX: y>"},
		{"to": []map[string]string{{"address": "ann@example.com\nBcc:evil@example.com"}}},
		{"to": []map[string]string{{"address": "ann@example.com, evil@example.com"}}},
		{"to": []map[string]string{{"address": "Ann <ann@example.com>"}}},
		{"to": hostileTo, "from_address": map[string]string{"address": "a@exa\rmple.com"}},
	}
	for i, b := range cases {
		r := admin.Post(emailQueue, b)
		assert.Equal(t, http.StatusBadRequest, r.Status, "case %d: %s", i, r.Body)
	}
	// Unicode that is one line passes and is encoded.
	r := admin.Post(emailQueue, map[string]any{"to": []map[string]string{{"address": "ann@example.com", "name": "Zoë \"Q\" \\ Ünïcode"}},
		"subject": "Über \u2028 line sep \u0085 nel", "text_body": "x"}).RequireStatus(t, http.StatusCreated).Data(t)
	waitStatus(t, admin, r["id"].(string), "Sent", "Failed")
	for _, m := range srv.Received() {
		for _, line := range strings.Split(m.Data, "\r\n") {
			if strings.HasPrefix(strings.ToLower(line), "bcc:") {
				t.Errorf("a Bcc header leaked: %q", line)
			}
		}
		assert.NotContains(t, m.Data, "\u2028", "raw U+2028 in the headers")
	}
}

// A tenant's manager cannot touch another tenant's email through any route.
func TestHostileTenantRoutes(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			cfg := fmtest.Config(t, driver)
			fmtest.MultiTenant(&cfg)
			cfg.Email.Queue.Workers = 0
			app := fmtest.NewWithConfig(t, cfg)
			a := app.As(fmtest.TenantUser("acme", "admin-a", "System Manager"))
			b := app.As(fmtest.TenantUser("globex", "admin-b", "System Manager"))
			id := a.Post(emailQueue, map[string]any{"to": hostileTo, "reference_doctype": "Invoice", "reference_id": "I"}).RequireStatus(t, http.StatusCreated).Data(t)["id"].(string)
			a.Post(emailQueue+"/"+id+"/cancel", nil).RequireStatus(t, http.StatusOK)
			assert.Equal(t, http.StatusNotFound, b.Post(emailQueue+"/"+id+"/retry", nil).Status)
			_, total := b.Get(emailQueue+"?reference_doctype=Invoice&reference_id=I").RequireStatus(t, http.StatusOK).List(t)
			assert.Zero(t, total)
			_, total = b.Get(emailQueue+"?status=Cancelled").RequireStatus(t, http.StatusOK).List(t)
			assert.Zero(t, total)
			// A tenant header naming another tenant does not switch it.
			r := b.Tenant("acme").Get(emailQueue + "/" + id)
			assert.NotEqual(t, http.StatusOK, r.Status, fmt.Sprintf("%s", r.Body))
		})
	}
}
