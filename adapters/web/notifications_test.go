package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/notify"
	"github.com/framework-m/framework-m/fmtest"
)

type notificationPage struct {
	Data   []map[string]any `json:"data"`
	Total  int              `json:"total"`
	Unread int              `json:"unread"`
	Limit  int              `json:"limit"`
	Offset int              `json:"offset"`
}

func listNotifications(t *testing.T, c *fmtest.Client, query string) notificationPage {
	t.Helper()
	var p notificationPage
	c.Get("/api/v1/notifications"+query).RequireStatus(t, http.StatusOK).JSON(t, &p)
	return p
}

func subjects(p notificationPage) []string {
	out := make([]string, len(p.Data))
	for i, d := range p.Data {
		out[i] = d["subject"].(string)
	}
	return out
}

// TestNotificationRoutes: the four routes on the caller's own notifications,
// newest first, with paging and the unread count; another user's are not
// found; bad ids and parameters are 400 in the JSON error shape.
func TestNotificationRoutes(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			app := notifyApp(t, notifyConfig(t, d))
			ann := app.As(fmtest.User("ann"))
			bob := app.As(fmtest.User("bob"))
			var ids []string
			for i := range 3 {
				ids = append(ids, notifyUser(t, app, "", "ann", fmt.Sprintf("n%d", i))["name"].(string))
			}
			bobs := notifyUser(t, app, "", "bob", "for bob")["name"].(string)

			p := listNotifications(t, ann, "")
			assert.Equal(t, []string{"n2", "n1", "n0"}, subjects(p), "newest first, own only")
			assert.Equal(t, 3, p.Total)
			assert.Equal(t, 3, p.Unread)
			assert.Equal(t, 20, p.Limit)
			first := p.Data[0]
			assert.Equal(t, "ann", first["user_id"])
			assert.Equal(t, "mention", first["notification_type"])
			assert.Equal(t, false, first["read"])
			assert.NotEmpty(t, first["timestamp"])
			assert.Equal(t, "admin", first["owner"])

			p = listNotifications(t, ann, "?limit=2")
			assert.Equal(t, []string{"n2", "n1"}, subjects(p))
			assert.Equal(t, 3, p.Total)
			p = listNotifications(t, ann, "?limit=2&offset=2")
			assert.Equal(t, []string{"n0"}, subjects(p))

			// Mark one read.
			res := ann.Patch("/api/v1/notifications/"+ids[1]+"/read", nil).RequireStatus(t, http.StatusOK).Data(t)
			assert.Equal(t, true, res["read"])
			ann.Patch("/api/v1/notifications/"+ids[1]+"/read", nil).RequireStatus(t, http.StatusOK) // again: no change
			p = listNotifications(t, ann, "?read=false")
			assert.Equal(t, []string{"n2", "n0"}, subjects(p))
			assert.Equal(t, 2, p.Total)
			assert.Equal(t, 2, p.Unread)
			p = listNotifications(t, ann, "?read=true")
			assert.Equal(t, []string{"n1"}, subjects(p))
			assert.Equal(t, 1, p.Total)
			assert.Equal(t, 2, p.Unread)

			// Another user's notification is not found, for users and admins alike.
			for _, c := range []*fmtest.Client{bob, app.As(fmtest.Admin())} {
				c.Patch("/api/v1/notifications/"+ids[0]+"/read", nil).RequireStatus(t, http.StatusNotFound)
				c.Delete("/api/v1/notifications/"+ids[0]).RequireStatus(t, http.StatusNotFound)
			}
			ann.Patch("/api/v1/notifications/"+bobs+"/read", nil).RequireStatus(t, http.StatusNotFound)
			ann.Get("/api/v1/resource/Notification/"+bobs).RequireStatus(t, http.StatusNotFound)
			_, total := ann.Get("/api/v1/resource/Notification").List(t)
			assert.Equal(t, 3, total, "row-level security on user_id")
			assert.Equal(t, 1, listNotifications(t, bob, "").Total)
			assert.Equal(t, 0, listNotifications(t, app.As(fmtest.Admin()), "").Total, "the admin's own: none")

			// Bad ids and parameters: 400, the JSON error shape.
			for path, field := range map[string]string{
				"/api/v1/notifications?read=maybe": "read",
				"/api/v1/notifications?limit=0":    "limit",
				"/api/v1/notifications?limit=1001": "limit",
				"/api/v1/notifications?limit=x":    "limit",
				"/api/v1/notifications?offset=-1":  "offset",
			} {
				e := ann.Get(path).RequireStatus(t, http.StatusBadRequest).Err(t)
				assert.Equal(t, "validation_error", e.Error.Code, path)
				assert.Contains(t, e.Error.Fields, field, path)
				assert.NotEmpty(t, e.RequestID)
			}
			for _, id := range []string{"not-a-uuid", "1", strings.Repeat("a", 36)} {
				e := ann.Patch("/api/v1/notifications/"+id+"/read", nil).RequireStatus(t, http.StatusBadRequest).Err(t)
				assert.Contains(t, e.Error.Fields, "id")
				ann.Delete("/api/v1/notifications/"+id).RequireStatus(t, http.StatusBadRequest)
			}
			ann.Patch("/api/v1/notifications/01970000-0000-7000-8000-000000000000/read", nil).RequireStatus(t, http.StatusNotFound)
			app.Anonymous().Get("/api/v1/notifications").RequireStatus(t, http.StatusUnauthorized)

			// Only "read" changes, through the resource API too; users do not create them.
			e := ann.Patch("/api/v1/resource/Notification/"+ids[0], map[string]any{"subject": "forged"}).RequireStatus(t, http.StatusBadRequest).Err(t)
			assert.Equal(t, "validation_error", e.Error.Code)
			ann.Patch("/api/v1/resource/Notification/"+ids[0], map[string]any{"user_id": "bob"}).RequireStatus(t, http.StatusForbidden)
			ann.Patch("/api/v1/resource/Notification/"+ids[1], map[string]any{"read": false}).RequireStatus(t, http.StatusOK)
			ann.Post("/api/v1/resource/Notification", map[string]any{"user_id": "ann", "subject": "self"}).RequireStatus(t, http.StatusForbidden)
			app.As(fmtest.Admin()).Post("/api/v1/resource/Notification", map[string]any{"user_id": "ann", "subject": "x", "notification_type": "spam"}).RequireStatus(t, http.StatusBadRequest)

			// Read all, then delete.
			var marked struct {
				Data struct {
					Marked int `json:"marked"`
				} `json:"data"`
			}
			ann.Post("/api/v1/notifications/read-all", nil).RequireStatus(t, http.StatusOK).JSON(t, &marked)
			assert.Equal(t, 3, marked.Data.Marked)
			p = listNotifications(t, ann, "")
			assert.Equal(t, 0, p.Unread)
			assert.Equal(t, 1, listNotifications(t, bob, "?read=false").Unread, "bob's are untouched")
			ann.Delete("/api/v1/notifications/"+ids[2]).RequireStatus(t, http.StatusOK)
			ann.Delete("/api/v1/notifications/"+ids[2]).RequireStatus(t, http.StatusNotFound)
			assert.Equal(t, 2, listNotifications(t, ann, "").Total)
		})
	}
}

// TestNotificationsOfAnotherTenant: a notification of another tenant's user
// of the same id is neither listed nor found, and never streamed.
func TestNotificationsOfAnotherTenant(t *testing.T) {
	cfg := notifyConfig(t, fmtest.SQLite)
	fmtest.MultiTenant(&cfg)
	app := notifyApp(t, cfg)
	acmeAnn := fmtest.TenantUser("acme", "ann")
	globexAnn := fmtest.TenantUser("globex", "ann")
	acmeBob := fmtest.TenantUser("acme", "bob")
	onAcme := dial(t, app, asHeader(app, acmeAnn), "")
	onGlobex := dial(t, app, asHeader(app, globexAnn), "")
	bobsStream := dial(t, app, asHeader(app, acmeBob), "")

	id := notifyUser(t, app, "acme", "ann", "acme only")["name"].(string)
	assert.Equal(t, "acme only", onAcme.subject(5*time.Second))
	onGlobex.quiet(300 * time.Millisecond)
	bobsStream.quiet(0)

	globex := app.As(globexAnn)
	assert.Equal(t, 0, listNotifications(t, globex, "").Total)
	globex.Patch("/api/v1/notifications/"+id+"/read", nil).RequireStatus(t, http.StatusNotFound)
	globex.Delete("/api/v1/notifications/"+id).RequireStatus(t, http.StatusNotFound)
	assert.Equal(t, 1, listNotifications(t, app.As(acmeAnn), "").Total)
}

// TestNotificationStream: a stream receives its user's new notifications
// (created through the resource API or by Notify), as JSON frames, once each;
// another user's stream receives nothing; ping keeps it alive.
func TestNotificationStream(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			app := notifyApp(t, notifyConfig(t, d))
			ann := dial(t, app, asHeader(app, fmtest.User("ann")), "")
			bob := dial(t, app, asHeader(app, fmtest.User("bob")), "")
			require.Eventually(t, func() bool { return app.Notifications.Count() == 2 }, 5*time.Second, 10*time.Millisecond)

			doc := notifyUser(t, app, "", "ann", "hello")
			m := ann.next(5 * time.Second)
			assert.Equal(t, "notification", m["type"])
			data := m["data"].(map[string]any)
			assert.Equal(t, doc["name"], data["name"])
			assert.Equal(t, "hello", data["subject"])
			assert.Equal(t, "ann", data["user_id"])
			assert.Equal(t, "mention", data["notification_type"])

			// App code's Notify is pushed too.
			_, err := app.Notifications.Notify(app.SystemContext(t.Context(), ""), "ann", notifyNotification("from code"))
			require.NoError(t, err)
			assert.Equal(t, "from code", ann.subject(5*time.Second))

			// An update or a delete is not pushed; nothing reaches bob.
			app.As(fmtest.User("ann")).Patch("/api/v1/notifications/"+doc["name"].(string)+"/read", nil).RequireStatus(t, http.StatusOK)
			ann.quiet(300 * time.Millisecond)
			bob.quiet(0)

			// Ping: the server pings every second; the stream stays open.
			select {
			case <-ann.pings:
			case <-time.After(5 * time.Second):
				t.Fatal("no ping")
			}
			notifyUser(t, app, "", "bob", "bob's")
			assert.Equal(t, "bob's", bob.subject(5*time.Second))
			ann.quiet(200 * time.Millisecond)
		})
	}
}

// TestNotificationStreamSince: a client reconnecting with since= first gets
// what it missed (oldest first), then live ones, each once.
func TestNotificationStreamSince(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) { streamSince(t, d) })
	}
}

func streamSince(t *testing.T, driver fmtest.Driver) {
	app := notifyApp(t, notifyConfig(t, driver))
	h := asHeader(app, fmtest.User("ann"))
	first := notifyUser(t, app, "", "ann", "seen")["name"].(string)
	for i := range 3 {
		notifyUser(t, app, "", "ann", fmt.Sprintf("missed %d", i))
	}
	notifyUser(t, app, "", "bob", "not ann's")
	c := dial(t, app, h, "?since="+first)
	for i := range 3 {
		assert.Equal(t, fmt.Sprintf("missed %d", i), c.subject(5*time.Second))
	}
	notifyUser(t, app, "", "ann", "live")
	assert.Equal(t, "live", c.subject(5*time.Second))
	c.quiet(300 * time.Millisecond)

	// More missed than the replay sends (100): a "missed" frame first, then the newest 100.
	last := notifyUser(t, app, "", "ann", "last seen")["name"].(string)
	for i := range 105 {
		_, err := app.Notifications.Notify(app.SystemContext(t.Context(), ""), "ann", notifyNotification(fmt.Sprintf("burst %03d", i)))
		require.NoError(t, err)
	}
	for range 105 + 1 { // the first stream gets them live
		c.next(5 * time.Second)
	}
	again := dial(t, app, h, "?since="+last)
	m := again.next(5 * time.Second)
	assert.Equal(t, "missed", m["type"])
	assert.EqualValues(t, 100, m["data"].(map[string]any)["sent"])
	assert.Equal(t, "burst 005", again.subject(5*time.Second))
	for i := 6; i < 105; i++ {
		assert.Equal(t, fmt.Sprintf("burst %03d", i), again.subject(5*time.Second))
	}
	again.quiet(200 * time.Millisecond)

	// A bad since is a 400 before any upgrade.
	_, res, _, err := tryDial(app, h, "?since=nope", dialOpt{})
	require.Error(t, err)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
}

// TestNotificationStreamLimits: per-user connection limit (429 before the
// upgrade); a slow client is dropped while a fast one of the same user keeps
// receiving; a plain GET is 426.
func TestNotificationStreamLimits(t *testing.T) {
	cfg := notifyConfig(t, fmtest.SQLite)
	cfg.Notifications.MaxConnectionsPerUser = 2
	cfg.Notifications.SendBuffer = 16
	cfg.Notifications.PingIntervalSeconds = 3600 // the slow client would not answer either
	app := notifyApp(t, cfg)
	h := asHeader(app, fmtest.User("ann"))
	fast := dial(t, app, h, "")
	slow := dial(t, app, h, "", dialOpt{noRead: true, rcvBuf: 4096})
	_, res, _, err := tryDial(app, h, "", dialOpt{})
	require.Error(t, err)
	require.NotNil(t, res)
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
	other := dial(t, app, asHeader(app, fmtest.User("bob")), "") // others are not limited by ann's
	_ = other

	app.As(fmtest.User("ann")).Get("/api/v1/notifications/stream").RequireStatus(t, http.StatusUpgradeRequired)

	// Large notifications fill the slow client's socket; its queue of 16
	// overflows and it is dropped; the fast one gets every one.
	big := strings.Repeat("x", 30_000)
	const n = 300
	go func() {
		for i := range n {
			nt := notifyNotification(fmt.Sprintf("big %d", i))
			nt.Metadata = map[string]any{"blob": big}
			_, _ = app.Notifications.Notify(app.SystemContext(t.Context(), ""), "ann", nt)
			time.Sleep(2 * time.Millisecond) // a steady flow the fast client keeps up with
		}
	}()
	for i := range n {
		require.Equal(t, fmt.Sprintf("big %d", i), fast.subject(10*time.Second))
	}
	require.Eventually(t, func() bool { return app.Notifications.Count() == 2 }, 15*time.Second, 20*time.Millisecond, "the slow stream is dropped")
	// Its slot is free again.
	again := dial(t, app, h, "")
	notifyUser(t, app, "", "ann", "after")
	assert.Equal(t, "after", again.subject(5*time.Second))
	assert.Equal(t, "after", fast.subject(5*time.Second))
	_ = slow
}

// TestNotificationStreamCredentials: every kind of credential opens a
// stream; revoking it (logout, session revoked, API key deleted) or deleting
// or disabling the user closes the stream within seconds with 4001; a
// session cookie needs an Origin of the API's host or a CORS origin.
func TestNotificationStreamCredentials(t *testing.T) {
	cfg := notifyConfig(t, fmtest.SQLite)
	cfg.CORS.AllowedOrigins = []string{"https://app.example.com"}
	app := notifyApp(t, cfg)
	ann := app.CreateUser(t, annEmail, annPass, "Writer")

	open := func(t *testing.T) map[string]*wsClient {
		clients := credentialed(t, app)
		out := map[string]*wsClient{}
		for kind, cl := range clients {
			h := cl.Header.Clone()
			if kind == "session_cookie" {
				h.Set("Cookie", "session_id="+cl.Cookie("session_id"))
				h.Set("Origin", app.URL)
			}
			out[kind] = dial(t, app, h, "")
		}
		require.Eventually(t, func() bool { return app.Notifications.Count() == 3 }, 5*time.Second, 10*time.Millisecond)
		notifyUser(t, app, "", ann.ID, "to every stream")
		for kind, c := range out {
			assert.Equal(t, "to every stream", c.subject(5*time.Second), kind)
		}
		return out
	}

	t.Run("origin", func(t *testing.T) {
		browser := app.Browser().UseCSRF()
		browser.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
		cookie := http.Header{"Cookie": {"session_id=" + browser.Cookie("session_id")}}
		for origin, want := range map[string]int{
			"":                        http.StatusForbidden,
			"https://evil.example":    http.StatusForbidden,
			"null":                    http.StatusForbidden,
			"https://app.example.com": http.StatusSwitchingProtocols,
			app.URL:                   http.StatusSwitchingProtocols,
		} {
			h := cookie.Clone()
			if origin != "" {
				h.Set("Origin", origin)
			}
			c, res, _, err := tryDial(app, h, "", dialOpt{})
			require.NotNil(t, res, origin)
			assert.Equal(t, want, res.StatusCode, "origin %q", origin)
			if err == nil {
				_ = c.CloseNow()
			}
		}
		// A bearer token needs no Origin, but a foreign one is refused too.
		bearer := http.Header{"Authorization": {"Bearer " + app.Login(t, annEmail, annPass)}}
		c := dial(t, app, bearer, "")
		_ = c
		bearer.Set("Origin", "https://evil.example")
		_, res, _, err := tryDial(app, bearer, "", dialOpt{})
		require.Error(t, err)
		assert.Equal(t, http.StatusForbidden, res.StatusCode)
		// No credential at all: 401.
		_, res, _, err = tryDial(app, http.Header{}, "", dialOpt{})
		require.Error(t, err)
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	})

	t.Run("revoked", func(t *testing.T) {
		clients := credentialed(t, app)
		streams := map[string]*wsClient{}
		for kind, cl := range clients {
			h := cl.Header.Clone()
			if kind == "session_cookie" {
				h.Set("Cookie", "session_id="+cl.Cookie("session_id"))
				h.Set("Origin", app.URL)
			}
			streams[kind] = dial(t, app, h, "")
		}
		clients["bearer"].Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
		assert.Equal(t, websocket.StatusCode(4001), streams["bearer"].closedWith(5*time.Second), "logged-out token")
		clients["session_cookie"].Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
		assert.Equal(t, websocket.StatusCode(4001), streams["session_cookie"].closedWith(5*time.Second), "ended session")
		keyID := strings.SplitN(strings.TrimPrefix(clients["api_key"].Header.Get("X-API-Key"), "fmk_"), "_", 2)[0]
		app.Bearer(app.Login(t, annEmail, annPass)).Delete("/api/v1/auth/api-keys/"+keyID).RequireStatus(t, http.StatusOK)
		assert.Equal(t, websocket.StatusCode(4001), streams["api_key"].closedWith(5*time.Second), "revoked API key")
	})

	t.Run("disabled user", func(t *testing.T) {
		streams := open(t)
		app.As(fmtest.Admin()).Post("/api/v1/users/"+ann.ID+"/disable", nil).RequireStatus(t, http.StatusOK)
		for kind, c := range streams {
			assert.Equal(t, websocket.StatusCode(4001), c.closedWith(5*time.Second), kind)
		}
		app.As(fmtest.Admin()).Post("/api/v1/users/"+ann.ID+"/enable", nil).RequireStatus(t, http.StatusOK)
	})

	t.Run("deleted user", func(t *testing.T) {
		streams := open(t)
		app.As(fmtest.Admin()).Delete("/api/v1/resource/Local%20User/"+ann.ID).RequireStatus(t, http.StatusOK)
		for kind, c := range streams {
			assert.Equal(t, websocket.StatusCode(4001), c.closedWith(5*time.Second), kind)
		}
	})
}

func notifyNotification(subject string) notify.Notification {
	return notify.Notification{Subject: subject, Type: "info"}
}
