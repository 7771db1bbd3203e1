package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// activity is one entry as GET /activity answers it.
type activity struct {
	ID         string           `json:"id"`
	Timestamp  time.Time        `json:"timestamp"`
	TenantID   string           `json:"tenant_id"`
	UserID     string           `json:"user_id"`
	Action     string           `json:"action"`
	DocType    string           `json:"doctype"`
	DocumentID string           `json:"document_id"`
	Changes    map[string][]any `json:"changes"`
	Metadata   map[string]any   `json:"metadata"`
}

type activityPage struct {
	Data  []activity `json:"data"`
	Total int64      `json:"total"`
}

// flushAudit waits until everything recorded so far is written.
func flushAudit(t *testing.T, app *fmtest.App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, app.Audit.Flush(ctx))
}

func feed(t *testing.T, c *fmtest.Client, path string) activityPage {
	t.Helper()
	var p activityPage
	c.Get(path).RequireStatus(t, http.StatusOK).JSON(t, &p)
	return p
}

// TestActivityRecordsEachWriteOnce: a create, an update and a delete through
// the API each leave exactly one entry with the field-level diff, who made
// it and the request's metadata; a refused write and a rolled-back one leave
// none.
func TestActivityRecordsEachWriteOnce(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := fmtest.New(t, driver, frameworkm.WithDocType[Note](noteMeta))
			w := app.As(fmtest.User("w", "Writer"))
			admin := app.As(fmtest.Admin())

			name := w.Post("/api/v1/resource/Note", map[string]any{"title": "first"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
			w.Patch("/api/v1/resource/Note/"+name, map[string]any{"title": "second"}).RequireStatus(t, http.StatusOK)
			w.Post("/api/v1/resource/Note", map[string]any{"title": 12}).RequireStatus(t, http.StatusBadRequest)
			w.Patch("/api/v1/resource/Note/"+name, map[string]any{"nope": 1}).RequireStatus(t, http.StatusBadRequest)
			err := app.Repository.InTx(app.SystemContext(context.Background(), ""), func(ctx context.Context) error {
				if err := app.Repository.Create(ctx, "Note", &Note{Title: "rolled back"}); err != nil {
					return err
				}
				return errors.New("roll back")
			})
			require.Error(t, err)
			w.Delete("/api/v1/resource/Note/"+name).RequireStatus(t, http.StatusOK)
			flushAudit(t, app)

			p := feed(t, admin, "/api/v1/activity?doctype=Note")
			require.Len(t, p.Data, 3, "%+v", p.Data)
			assert.EqualValues(t, 3, p.Total)
			del, upd, cre := p.Data[0], p.Data[1], p.Data[2]
			assert.Equal(t, []string{"delete", "update", "create"}, []string{del.Action, upd.Action, cre.Action}, "newest first")
			for _, e := range p.Data {
				assert.Equal(t, "w", e.UserID)
				assert.Equal(t, "Note", e.DocType)
				assert.Equal(t, name, e.DocumentID)
				assert.Equal(t, "default", e.TenantID)
				assert.NotEmpty(t, e.Metadata["request_id"], "request id of %s", e.Action)
				assert.NotEmpty(t, e.Metadata["ip"], "client address of %s", e.Action)
			}
			assert.Equal(t, map[string][]any{"title": {nil, "first"}, "owner": {nil, "w"}}, cre.Changes)
			assert.Equal(t, map[string][]any{"title": {"first", "second"}}, upd.Changes)
			assert.Equal(t, map[string][]any{"title": {"second", nil}, "owner": {"w", nil}}, del.Changes)
		})
	}
}

// TestActivityCannotBeChanged: nobody, admins included, creates, changes or
// deletes entries through any API.
func TestActivityCannotBeChanged(t *testing.T) {
	app := fmtest.New(t, fmtest.SQLite, frameworkm.WithDocType[Note](noteMeta))
	admin := app.As(fmtest.Admin())
	admin.Post("/api/v1/resource/Note", map[string]any{"title": "x"}).RequireStatus(t, http.StatusCreated)
	flushAudit(t, app)
	p := feed(t, admin, "/api/v1/activity")
	require.NotEmpty(t, p.Data)
	id := p.Data[0].ID
	// The rows are readable by admins through the resource API …
	admin.Get("/api/v1/resource/Activity%20Log/"+id).RequireStatus(t, http.StatusOK)
	// … and cannot be written through it, nor through the feed.
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/api/v1/resource/Activity%20Log", map[string]any{"action": "create", "name": "forged"}},
		{http.MethodPatch, "/api/v1/resource/Activity%20Log/" + id, map[string]any{"action": "forged"}},
		{http.MethodDelete, "/api/v1/resource/Activity%20Log/" + id, nil},
		{http.MethodPost, "/api/v1/activity", map[string]any{"action": "create"}},
		{http.MethodDelete, "/api/v1/activity", nil},
		{http.MethodPatch, "/api/v1/activity", map[string]any{}},
	} {
		res := admin.Do(tc.method, tc.path, tc.body)
		assert.Equal(t, http.StatusMethodNotAllowed, res.Status, "%s %s: %s", tc.method, tc.path, res.Body)
	}
	after := feed(t, admin, "/api/v1/activity")
	assert.Equal(t, p.Data, after.Data, "the entries are unchanged")
}

// TestActivityFeedFiltersPagesAndRefusesBadInput covers each filter, paging
// with total, and a 400 naming each bad parameter.
func TestActivityFeedFiltersPagesAndRefusesBadInput(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := fmtest.New(t, driver, frameworkm.WithDocType[Note](noteMeta))
			ann, bob := app.As(fmtest.User("ann", "Writer")), app.As(fmtest.User("bob", "Writer"))
			admin := app.As(fmtest.Admin())
			var names []string
			for i := range 5 {
				c := ann
				if i%2 == 1 {
					c = bob
				}
				names = append(names, c.Post("/api/v1/resource/Note", map[string]any{"title": "n"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string))
			}
			flushAudit(t, app)
			mid := time.Now().UTC()
			time.Sleep(5 * time.Millisecond)
			ann.Patch("/api/v1/resource/Note/"+names[0], map[string]any{"title": "m"}).RequireStatus(t, http.StatusOK)
			flushAudit(t, app)

			assert.EqualValues(t, 6, feed(t, admin, "/api/v1/activity?doctype=Note").Total)
			assert.EqualValues(t, 4, feed(t, admin, "/api/v1/activity?user_id=ann").Total)
			assert.EqualValues(t, 5, feed(t, admin, "/api/v1/activity?action=create").Total)
			one := feed(t, admin, "/api/v1/activity?document_id="+names[0])
			assert.EqualValues(t, 2, one.Total)
			from := url.QueryEscape(mid.Format(time.RFC3339Nano))
			after := feed(t, admin, "/api/v1/activity?from="+from)
			require.Len(t, after.Data, 1)
			assert.Equal(t, "update", after.Data[0].Action)
			assert.EqualValues(t, 5, feed(t, admin, "/api/v1/activity?to="+from).Total)
			assert.EqualValues(t, 1, feed(t, admin, "/api/v1/activity?user_id=ann&action=update&doctype=Note").Total)

			all := feed(t, admin, "/api/v1/activity?doctype=Note")
			page := feed(t, admin, "/api/v1/activity?doctype=Note&limit=2&offset=2")
			assert.EqualValues(t, 6, page.Total)
			require.Len(t, page.Data, 2)
			assert.Equal(t, all.Data[2:4], page.Data)
			for i := 1; i < len(all.Data); i++ {
				assert.False(t, all.Data[i].Timestamp.After(all.Data[i-1].Timestamp), "newest first")
			}

			for _, tc := range []struct{ query, param string }{
				{"from=yesterday", "from"},
				{"to=2026-13-01T00:00:00Z", "to"},
				{"from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"},
				{"limit=0", "limit"},
				{"limit=101", "limit"},
				{"limit=ten", "limit"},
				{"offset=-1", "offset"},
				{"offset=99999999999", "offset"},
				{"user_id=" + url.QueryEscape(string(make([]byte, 200))), "user_id"},
			} {
				res := admin.Get("/api/v1/activity?" + tc.query)
				require.Equal(t, http.StatusBadRequest, res.Status, "%s: %s", tc.query, res.Body)
				assert.Contains(t, res.Err(t).Error.Fields, tc.param, tc.query)
			}
			admin.Get("/api/v1/resource/Note/"+names[0]+"/activity?limit=0").RequireStatus(t, http.StatusBadRequest)
		})
	}
}

// TestActivityFeedShowsWhatTheUserMayRead: a user sees the entries of
// documents they may read now and their own security events; admins see
// everything of their tenant; a document's timeline answers 404 to those
// who may not read it.
func TestActivityFeedShowsWhatTheUserMayRead(t *testing.T) {
	app := fmtest.New(t, fmtest.SQLite, frameworkm.WithDocType[Note](noteMeta))
	w, outsider := app.As(fmtest.User("w", "Writer")), app.As(fmtest.User("o", "Guest"))
	admin := app.As(fmtest.Admin())
	name := w.Post("/api/v1/resource/Note", map[string]any{"title": "t"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
	w.Patch("/api/v1/resource/Note/"+name, map[string]any{"title": "u"}).RequireStatus(t, http.StatusOK)
	app.Audit.Record(app.SystemContext(context.Background(), ""),
		ports.AuditEntry{Action: ports.AuditLogin, UserID: "o"}, ports.AuditEntry{Action: ports.AuditLogin, UserID: "w"})
	flushAudit(t, app)

	mine := feed(t, w, "/api/v1/activity")
	assert.EqualValues(t, 3, mine.Total, "%+v", mine.Data)
	for _, e := range mine.Data {
		assert.True(t, e.DocumentID == name || (e.Action == "login" && e.UserID == "w"), "%+v", e)
	}
	for _, e := range feed(t, app.As(fmtest.User("w2", "Writer")), "/api/v1/activity?doctype=Note").Data {
		assert.NotContains(t, e.Metadata, "ip", "another user's address is theirs and admins' only")
		assert.NotContains(t, e.Metadata, "user_agent")
		assert.NotEmpty(t, e.Metadata["request_id"])
	}
	for _, e := range mine.Data {
		if e.DocType != "" {
			assert.NotEmpty(t, e.Metadata["ip"], "one's own address stays")
		}
	}
	for _, e := range feed(t, admin, "/api/v1/activity?doctype=Note").Data {
		assert.NotEmpty(t, e.Metadata["ip"], "admins see addresses")
	}
	for _, e := range feed(t, app.As(fmtest.User("w2", "Writer")), "/api/v1/resource/Note/"+name+"/activity").Data {
		assert.NotContains(t, e.Metadata, "ip")
	}
	theirs := feed(t, outsider, "/api/v1/activity")
	require.Len(t, theirs.Data, 1, "only their own login: %+v", theirs.Data)
	assert.Equal(t, "o", theirs.Data[0].UserID)
	assert.EqualValues(t, 4, feed(t, admin, "/api/v1/activity").Total)

	assert.EqualValues(t, 2, feed(t, w, "/api/v1/resource/Note/"+name+"/activity").Total)
	outsider.Get("/api/v1/resource/Note/"+name+"/activity").RequireStatus(t, http.StatusNotFound)
	outsider.Get("/api/v1/resource/Note/missing/activity").RequireStatus(t, http.StatusNotFound)
	w.Get("/api/v1/resource/Nope/x/activity").RequireStatus(t, http.StatusNotFound)

	// Once deleted, the document's entries leave the feed of those who
	// could read it; admins still see its whole timeline.
	w.Delete("/api/v1/resource/Note/"+name).RequireStatus(t, http.StatusOK)
	flushAudit(t, app)
	assert.EqualValues(t, 1, feed(t, w, "/api/v1/activity").Total)
	w.Get("/api/v1/resource/Note/"+name+"/activity").RequireStatus(t, http.StatusNotFound)
	assert.EqualValues(t, 3, feed(t, admin, "/api/v1/resource/Note/"+name+"/activity").Total)
}

// TestActivityIsPerTenant: nobody sees another tenant's entries, admins
// included.
func TestActivityIsPerTenant(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			cfg := fmtest.Config(t, driver)
			fmtest.MultiTenant(&cfg)
			app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))
			a := app.As(fmtest.TenantUser("acme", "w", "Writer"))
			name := a.Post("/api/v1/resource/Note", map[string]any{"title": "secret"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
			flushAudit(t, app)
			adminA := app.As(fmtest.TenantUser("acme", "admin", ports.RoleAdmin))
			adminB := app.As(fmtest.TenantUser("globex", "admin", ports.RoleAdmin))
			assert.EqualValues(t, 1, feed(t, adminA, "/api/v1/activity").Total)
			b := feed(t, adminB, "/api/v1/activity")
			assert.Empty(t, b.Data)
			assert.EqualValues(t, 0, b.Total)
			assert.Empty(t, feed(t, adminB, "/api/v1/activity?document_id="+name).Data)
			assert.Empty(t, feed(t, adminB, "/api/v1/resource/Note/"+name+"/activity").Data)
			app.As(fmtest.TenantUser("globex", "w", "Writer")).Get("/api/v1/resource/Note/"+name+"/activity").RequireStatus(t, http.StatusNotFound)
		})
	}
}

// TestSecurityEventsAreAudited: logins (and a failed one), a password
// change, API keys created and revoked, a session revoked, a logout and an
// account erased each leave their entry.
func TestSecurityEventsAreAudited(t *testing.T) {
	app := fmtest.New(t, fmtest.SQLite)
	const pass, next = "correct horse battery", "battery staple horse correct"
	u := app.CreateUser(t, "ann@example.com", pass)
	app.Anonymous().Post("/api/v1/auth/login", map[string]string{"username": "ann@example.com", "password": "wrong password!"}).RequireStatus(t, http.StatusUnauthorized)
	tok := app.Login(t, "ann@example.com", pass)
	c := app.Bearer(tok)
	var key struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	c.Post("/api/v1/auth/api-keys", map[string]any{"name": "ci", "current_password": pass}).RequireStatus(t, http.StatusCreated).JSON(t, &key)
	c.Delete("/api/v1/auth/api-keys/"+key.Data.ID).RequireStatus(t, http.StatusOK)
	browser := app.Browser()
	browser.Post("/api/v1/auth/login", map[string]any{"username": "ann@example.com", "password": pass, "session": true}).RequireStatus(t, http.StatusOK)
	var sessions struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	c.Get("/api/v1/auth/sessions").RequireStatus(t, http.StatusOK).JSON(t, &sessions)
	require.NotEmpty(t, sessions.Data)
	c.Delete("/api/v1/auth/sessions/"+sessions.Data[0].ID).RequireStatus(t, http.StatusOK)
	c.Post("/api/v1/auth/password", map[string]string{"current_password": pass, "new_password": next}).RequireStatus(t, http.StatusOK)
	c = app.Bearer(app.Login(t, "ann@example.com", next))
	c.Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
	c = app.Bearer(app.Login(t, "ann@example.com", next))
	c.Delete("/api/v1/auth/me").RequireStatus(t, http.StatusOK)
	flushAudit(t, app)

	var p activityPage
	app.As(fmtest.Admin()).Get("/api/v1/activity?limit=100").RequireStatus(t, http.StatusOK).JSON(t, &p)
	count := map[string]int{}
	for _, e := range p.Data {
		if e.DocType != "" {
			continue
		}
		count[e.Action]++
		if e.Action == ports.AuditLoginFailed {
			assert.Empty(t, e.UserID)
			assert.Equal(t, "ann@example.com", e.Metadata["login"])
			continue
		}
		assert.Equal(t, u.ID, e.UserID, "%+v", e)
	}
	assert.Equal(t, 1, count[ports.AuditLoginFailed], "%v", count)
	assert.Equal(t, 4, count[ports.AuditLogin], "%v", count)
	assert.Equal(t, 1, count[ports.AuditAPIKeyCreate], "%v", count)
	assert.Equal(t, 1, count[ports.AuditAPIKeyRevoke], "%v", count)
	assert.GreaterOrEqual(t, count[ports.AuditSessionRevoke], 1, "%v", count)
	assert.Equal(t, 1, count[ports.AuditPasswordChange], "%v", count)
	assert.Equal(t, 1, count[ports.AuditLogout], "%v", count)
	assert.Equal(t, 1, count[ports.AuditAccountErase], "%v", count)
	masked := 0
	for _, e := range p.Data {
		if v, ok := e.Changes["password_hash"]; ok {
			masked++
			for _, x := range v {
				assert.Contains(t, []any{nil, ports.AuditMasked}, x, "a password hash is masked: %+v", e)
			}
		}
	}
	assert.Positive(t, masked, "the password change and the erasure changed the user's password hash")
}

// Diary is readable by its owner only (row-level security).
type Diary struct {
	doctype.Base
	Body string `json:"body"`
}

var diaryMeta = doctype.Meta{Name: "Diary", Permissions: []doctype.Rule{{Role: "Writer", Actions: doctype.All, IfOwner: true}}}

// TestActivityFeedFollowsRowLevelSecurity: each user sees the entries of
// their own diaries only, in the feed and in a document's timeline.
func TestActivityFeedFollowsRowLevelSecurity(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := fmtest.New(t, driver, frameworkm.WithDocType[Diary](diaryMeta))
			ann, bob := app.As(fmtest.User("ann", "Writer")), app.As(fmtest.User("bob", "Writer"))
			mine := map[string]bool{}
			var bobs string
			for i := range 6 {
				c, who := ann, "ann"
				if i%3 == 0 {
					c, who = bob, "bob"
				}
				name := c.Post("/api/v1/resource/Diary", map[string]any{"body": "b"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
				if who == "ann" {
					mine[name] = true
				} else {
					bobs = name
				}
			}
			flushAudit(t, app)
			p := feed(t, ann, "/api/v1/activity?doctype=Diary")
			assert.EqualValues(t, len(mine), p.Total)
			for _, e := range p.Data {
				assert.True(t, mine[e.DocumentID], "ann sees an entry of a diary she cannot read: %+v", e)
			}
			assert.EqualValues(t, 2, feed(t, bob, "/api/v1/activity?doctype=Diary").Total)
			ann.Get("/api/v1/resource/Diary/"+bobs+"/activity").RequireStatus(t, http.StatusNotFound)
		})
	}
}

// Record is a DocType whose reads are audited (Meta.AuditReads).
type Record struct {
	doctype.Base
	Patient string `json:"patient"`
}

var recordMeta = doctype.Meta{Name: "Medical Record", AuditReads: true, Permissions: []doctype.Rule{{Role: "Writer", Actions: doctype.All}}}

// TestAuditedReads: reading one document of a DocType whose Meta asks for
// it leaves a read entry; a refused read and a list leave none; other
// DocTypes' reads leave none.
func TestAuditedReads(t *testing.T) {
	app := fmtest.New(t, fmtest.SQLite, frameworkm.WithDocType[Record](recordMeta), frameworkm.WithDocType[Note](noteMeta))
	w := app.As(fmtest.User("w", "Writer"))
	rec := w.Post("/api/v1/resource/Medical%20Record", map[string]any{"patient": "p"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
	note := w.Post("/api/v1/resource/Note", map[string]any{"title": "t"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
	w.Get("/api/v1/resource/Medical%20Record/"+rec).RequireStatus(t, http.StatusOK)
	w.Get("/api/v1/resource/Medical%20Record/"+rec).RequireStatus(t, http.StatusOK)
	w.Get("/api/v1/resource/Medical%20Record").RequireStatus(t, http.StatusOK)
	app.As(fmtest.User("o", "Guest")).Get("/api/v1/resource/Medical%20Record/"+rec).RequireStatus(t, http.StatusNotFound)
	w.Get("/api/v1/resource/Note/"+note).RequireStatus(t, http.StatusOK)
	flushAudit(t, app)
	reads := feed(t, app.As(fmtest.Admin()), "/api/v1/activity?action=read")
	require.Len(t, reads.Data, 2, "%+v", reads.Data)
	for _, e := range reads.Data {
		assert.Equal(t, "Medical Record", e.DocType)
		assert.Equal(t, rec, e.DocumentID)
		assert.Equal(t, "w", e.UserID)
		assert.Empty(t, e.Changes)
	}
}
