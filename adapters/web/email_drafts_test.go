package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/smtptest"
	"github.com/framework-m/framework-m/ports"
)

const draftsAPI = "/api/v1/email/drafts"

func draftURL(id string, rest ...string) string {
	return draftsAPI + "/" + url.PathEscape(id) + strings.Join(rest, "")
}

// draftApp is a test app on driver, its configuration edited by edit.
func draftApp(t *testing.T, driver fmtest.Driver, edit func(*config.Config)) *fmtest.App {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	if edit != nil {
		edit(&cfg)
	}
	return fmtest.NewWithConfig(t, cfg)
}

// putDraft saves a draft as c.
func draftPut(c *fmtest.Client, id string, body map[string]any) *fmtest.Response {
	return c.Do(http.MethodPut, draftURL(id), body)
}

// draftSaved is PUT's answer.
type draftSaved struct {
	Data       draftDoc `json:"data"`
	Created    bool     `json:"created"`
	Conflict   bool     `json:"conflict"`
	Resolution string   `json:"resolution"`
	SaveID     string   `json:"save_id"`
}

type draftAddress struct {
	Address string `json:"address"`
	Name    string `json:"name"`
}

type draftDoc struct {
	ID          string         `json:"id"`
	AccountID   string         `json:"account_id"`
	To          []draftAddress `json:"to"`
	Cc          []draftAddress `json:"cc"`
	Bcc         []draftAddress `json:"bcc"`
	Subject     string         `json:"subject"`
	Body        string         `json:"body"`
	BodyHTML    string         `json:"body_html"`
	Attachments []string       `json:"attachments"`
	Tags        []string       `json:"tags"`
	References  []string       `json:"references"`
	Version     int64          `json:"version"`
	DeviceID    string         `json:"device_id"`
	Size        int64          `json:"size"`
	Owner       string         `json:"owner"`
}

type draftSaveRecord struct {
	ID            string   `json:"id"`
	Version       int64    `json:"version"`
	DeviceID      string   `json:"device_id"`
	FieldsChanged []string `json:"fields_changed"`
	BytesAdded    int64    `json:"bytes_added"`
	Conflict      bool     `json:"conflict"`
	Resolution    string   `json:"resolution"`
	Subject       string   `json:"subject"`
}

func draftSavedOf(t *testing.T, r *fmtest.Response) draftSaved {
	t.Helper()
	var s draftSaved
	r.JSON(t, &s)
	return s
}

func draftGet(t *testing.T, c *fmtest.Client, id string) draftDoc {
	t.Helper()
	var d struct {
		Data draftDoc `json:"data"`
	}
	c.Get(draftURL(id)).RequireStatus(t, http.StatusOK).JSON(t, &d)
	return d.Data
}

func draftHistory(t *testing.T, c *fmtest.Client, id string) []draftSaveRecord {
	t.Helper()
	var h struct {
		Data []draftSaveRecord `json:"data"`
	}
	c.Get(draftURL(id, "/history")).RequireStatus(t, http.StatusOK).JSON(t, &h)
	return h.Data
}

func draftRecipients(addrs ...string) []map[string]string {
	out := make([]map[string]string, len(addrs))
	for i, a := range addrs {
		address, name, _ := strings.Cut(a, "|")
		out[i] = map[string]string{"address": address, "name": name}
	}
	return out
}

// TestDraftSaveAndConflicts: a draft is created with PUT, saved with its
// version, and a stale save is a 409 carrying the server's copy unless a
// strategy resolves it; the history records each save.
func TestDraftSaveAndConflicts(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := draftApp(t, driver, nil)
			ann := app.As(fmtest.User("ann"))

			r := draftPut(ann, "d1", map[string]any{"version": 0, "device_id": "laptop", "account_id": "work",
				"to": draftRecipients("bob@example.com|Bob"), "subject": "Hello", "body": "Hi Bob", "body_html": "<p>Hi <b>Bob</b></p>", "tags": []string{"q1"}}).
				RequireStatus(t, http.StatusCreated)
			s := draftSavedOf(t, r)
			assert.True(t, s.Created)
			assert.Equal(t, int64(1), s.Data.Version)
			assert.Equal(t, draftURL("d1"), r.Header.Get("Location"))
			assert.NotEmpty(t, s.SaveID)
			assert.Positive(t, s.Data.Size)

			d := draftGet(t, ann, "d1")
			assert.Equal(t, "Hello", d.Subject)
			assert.Equal(t, "<p>Hi <b>Bob</b></p>", d.BodyHTML)
			assert.Equal(t, []draftAddress{{"bob@example.com", "Bob"}}, d.To)
			assert.Equal(t, "laptop", d.DeviceID)
			assert.Empty(t, d.Owner, "the owner is the caller; not shown")

			// The laptop saves v1 → v2; the phone still has v1.
			s = draftSavedOf(t, draftPut(ann, "d1", map[string]any{"version": 1, "device_id": "laptop",
				"to": draftRecipients("bob@example.com|Bob"), "subject": "Hello from the laptop", "body": "Hi Bob"}).RequireStatus(t, http.StatusOK))
			assert.Equal(t, int64(2), s.Data.Version)
			assert.False(t, s.Conflict)

			r = draftPut(ann, "d1", map[string]any{"version": 1, "device_id": "phone", "to": draftRecipients("carl@example.com"), "subject": "From the phone"}).
				RequireStatus(t, http.StatusConflict)
			var conflict struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
				RequestID string   `json:"request_id"`
				Server    draftDoc `json:"server"`
			}
			r.JSON(t, &conflict)
			assert.Equal(t, "conflict", conflict.Error.Code)
			assert.Contains(t, conflict.Error.Message, "version 1 is stale")
			assert.NotEmpty(t, conflict.RequestID)
			assert.Equal(t, "Hello from the laptop", conflict.Server.Subject, "the server's copy")
			assert.Equal(t, int64(2), conflict.Server.Version)
			assert.Equal(t, "Hello from the laptop", draftGet(t, ann, "d1").Subject, "nothing saved")

			// remote-wins: the server's copy stays, and the answer says so.
			s = draftSavedOf(t, draftPut(ann, "d1", map[string]any{"version": 1, "device_id": "phone", "subject": "phone", "strategy": "remote-wins"}).
				RequireStatus(t, http.StatusOK))
			assert.Equal(t, "remote-wins", s.Resolution)
			assert.True(t, s.Conflict)
			assert.Equal(t, "Hello from the laptop", s.Data.Subject)
			assert.Equal(t, int64(3), s.Data.Version, "a save like any other: the version moves on")

			// merge: recipients united, the newer subject (the request's: no timestamp).
			s = draftSavedOf(t, draftPut(ann, "d1", map[string]any{"version": 1, "device_id": "phone",
				"to": draftRecipients("BOB@example.com", "carl@example.com|Carl"), "subject": "Merged subject", "tags": []string{"q2"}, "strategy": "merge"}).
				RequireStatus(t, http.StatusOK))
			assert.Equal(t, "merge", s.Resolution)
			assert.Equal(t, []draftAddress{{"bob@example.com", "Bob"}, {"carl@example.com", "Carl"}}, s.Data.To)
			assert.Equal(t, "Merged subject", s.Data.Subject)
			assert.Equal(t, int64(4), s.Data.Version)

			// merge with an older client timestamp: the server's subject stays.
			old := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
			s = draftSavedOf(t, draftPut(ann, "d1", map[string]any{"version": 1, "device_id": "tablet", "saved_at": old,
				"to": draftRecipients("dan@example.com"), "subject": "Old tablet subject", "strategy": "merge"}).RequireStatus(t, http.StatusOK))
			assert.Equal(t, "Merged subject", s.Data.Subject)
			assert.Len(t, s.Data.To, 3)
			assert.Equal(t, int64(5), s.Data.Version)

			// local-wins: the request replaces the server's content.
			s = draftSavedOf(t, draftPut(ann, "d1", map[string]any{"version": 2, "device_id": "phone",
				"to": draftRecipients("eve@example.com"), "subject": "Phone wins", "strategy": "local-wins"}).RequireStatus(t, http.StatusOK))
			assert.Equal(t, "local-wins", s.Resolution)
			assert.Equal(t, []draftAddress{{"eve@example.com", ""}}, s.Data.To)
			assert.Equal(t, "Phone wins", s.Data.Subject)
			assert.Empty(t, s.Data.Tags)
			assert.Equal(t, int64(6), s.Data.Version)

			// A client may send back what it read.
			d = draftGet(t, ann, "d1")
			back := map[string]any{}
			require.NoError(t, json.Unmarshal(ann.Get(draftURL("d1")).Body, &struct {
				Data *map[string]any `json:"data"`
			}{&back}))
			back["subject"] = "Round trip"
			s = draftSavedOf(t, draftPut(ann, "d1", back).RequireStatus(t, http.StatusOK))
			assert.Equal(t, d.Version+1, s.Data.Version)

			h := draftHistory(t, ann, "d1")
			require.Len(t, h, 7)
			assert.Equal(t, []string{"subject"}, h[0].FieldsChanged)
			assert.Equal(t, "local-wins", h[1].Resolution)
			assert.True(t, h[1].Conflict)
			assert.Equal(t, "phone", h[1].DeviceID)
			assert.Equal(t, []string{"to", "subject", "tags"}, h[1].FieldsChanged)
			assert.Equal(t, "merge", h[2].Resolution)
			assert.Equal(t, []string{"to"}, h[2].FieldsChanged)
			assert.Equal(t, "merge", h[3].Resolution)
			assert.Equal(t, "remote-wins", h[4].Resolution)
			assert.Empty(t, h[4].FieldsChanged)
			assert.False(t, h[5].Conflict)
			assert.Equal(t, []string{"account_id", "subject", "body_html", "tags"}, h[5].FieldsChanged)
			assert.Contains(t, h[6].FieldsChanged, "to", "the first save")
			assert.Equal(t, int64(1), h[6].Version)

			// Bad saves: 400 naming the field, nothing saved.
			for _, tc := range []struct {
				body  map[string]any
				field string
			}{
				{map[string]any{"version": 7, "to": draftRecipients("ok@example.com", "not an address")}, "to[1]"},
				{map[string]any{"version": 7, "cc": draftRecipients("nobody@")}, "cc[0]"},
				{map[string]any{"version": 7, "subject": 3}, "subject"},
				{map[string]any{"version": 7, "surprise": true}, "surprise"},
				{map[string]any{"version": 7, "strategy": "mine"}, "strategy"},
				{map[string]any{"version": 7, "device_id": strings.Repeat("d", 201)}, "device_id"},
				{map[string]any{"version": 7, "tags": []string{strings.Repeat("t", 101)}}, "tags[0]"},
				{map[string]any{"version": 7, "attachments": []string{"no-such-file"}}, "attachments"},
				{map[string]any{"version": 7, "id": "other"}, "id"},
				{map[string]any{"version": 7, "scheduled_send_time": "tomorrow"}, "scheduled_send_time"},
				{map[string]any{"version": 7, "scheduled_send_time": "0001-01-01T00:00:00Z"}, "scheduled_send_time"},
			} {
				r := draftPut(ann, "d1", tc.body)
				require.Equal(t, http.StatusBadRequest, r.Status, "%v: %s", tc.body, r.Body)
				assert.Contains(t, r.Err(t).Error.Fields, tc.field, "%v: %s", tc.body, r.Body)
			}
			draftPut(ann, "a/b", map[string]any{}).RequireStatus(t, http.StatusBadRequest)
			draftPut(ann, strings.Repeat("x", 141), map[string]any{}).RequireStatus(t, http.StatusBadRequest)
			// Ids that are not text: refused or not found, never a server error.
			ann.Do(http.MethodPut, draftsAPI+"/%ff", map[string]any{}).RequireStatus(t, http.StatusBadRequest)
			ann.Get(draftsAPI+"/%ff").RequireStatus(t, http.StatusNotFound)
			ann.Get(draftsAPI+"/%00").RequireStatus(t, http.StatusNotFound)
			ann.Get(draftURL("d1", "/history/%ff")).RequireStatus(t, http.StatusNotFound)
			ann.Post(draftURL("d1", "/recover"), map[string]any{"save_id": "\xff"}).RequireStatus(t, http.StatusNotFound)
			ann.Raw(http.MethodPut, draftURL("d1"), strings.NewReader(`{"version":7}`), http.Header{"Content-Type": {"text/plain"}}).
				RequireStatus(t, http.StatusUnsupportedMediaType)
			ann.Raw(http.MethodPut, draftURL("d1"), strings.NewReader(`{"version":6,"version":7}`), http.Header{"Content-Type": {"application/json"}}).
				RequireStatus(t, http.StatusBadRequest)
			draftPut(ann, "gone", map[string]any{"version": 4}).RequireStatus(t, http.StatusNotFound)
			assert.Equal(t, "Round trip", draftGet(t, ann, "d1").Subject)
			app.Anonymous().Get(draftURL("d1")).RequireStatus(t, http.StatusUnauthorized)
		})
	}
}

// TestDraftRecover: a save is recovered as a new save; one older than
// max_recovery_age is refused.
func TestDraftRecover(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := draftApp(t, driver, func(c *config.Config) { c.Email.Drafts.MaxRecoveryAge = "1s" })
			ann := app.As(fmtest.User("ann"))
			v := int64(0)
			for _, subject := range []string{"first", "second", "third"} {
				want := http.StatusOK
				if v == 0 {
					want = http.StatusCreated
				}
				v = draftSavedOf(t, draftPut(ann, "d", map[string]any{"version": v, "subject": subject}).RequireStatus(t, want)).Data.Version
			}
			h := draftHistory(t, ann, "d")
			require.Len(t, h, 3)
			assert.Equal(t, "first", h[2].Subject)

			var rec struct {
				Data          draftDoc `json:"data"`
				SaveID        string   `json:"save_id"`
				RecoveredFrom string   `json:"recovered_from"`
			}
			ann.Post(draftURL("d", "/recover"), map[string]any{"save_id": h[2].ID}).RequireStatus(t, http.StatusOK).JSON(t, &rec)
			assert.Equal(t, "first", rec.Data.Subject)
			assert.Equal(t, v+1, rec.Data.Version)
			assert.Equal(t, h[2].ID, rec.RecoveredFrom)
			assert.Equal(t, "first", draftGet(t, ann, "d").Subject)
			h = draftHistory(t, ann, "d")
			assert.Equal(t, "recover", h[0].Resolution)

			var one struct {
				Data struct {
					Snapshot draftDoc `json:"snapshot"`
				} `json:"data"`
			}
			ann.Get(draftURL("d", "/history/", h[1].ID)).RequireStatus(t, http.StatusOK).JSON(t, &one)
			assert.Equal(t, "third", one.Data.Snapshot.Subject)

			ann.Post(draftURL("d", "/recover"), map[string]any{"save_id": "nope"}).RequireStatus(t, http.StatusNotFound)
			ann.Post(draftURL("d", "/recover"), map[string]any{}).RequireStatus(t, http.StatusBadRequest)
			ann.Post(draftURL("d", "/recover"), map[string]any{"save_id": h[1].ID, "extra": 1}).RequireStatus(t, http.StatusBadRequest)

			time.Sleep(1100 * time.Millisecond)
			e := ann.Post(draftURL("d", "/recover"), map[string]any{"save_id": h[1].ID}).RequireStatus(t, http.StatusBadRequest).Err(t)
			assert.Contains(t, e.Error.Fields["save_id"], "older than 1s")
			assert.Equal(t, "first", draftGet(t, ann, "d").Subject)
		})
	}
}

// TestDraftSizeLimit: a draft past max_draft_size is a 413 and nothing is
// saved, though the body is within the request limit drafts allow.
func TestDraftSizeLimit(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := draftApp(t, driver, func(c *config.Config) { c.Email.Drafts.MaxDraftSize = "1MB" })
			ann := app.As(fmtest.User("ann"))
			big := strings.Repeat("x", 1100*1024)
			e := draftPut(ann, "big", map[string]any{"subject": "big", "body": big}).RequireStatus(t, http.StatusRequestEntityTooLarge).Err(t)
			assert.Equal(t, "payload_too_large", e.Error.Code)
			assert.Contains(t, e.Error.Message, "max_draft_size")
			ann.Get(draftURL("big")).RequireStatus(t, http.StatusNotFound)

			// Just under the limit (and over [app] max_body_bytes' 1 MB of JSON once quoted): saved.
			half := strings.Repeat("<", 500*1024)
			draftPut(ann, "ok", map[string]any{"body": half, "body_html": half}).RequireStatus(t, http.StatusCreated)
			assert.Len(t, draftGet(t, ann, "ok").BodyHTML, 500*1024)
		})
	}
}

// TestDraftIsolation: another user's draft, or another tenant's, is not
// found on every route, admins included.
func TestDraftIsolation(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			cfg := fmtest.Config(t, driver)
			fmtest.MultiTenant(&cfg)
			cfg.Email.Queue.Workers = 0
			app := fmtest.NewWithConfig(t, cfg)
			ann := app.As(fmtest.TenantUser("acme", "ann"))
			s := draftSavedOf(t, draftPut(ann, "d", map[string]any{"to": draftRecipients("x@example.com"), "subject": "private"}).RequireStatus(t, http.StatusCreated))
			h := draftHistory(t, ann, "d")
			require.Len(t, h, 1)
			for name, other := range map[string]*fmtest.Client{
				"another user":   app.As(fmtest.TenantUser("acme", "bob")),
				"an admin":       app.As(fmtest.TenantUser("acme", "root", ports.RoleAdmin)),
				"another tenant": app.As(fmtest.TenantUser("globex", "ann")),
			} {
				for _, r := range []*fmtest.Response{
					other.Get(draftURL("d")),
					draftPut(other, "d", map[string]any{"version": 1, "subject": "mine"}),
					other.Get(draftURL("d", "/history")),
					other.Get(draftURL("d", "/history/", h[0].ID)),
					other.Post(draftURL("d", "/recover"), map[string]any{"save_id": h[0].ID}),
					other.Post(draftURL("d", "/send"), nil),
					other.Delete(draftURL("d")),
				} {
					assert.Equal(t, http.StatusNotFound, r.Status, "%s: %s", name, r.Body)
					assert.NotContains(t, string(r.Body), "private")
				}
				list, total := other.Get(draftsAPI).RequireStatus(t, http.StatusOK).List(t)
				assert.Zero(t, total, name)
				assert.Empty(t, list)
			}
			// Another user cannot take the id either, even as a new draft.
			draftPut(app.As(fmtest.TenantUser("acme", "bob")), "d", map[string]any{"subject": "mine"}).RequireStatus(t, http.StatusNotFound)
			// Another tenant has ids of its own.
			draftPut(app.As(fmtest.TenantUser("globex", "ann")), "d", map[string]any{"subject": "globex"}).RequireStatus(t, http.StatusCreated)
			d := draftGet(t, ann, "d")
			assert.Equal(t, "private", d.Subject)
			assert.Equal(t, s.Data.Version, d.Version)
		})
	}
}

// TestDraftList: the caller's drafts, newest save first, by account and
// tag, in pages.
func TestDraftList(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := draftApp(t, driver, nil)
			ann := app.As(fmtest.User("ann"))
			for i, d := range []struct {
				account string
				tags    []string
			}{{"work", []string{"urgent", "50%_off"}}, {"work", []string{"later"}}, {"home", []string{"urgent"}}, {"home", []string{"50x_off"}}, {"work", nil}} {
				draftPut(ann, "d"+strconv.Itoa(i), map[string]any{"account_id": d.account, "tags": d.tags, "subject": "s" + strconv.Itoa(i),
					"body": strings.Repeat("long text ", 100)}).RequireStatus(t, http.StatusCreated)
				time.Sleep(2 * time.Millisecond) // distinct last_saved_at
			}
			draftPut(app.As(fmtest.User("bob")), "bobs", map[string]any{"account_id": "work", "tags": []string{"urgent"}}).RequireStatus(t, http.StatusCreated)
			ids := func(q string) ([]string, int) {
				t.Helper()
				list, total := ann.Get(draftsAPI+q).RequireStatus(t, http.StatusOK).List(t)
				out := []string{}
				for _, d := range list {
					out = append(out, d["id"].(string))
					assert.NotContains(t, d, "body", "lists leave the bodies out")
					assert.Contains(t, d["snippet"], "long text")
				}
				return out, total
			}
			got, total := ids("")
			assert.Equal(t, []string{"d4", "d3", "d2", "d1", "d0"}, got)
			assert.Equal(t, 5, total)
			got, total = ids("?account_id=work")
			assert.Equal(t, []string{"d4", "d1", "d0"}, got)
			assert.Equal(t, 3, total)
			got, _ = ids("?tag=urgent")
			assert.Equal(t, []string{"d2", "d0"}, got)
			got, _ = ids("?tag=" + url.QueryEscape("50%_off"))
			assert.Equal(t, []string{"d0"}, got, "a tag matches exactly, wildcards and all")
			got, _ = ids("?tag=urgent&account_id=home")
			assert.Equal(t, []string{"d2"}, got)
			got, total = ids("?limit=2&offset=1")
			assert.Equal(t, []string{"d3", "d2"}, got)
			assert.Equal(t, 5, total)
			got, _ = ids("?limit=2&offset=4")
			assert.Equal(t, []string{"d0"}, got)
			for _, q := range []string{"?limit=0", "?limit=101", "?limit=x", "?offset=-1", "?color=red", "?tag=a&tag=b", "?account_id=%00", "?account_id=%ff", "?tag=%ff"} {
				assert.Equal(t, http.StatusBadRequest, ann.Get(draftsAPI+q).Status, q)
			}
		})
	}
}

// gzipped compresses s.
func draftGzip(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := io.WriteString(w, s)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

func draftImport(c *fmtest.Client, strategy string, body []byte) *fmtest.Response {
	q := ""
	if strategy != "" {
		q = "?strategy=" + strategy
	}
	return c.Raw(http.MethodPost, draftsAPI+"/import"+q, bytes.NewReader(body), http.Header{"Content-Type": {"application/gzip"}})
}

type draftImportCounts struct {
	Imported  int `json:"imported"`
	Skipped   int `json:"skipped"`
	Conflicts int `json:"conflicts"`
	Merged    int `json:"merged"`
}

func draftImported(t *testing.T, r *fmtest.Response) draftImportCounts {
	t.Helper()
	var body struct {
		Data draftImportCounts `json:"data"`
	}
	r.RequireStatus(t, http.StatusOK).JSON(t, &body)
	return body.Data
}

// TestDraftExportImport: an export imported by another user gives them
// the same drafts as their own; the exporter's stay as they were; a bad
// bundle imports nothing; conflicts are counted and resolved by strategy.
func TestDraftExportImport(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := draftApp(t, driver, nil)
			ann, bob := app.As(fmtest.User("ann")), app.As(fmtest.User("bob"))
			for i := range 3 {
				draftPut(ann, "d"+strconv.Itoa(i), map[string]any{"account_id": "work", "subject": "Subject " + strconv.Itoa(i),
					"to": draftRecipients("x@example.com|X"), "cc": draftRecipients("y@example.com"), "body": strings.Repeat("plain text ", 300),
					"body_html": "<p>" + strings.Repeat("html ", 300) + "</p>", "tags": []string{"t" + strconv.Itoa(i)}, "references": []string{"<r@example.com>"}}).
					RequireStatus(t, http.StatusCreated)
			}
			r := ann.Get(draftsAPI+"/export").RequireStatus(t, http.StatusOK)
			assert.Equal(t, "application/gzip", r.Header.Get("Content-Type"))
			assert.Contains(t, r.Header.Get("Content-Disposition"), "attachment")
			assert.Equal(t, "3", r.Header.Get("X-Draft-Count"))
			ratio, err := strconv.ParseFloat(r.Header.Get("X-Compression-Ratio"), 64)
			require.NoError(t, err)
			assert.Greater(t, ratio, 5.0)
			bundle := r.Body
			zr, err := gzip.NewReader(bytes.NewReader(bundle))
			require.NoError(t, err)
			var b struct {
				Format    string     `json:"format"`
				Count     int        `json:"count"`
				TotalSize int64      `json:"total_size"`
				Drafts    []draftDoc `json:"drafts"`
			}
			require.NoError(t, json.NewDecoder(zr).Decode(&b))
			assert.Equal(t, "framework-m.email-drafts/1", b.Format)
			assert.Equal(t, 3, b.Count)
			assert.Equal(t, r.Header.Get("X-Draft-Total-Size"), strconv.FormatInt(b.TotalSize, 10))

			// Into bob's account: the same content, bob's own.
			assert.Equal(t, draftImportCounts{Imported: 3}, draftImported(t, draftImport(bob, "", bundle)))
			list, total := bob.Get(draftsAPI).RequireStatus(t, http.StatusOK).List(t)
			require.Equal(t, 3, total)
			for _, item := range list {
				id := item["id"].(string)
				assert.NotContains(t, []string{"d0", "d1", "d2"}, id, "ann's ids are taken: bob's copies have new ones")
				d := draftGet(t, bob, id)
				i := strings.TrimPrefix(d.Subject, "Subject ")
				assert.Equal(t, []string{"t" + i}, d.Tags)
				assert.Equal(t, []draftAddress{{"x@example.com", "X"}}, d.To)
				assert.Equal(t, []draftAddress{{"y@example.com", ""}}, d.Cc)
				assert.Equal(t, strings.Repeat("plain text ", 300), d.Body)
				assert.Equal(t, "<p>"+strings.Repeat("html ", 300)+"</p>", d.BodyHTML)
				assert.Equal(t, []string{"<r@example.com>"}, d.References)
				assert.Equal(t, "work", d.AccountID)
			}
			rows, err := app.Repository.List(ports.WithTenantID(context.Background(), app.Config.Tenancy.DefaultTenantID), "Email Draft", ports.Query{})
			require.NoError(t, err)
			owners := map[string]int{}
			for _, it := range rows.Items {
				b, _ := json.Marshal(it)
				var o struct {
					Owner string `json:"owner"`
				}
				require.NoError(t, json.Unmarshal(b, &o))
				owners[o.Owner]++
			}
			assert.Equal(t, map[string]int{"ann": 3, "bob": 3}, owners, "the importer owns the copies")
			for i := range 3 {
				d := draftGet(t, ann, "d"+strconv.Itoa(i))
				assert.Equal(t, int64(1), d.Version, "ann's drafts untouched")
			}

			// Bad bundles: 400, nothing imported.
			for name, body := range map[string][]byte{
				"not gzip":       []byte(`{"format":"framework-m.email-drafts/1","drafts":[]}`),
				"gzip of junk":   draftGzip(t, "{not json"),
				"wrong format":   draftGzip(t, `{"format":"mbox","drafts":[]}`),
				"a bad address":  draftGzip(t, `{"format":"framework-m.email-drafts/1","drafts":[{"id":"n1","subject":"fine"},{"id":"n2","to":[{"address":"nope"}]}]}`),
				"a bad id":       draftGzip(t, `{"format":"framework-m.email-drafts/1","drafts":[{"id":"a/b"}]}`),
				"duplicate keys": draftGzip(t, `{"format":"framework-m.email-drafts/1","drafts":[{"id":"n1","subject":"a","subject":"b"}]}`),
			} {
				r := draftImport(ann, "", body)
				assert.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", name, r.Body)
			}
			ann.Get(draftURL("n1")).RequireStatus(t, http.StatusNotFound)
			_, total = ann.Get(draftsAPI).RequireStatus(t, http.StatusOK).List(t)
			assert.Equal(t, 3, total)
			e := draftImport(ann, "", draftGzip(t, `{"format":"framework-m.email-drafts/1","drafts":[{"id":"n2","to":[{"address":"nope"}]}]}`)).Err(t)
			assert.Contains(t, e.Error.Fields, "drafts[0].to[0]")
			ann.Raw(http.MethodPost, draftsAPI+"/import", bytes.NewReader(bundle), http.Header{"Content-Type": {"application/json"}}).
				RequireStatus(t, http.StatusUnsupportedMediaType)
			draftImport(ann, "theirs", bundle).RequireStatus(t, http.StatusBadRequest)

			// Ann imports her own export again: three conflicts, each strategy.
			draftPut(ann, "d0", map[string]any{"version": 1, "subject": "Changed", "to": draftRecipients("z@example.com")}).RequireStatus(t, http.StatusOK)
			assert.Equal(t, draftImportCounts{Skipped: 3, Conflicts: 3}, draftImported(t, draftImport(ann, "remote-wins", bundle)))
			assert.Equal(t, "Changed", draftGet(t, ann, "d0").Subject)
			assert.Equal(t, draftImportCounts{Merged: 3, Conflicts: 3}, draftImported(t, draftImport(ann, "merge", bundle)))
			d := draftGet(t, ann, "d0")
			assert.Equal(t, "Changed", d.Subject, "the later save is newer than the bundle's")
			assert.Equal(t, []draftAddress{{"z@example.com", ""}, {"x@example.com", "X"}}, d.To)
			assert.Equal(t, draftImportCounts{Imported: 3, Conflicts: 3}, draftImported(t, draftImport(ann, "local-wins", bundle)))
			d = draftGet(t, ann, "d0")
			assert.Equal(t, "Subject 0", d.Subject)
			assert.Equal(t, []draftAddress{{"x@example.com", "X"}}, d.To)
			_, total = ann.Get(draftsAPI).RequireStatus(t, http.StatusOK).List(t)
			assert.Equal(t, 3, total)
			h := draftHistory(t, ann, "d0")
			assert.Equal(t, "local-wins", h[0].Resolution)
			assert.True(t, h[0].Conflict)

			// An empty export is a valid bundle too.
			carl := app.As(fmtest.User("carl"))
			r = carl.Get(draftsAPI+"/export").RequireStatus(t, http.StatusOK)
			assert.Equal(t, "0", r.Header.Get("X-Draft-Count"))
			assert.Equal(t, draftImportCounts{}, draftImported(t, draftImport(carl, "", r.Body)))
		})
	}
}

// TestDraftImportLimit: a bundle past the import limit is a 413.
func TestDraftImportLimit(t *testing.T) {
	app := draftApp(t, fmtest.SQLite, func(c *config.Config) { c.Email.Drafts.MaxDraftSize = "1MB" })
	ann := app.As(fmtest.User("ann"))
	// 101 MB of decompressed spaces, past 100 × 1 MB, tiny compressed: gzip
	// members one after another decompress as one stream.
	var b bytes.Buffer
	b.Write(draftGzip(t, `{"format":"framework-m.email-drafts/1","drafts":[`))
	spaces := draftGzip(t, strings.Repeat(" ", 1<<20))
	for range 101 {
		b.Write(spaces)
	}
	b.Write(draftGzip(t, `]}`))
	draftImport(ann, "", b.Bytes()).RequireStatus(t, http.StatusRequestEntityTooLarge)
}

// TestDraftSend: a sent draft is queued as an email and is gone; a draft
// without recipients stays.
func TestDraftSend(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := draftApp(t, driver, nil)
			ann := app.As(fmtest.User("ann"))
			draftPut(ann, "d", map[string]any{"to": draftRecipients("bob@example.com|Bob"), "bcc": draftRecipients("boss@example.com"), "subject": "Report",
				"body": "text", "body_html": "<p>html</p>", "references": []string{"<a@example.com>", "<b@example.com>"}}).RequireStatus(t, http.StatusCreated)
			var sent struct {
				Data struct {
					ID        string `json:"id"`
					MessageID string `json:"message_id"`
					Status    string `json:"status"`
				} `json:"data"`
			}
			ann.Post(draftURL("d", "/send"), nil).RequireStatus(t, http.StatusAccepted).JSON(t, &sent)
			assert.NotEmpty(t, sent.Data.MessageID)
			ann.Get(draftURL("d")).RequireStatus(t, http.StatusNotFound)
			ann.Get(draftURL("d", "/history")).RequireStatus(t, http.StatusNotFound)
			ann.Post(draftURL("d", "/send"), nil).RequireStatus(t, http.StatusNotFound)

			e, err := app.Email.Queue().Get(ports.WithTenantID(context.Background(), app.Config.Tenancy.DefaultTenantID), sent.Data.ID)
			require.NoError(t, err)
			assert.Contains(t, []string{ports.EmailQueued, ports.EmailSending, ports.EmailSent}, e.Status)
			assert.Equal(t, "Report", e.Subject)
			assert.Equal(t, "<p>html</p>", e.HTML)
			assert.Equal(t, "text", e.Text)
			assert.Equal(t, "ann", e.Owner)
			assert.Equal(t, "b@example.com", e.InReplyTo)
			assert.Equal(t, []ports.EmailAddress{{Address: "boss@example.com"}}, e.Bcc)

			draftPut(ann, "nobody", map[string]any{"subject": "no recipients"}).RequireStatus(t, http.StatusCreated)
			r := ann.Post(draftURL("nobody", "/send"), nil).RequireStatus(t, http.StatusBadRequest)
			assert.Contains(t, r.Err(t).Error.Fields, "to")
			draftGet(t, ann, "nobody")
		})
	}
}

// TestDraftSendMailpit: a sent draft arrives at the SMTP server
// (FM_TEST_SMTP_ADDR, read back through FM_TEST_MAILPIT_URL).
func TestDraftSendMailpit(t *testing.T) {
	mp := smtptest.MailpitFromEnv(t)
	app := draftApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Email.Sender = "smtp"
		c.SetSection("email.smtp", mp.Section())
	})
	ann := app.As(fmtest.User("ann"))
	subject := "Draft " + strconv.FormatInt(time.Now().UnixNano(), 36)
	draftPut(ann, "d", map[string]any{"to": draftRecipients("bob@example.com|Bob"), "subject": subject, "body": "plain words", "body_html": "<p>html <b>words</b></p>"}).
		RequireStatus(t, http.StatusCreated)
	ann.Post(draftURL("d", "/send"), nil).RequireStatus(t, http.StatusAccepted)

	found := mp.WaitFor(t, `subject:"`+subject+`"`, 1, 20*time.Second)
	require.Len(t, found, 1)
	assert.Equal(t, subject, found[0].Subject)
	var msg struct {
		HTML string `json:"HTML"`
		Text string `json:"Text"`
		To   []struct {
			Address string `json:"Address"`
		} `json:"To"`
	}
	mp.Message(t, found[0].ID, &msg)
	assert.Contains(t, msg.HTML, "<b>words</b>")
	assert.Contains(t, msg.Text, "plain words")
	require.Len(t, msg.To, 1)
	assert.Equal(t, "bob@example.com", msg.To[0].Address)
}

// TestDraftSentOnce: sends of one draft at once queue one email; the
// others find no draft.
func TestDraftSentOnce(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := draftApp(t, driver, func(c *config.Config) { c.Email.Queue.Workers = 0 })
			ann := app.As(fmtest.User("ann"))
			const drafts, sends = 10, 8
			codes := make([]int, drafts*sends)
			for d := range drafts {
				draftPut(ann, fmt.Sprint("d", d), map[string]any{"to": draftRecipients("bob@example.com"), "subject": "once"}).RequireStatus(t, http.StatusCreated)
			}
			var wg sync.WaitGroup
			for i := range codes {
				wg.Go(func() { codes[i] = ann.Post(draftURL(fmt.Sprint("d", i%drafts), "/send"), nil).Status })
			}
			wg.Wait()
			accepted := 0
			for _, c := range codes {
				switch c {
				case http.StatusAccepted:
					accepted++
				case http.StatusNotFound:
				default:
					t.Errorf("a send answered %d", c)
				}
			}
			assert.Equal(t, drafts, accepted, "one send per draft: %v", codes)
			_, total, err := app.Email.Queue().List(ports.WithTenantID(context.Background(), app.Config.Tenancy.DefaultTenantID), ports.EmailQueueFilter{})
			require.NoError(t, err)
			assert.Equal(t, drafts, total, "one email queued per draft")
		})
	}
}
