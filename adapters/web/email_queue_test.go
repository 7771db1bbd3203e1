package web_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/smtptest"
	"github.com/framework-m/framework-m/ports"
)

const emailQueue = "/api/v1/email-queue"

// emailApp is an app sending to a scripted SMTP server, trying failures
// again after a millisecond.
func emailApp(t *testing.T, driver fmtest.Driver) (*fmtest.App, *smtptest.Server) {
	t.Helper()
	srv := smtptest.Start(t)
	cfg := fmtest.Config(t, driver)
	cfg.Email.Sender = "smtp"
	cfg.SetSection("email.smtp", srv.Section())
	cfg.Email.Queue.PollIntervalMS = 20
	cfg.Email.Queue.RetryBaseMS, cfg.Email.Queue.RetryMaxMS = 1, 5
	return fmtest.NewWithConfig(t, cfg), srv
}

// waitStatus polls the email id until it is one of want.
func waitStatus(t *testing.T, c *fmtest.Client, id string, want ...string) map[string]any {
	t.Helper()
	var last map[string]any
	require.Eventually(t, func() bool {
		last = c.Get(emailQueue+"/"+id).RequireStatus(t, http.StatusOK).Data(t)
		for _, w := range want {
			if last["status"] == w {
				return true
			}
		}
		return false
	}, 15*time.Second, 20*time.Millisecond, "email %s never became %v", id, want)
	return last
}

// TestEmailQueueAPI: managers queue, list, read, cancel and retry emails;
// the workers send them; other users are refused.
func TestEmailQueueAPI(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app, srv := emailApp(t, driver)
			admin := app.As(fmtest.Admin())
			manager := app.As(fmtest.User("mgr", "System Manager"))
			user := app.As(fmtest.User("u1", "Employee"))

			body := map[string]any{
				"to":        []map[string]string{{"address": "ann@example.com", "name": "Ann Smith"}},
				"cc":        []map[string]string{{"address": "cc@example.com"}},
				"bcc":       []map[string]string{{"address": "hidden@example.com"}},
				"subject":   "Invoice INV-1",
				"body":      "<p>Paid</p>",
				"text_body": "Paid",
				"priority":  "high",
			}
			// Plain users may not queue, list or read.
			assert.Equal(t, http.StatusForbidden, user.Post(emailQueue, body).Status)
			assert.Equal(t, http.StatusForbidden, user.Get(emailQueue).Status)
			assert.Equal(t, http.StatusUnauthorized, app.Anonymous().Get(emailQueue).Status)

			created := manager.Post(emailQueue, body).RequireStatus(t, http.StatusCreated).Data(t)
			id := created["id"].(string)
			assert.Equal(t, "Queued", created["status"])
			assert.NotEmpty(t, created["message_id"])
			sent := waitStatus(t, admin, id, "Sent")
			assert.NotEmpty(t, sent["sent_at"])
			got := srv.Received()
			require.Len(t, got, 1)
			assert.ElementsMatch(t, []string{"ann@example.com", "cc@example.com", "hidden@example.com"}, got[0].To)
			assert.Contains(t, got[0].Data, "Message-ID: <"+created["message_id"].(string)+">")
			assert.NotContains(t, got[0].Data, "hidden@example.com", "Bcc stays in the envelope")

			// A permanent rejection fails at once with the server's text; retry
			// queues it again; a sent email cannot be cancelled nor retried.
			srv.Script(smtptest.Reply(550, "mailbox unavailable"))
			failed := admin.Post(emailQueue, body).RequireStatus(t, http.StatusCreated).Data(t)
			f := waitStatus(t, admin, failed["id"].(string), "Failed")
			assert.Contains(t, f["error"], "mailbox unavailable")
			assert.EqualValues(t, 0, f["retry_count"])
			assert.Equal(t, http.StatusConflict, admin.Post(emailQueue+"/"+failed["id"].(string)+"/cancel", nil).Status)
			assert.Equal(t, http.StatusConflict, admin.Post(emailQueue+"/"+id+"/retry", nil).Status)
			assert.Equal(t, http.StatusConflict, admin.Post(emailQueue+"/"+id+"/cancel", nil).Status)
			retried := admin.Post(emailQueue+"/"+failed["id"].(string)+"/retry", nil).RequireStatus(t, http.StatusOK).Data(t)
			assert.Contains(t, []any{"Queued", "Sending", "Sent"}, retried["status"])
			waitStatus(t, admin, failed["id"].(string), "Sent")

			// Scheduled emails wait; cancel works while Queued.
			later := body
			later["send_after"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			sched := admin.Post(emailQueue, later).RequireStatus(t, http.StatusCreated).Data(t)
			time.Sleep(100 * time.Millisecond)
			assert.Equal(t, "Queued", admin.Get(emailQueue + "/" + sched["id"].(string)).Data(t)["status"])
			cancelled := admin.Post(emailQueue+"/"+sched["id"].(string)+"/cancel", nil).RequireStatus(t, http.StatusOK).Data(t)
			assert.Equal(t, "Cancelled", cancelled["status"])

			// Lists filter by status and page.
			items, total := admin.Get(emailQueue+"?status=Sent").RequireStatus(t, http.StatusOK).List(t)
			assert.Equal(t, 2, total)
			assert.Len(t, items, 2)
			items, total = admin.Get(emailQueue+"?limit=1&offset=1").RequireStatus(t, http.StatusOK).List(t)
			assert.Equal(t, 3, total)
			assert.Len(t, items, 1)
			assert.Equal(t, http.StatusNotFound, admin.Get(emailQueue+"/nope").Status)
		})
	}
}

// TestEmailQueueRetries: a server answering 451 twice, then 250: Sent with
// retry_count 2 and the same Message-ID on every attempt.
func TestEmailQueueRetries(t *testing.T) {
	app, srv := emailApp(t, fmtest.SQLite)
	admin := app.As(fmtest.Admin())
	srv.Script(smtptest.Reply(451, "greylisted"), smtptest.Reply(451, "greylisted"))
	e := admin.Post(emailQueue, map[string]any{"to": []map[string]string{{"address": "ann@example.com"}}, "subject": "Retry", "text_body": "x"}).
		RequireStatus(t, http.StatusCreated).Data(t)
	sent := waitStatus(t, admin, e["id"].(string), "Sent")
	assert.EqualValues(t, 2, sent["retry_count"])
	assert.Equal(t, 3, srv.Attempts())
	require.Len(t, srv.Received(), 1)
}

// TestEmailQueueBadInput: every bad field is a 400 naming it, and nothing
// is queued.
func TestEmailQueueBadInput(t *testing.T) {
	app, _ := emailApp(t, fmtest.SQLite)
	admin := app.As(fmtest.Admin())
	to := []map[string]string{{"address": "ann@example.com"}}
	cases := []struct {
		body  any
		field string
	}{
		{map[string]any{"subject": "none"}, "to"},
		{map[string]any{"to": []map[string]string{{"address": "ann"}}}, "to[0]"},
		{map[string]any{"to": to, "cc": []map[string]string{{"address": "x@y.z\r\nBcc: evil@example.com"}}}, "cc[0]"},
		{map[string]any{"to": to, "subject": strings.Repeat("s", 501)}, "subject"},
		{map[string]any{"to": to, "priority": "urgent"}, "priority"},
		{map[string]any{"to": to, "max_retries": 11}, "max_retries"},
		{map[string]any{"to": to, "send_after": "tomorrow"}, "send_after"},
		{map[string]any{"to": to, "attachments": []string{"no-such-file"}}, "attachments[0]"},
		{map[string]any{"to": to, "surprise": true}, "surprise"},
	}
	for _, c := range cases {
		r := admin.Post(emailQueue, c.body)
		require.Equal(t, http.StatusBadRequest, r.Status, "%v", c.body)
		assert.Contains(t, r.Err(t).Error.Fields, c.field, "%v: %s", c.body, r.Body)
	}
	for _, q := range []string{"?status=Lost", "?limit=0", "?limit=x", "?limit=5000", "?offset=-1", "?color=red"} {
		assert.Equal(t, http.StatusBadRequest, admin.Get(emailQueue+q).Status, q)
	}
	_, total := admin.Get(emailQueue).RequireStatus(t, http.StatusOK).List(t)
	assert.Zero(t, total, "nothing bad was queued")
}

// TestEmailQueueTenants: another tenant's emails are not found, and its
// managers list only their own.
func TestEmailQueueTenants(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	fmtest.MultiTenant(&cfg)
	cfg.Email.Queue.Workers = 0 // nothing is sent: the emails stay Queued
	app := fmtest.NewWithConfig(t, cfg)
	a := app.As(fmtest.TenantUser("acme", "admin-a", ports.RoleAdmin))
	b := app.As(fmtest.TenantUser("globex", "admin-b", ports.RoleAdmin))
	e := a.Post(emailQueue, map[string]any{"to": []map[string]string{{"address": "ann@example.com"}}}).RequireStatus(t, http.StatusCreated).Data(t)
	id := e["id"].(string)
	assert.Equal(t, http.StatusNotFound, b.Get(emailQueue+"/"+id).Status)
	assert.Equal(t, http.StatusNotFound, b.Post(emailQueue+"/"+id+"/cancel", nil).Status)
	assert.Equal(t, http.StatusNotFound, b.Post(emailQueue+"/"+id+"/retry", nil).Status)
	_, total := b.Get(emailQueue).RequireStatus(t, http.StatusOK).List(t)
	assert.Zero(t, total)
	_, total = a.Get(emailQueue).RequireStatus(t, http.StatusOK).List(t)
	assert.Equal(t, 1, total)
	stored, err := app.Email.Queue().Get(ports.WithTenantID(context.Background(), "acme"), id)
	require.NoError(t, err)
	assert.Equal(t, "acme", stored.TenantID)
	assert.Equal(t, "admin-a", stored.Owner)
}

// TestEmailQueueAttachments: an email carries files of the tenant its
// queuer may read: the bytes come from storage when it is sent, and arrive
// with their name and type. Another user's private file is refused when
// queued.
func TestEmailQueueAttachments(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app, srv := emailApp(t, driver)
			admin := app.As(fmtest.Admin())
			content := "id,amount\nINV-1,99.90\n"
			up := admin.Upload("/api/v1/file/upload", "invoices.csv", strings.NewReader(content), nil).RequireStatus(t, http.StatusCreated).Data(t)
			other := app.As(fmtest.User("u2", "System Manager"))
			e := admin.Post(emailQueue, map[string]any{"to": []map[string]string{{"address": "ann@example.com"}}, "subject": "With a file",
				"text_body": "attached", "attachments": []string{up["id"].(string)}}).RequireStatus(t, http.StatusCreated).Data(t)
			waitStatus(t, admin, e["id"].(string), "Sent")
			got := srv.Received()
			require.Len(t, got, 1)
			assert.Contains(t, got[0].Data, `filename="invoices.csv"`)
			assert.Contains(t, got[0].Data, "text/csv")
			assert.Contains(t, got[0].Data, base64.StdEncoding.EncodeToString([]byte(content))[:20], "the file's bytes, base64")

			r := other.Post(emailQueue, map[string]any{"to": []map[string]string{{"address": "ann@example.com"}}, "attachments": []string{up["id"].(string)}})
			require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
			assert.Contains(t, r.Err(t).Error.Fields, "attachments[0]")
		})
	}
}
