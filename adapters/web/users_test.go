package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// These scenarios need the composition root to serve /api/v1/users
// (web.Deps.Users), record federated users (auth.Service.Seen, the header
// strategy's WithSeen) and check roles (UserManager.WithRoleCheck).

// Memo is a DocType whose rules name the role Auditor, so that the role
// exists in every tenant of usersApp (Note's rules name Writer).
type Memo struct {
	doctype.Base
	Text string `json:"text"`
}

var memoMeta = doctype.Meta{Name: "Memo", Permissions: []doctype.Rule{{Role: "Auditor", Actions: doctype.Read}}}

// usersApp is authApp with Memo: the roles Writer and Auditor exist.
func usersApp(t *testing.T, driver fmtest.Driver, mutate func(*config.Config)) *fmtest.App {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	if mutate != nil {
		mutate(&cfg)
	}
	return fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta), frameworkm.WithDocType[Memo](memoMeta))
}

// usersList decodes a /users list.
func usersList(t *testing.T, res *fmtest.Response) ([]string, int) {
	t.Helper()
	items, total := res.RequireStatus(t, http.StatusOK).List(t)
	var emails []string
	for _, u := range items {
		emails = append(emails, u["email"].(string))
	}
	return emails, total
}

// assertNoSecrets fails when a response body shows a password hash or a token version.
func assertNoSecrets(t *testing.T, res *fmtest.Response) {
	t.Helper()
	for _, s := range []string{"password_hash", "argon2", "token_version", "$argon"} {
		assert.NotContains(t, string(res.Body), s)
	}
}

func TestUsersAdminsOnly(t *testing.T) {
	app := usersApp(t, fmtest.SQLite, nil)
	ann := app.CreateUser(t, annEmail, annPass, "Writer")
	routes := []struct {
		method, path string
		single       bool
	}{
		{"GET", "/api/v1/users", false},
		{"POST", "/api/v1/users", false},
		{"GET", "/api/v1/users/" + ann.ID, true},
		{"PATCH", "/api/v1/users/" + ann.ID, true},
		{"POST", "/api/v1/users/" + ann.ID + "/disable", true},
		{"POST", "/api/v1/users/" + ann.ID + "/enable", true},
		{"POST", "/api/v1/users/" + ann.ID + "/reset-password", true},
		{"POST", "/api/v1/users/" + ann.ID + "/logout-everywhere", true},
		{"GET", "/api/v1/users/no-such-user", true},
		{"POST", "/api/v1/users/no-such-user/disable", true},
	}
	writer := app.As(fmtest.User("bob", "Writer", ports.RoleAll))
	self := app.Bearer(app.Login(t, annEmail, annPass)) // her own record too
	for _, r := range routes {
		want, code := http.StatusForbidden, "forbidden"
		if r.single {
			want, code = http.StatusNotFound, "not_found"
		}
		for name, c := range map[string]*fmtest.Client{"writer": writer, "self": self} {
			res := c.Do(r.method, r.path, map[string]any{"email": "x@example.com", "password": annPass, "display_name": "X"})
			assert.Equal(t, want, res.Status, "%s %s %s: %s", name, r.method, r.path, res.Body)
			if res.Status == want {
				assert.Equal(t, code, res.Err(t).Error.Code)
			}
		}
		assert.Equal(t, http.StatusUnauthorized, app.Anonymous().Do(r.method, r.path, nil).Status, r.path)
	}
	got := app.As(fmtest.Admin()).Get("/api/v1/users/"+ann.ID).RequireStatus(t, http.StatusOK).Data(t)
	assert.Equal(t, "Writer", got["roles"].([]any)[0], "nothing changed")
	assert.Equal(t, true, got["enabled"])
	_, total := usersList(t, app.As(fmtest.Admin()).Get("/api/v1/users"))
	assert.Equal(t, 1, total, "nothing was created")
}

func TestUsersListFiltersAndPaging(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := usersApp(t, driver, nil)
			admin := app.As(fmtest.Admin())
			app.CreateUser(t, "ann@example.com", annPass, ports.RoleAdmin, "Writer")
			app.CreateUser(t, "bob@example.com", annPass, "Writer")
			cid := app.CreateUser(t, "cid@corp.example", annPass, "Auditor")
			app.CreateUser(t, "dee@corp.example", annPass)
			admin.Post("/api/v1/users/"+cid.ID+"/disable", nil).RequireStatus(t, http.StatusOK)
			admin.Patch("/api/v1/users/"+cid.ID, map[string]any{"display_name": "Cid Writer"}).RequireStatus(t, http.StatusOK)

			for _, tc := range []struct {
				query  string
				emails []string
				total  int
			}{
				{"", []string{"ann@example.com", "bob@example.com", "cid@corp.example", "dee@corp.example"}, 4},
				{"role=Writer", []string{"ann@example.com", "bob@example.com"}, 2},
				{"role=writer", nil, 0},
				{"enabled=false", []string{"cid@corp.example"}, 1},
				{"enabled=true&role=Auditor", nil, 0},
				{"search=CORP", []string{"cid@corp.example", "dee@corp.example"}, 2},
				{"search=writer", []string{"cid@corp.example"}, 1},
				{"search=" + url.QueryEscape("%"), nil, 0},
				{"limit=2", []string{"ann@example.com", "bob@example.com"}, 4},
				{"limit=2&offset=2", []string{"cid@corp.example", "dee@corp.example"}, 4},
				{"limit=1&offset=1&role=Writer", []string{"bob@example.com"}, 2},
				{"limit=1000&offset=10", nil, 4},
			} {
				res := admin.Get("/api/v1/users?" + tc.query)
				emails, total := usersList(t, res)
				assert.Equal(t, tc.emails, emails, tc.query)
				assert.Equal(t, tc.total, total, tc.query)
				assertNoSecrets(t, res)
			}
			body := admin.Get("/api/v1/users?limit=2&offset=2").Map(t)
			assert.EqualValues(t, 2, body["limit"])
			assert.EqualValues(t, 2, body["offset"])
			assert.EqualValues(t, 20, admin.Get("/api/v1/users").Map(t)["limit"])
			for _, q := range []string{"limit=1001", "limit=0", "limit=x", "offset=-1", "enabled=maybe", "search=" + strings.Repeat("s", 255)} {
				admin.Get("/api/v1/users?"+q).RequireStatus(t, http.StatusBadRequest)
			}
		})
	}
}

func TestUsersCreateGetPatch(t *testing.T) {
	app := usersApp(t, fmtest.SQLite, nil)
	admin := app.As(fmtest.Admin())
	res := admin.Post("/api/v1/users", map[string]any{"email": "Ann@Example.com", "password": annPass, "display_name": "Ann", "roles": []string{"Writer"}}).
		RequireStatus(t, http.StatusCreated)
	assertNoSecrets(t, res)
	u := res.Data(t)
	id := u["id"].(string)
	assert.Equal(t, "/api/v1/users/"+id, res.Header.Get("Location"))
	assert.Equal(t, annEmail, u["email"])
	assert.Equal(t, true, u["enabled"])
	assert.Equal(t, false, u["password_change_required"])

	// The new user logs in and holds the role.
	st, me := me(t, app.Bearer(app.Login(t, annEmail, annPass)))
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, []string{"Writer"}, me.Roles)

	res = admin.Get("/api/v1/users/"+id).RequireStatus(t, http.StatusOK)
	assertNoSecrets(t, res)
	assert.Equal(t, "Ann", res.Data(t)["display_name"])
	assert.NotEmpty(t, res.Data(t)["last_login_at"])

	res = admin.Patch("/api/v1/users/"+id, map[string]any{"display_name": "Ann Archer", "roles": []string{"Writer", "Auditor"}}).RequireStatus(t, http.StatusOK)
	assertNoSecrets(t, res)
	assert.Equal(t, "Ann Archer", res.Data(t)["display_name"])
	assert.Equal(t, []any{"Writer", "Auditor"}, res.Data(t)["roles"])
	assert.Equal(t, true, res.Data(t)["enabled"], "left alone")
	assert.Equal(t, false, admin.Patch("/api/v1/users/"+id, map[string]any{"enabled": false}).RequireStatus(t, http.StatusOK).Data(t)["enabled"])

	for name, body := range map[string]any{
		"full_name is display_name here": map[string]any{"full_name": "X"},
		"no hash":                        map[string]any{"password_hash": "$argon2id$..."},
		"flag is read-only":              map[string]any{"password_change_required": false},
		"no System role":                 map[string]any{"roles": []string{ports.RoleSystem}},
		"display name too long":          map[string]any{"display_name": strings.Repeat("n", 141)},
		"enabled is a boolean":           map[string]any{"enabled": "yes"},
	} {
		assert.Equal(t, http.StatusBadRequest, admin.Patch("/api/v1/users/"+id, body).Status, name)
	}
	admin.Patch("/api/v1/users/no-such-user", map[string]any{"display_name": "X"}).RequireStatus(t, http.StatusNotFound)

	for name, body := range map[string]any{
		"password required in local mode": map[string]any{"email": "bob@example.com"},
		"bad email":                       map[string]any{"email": "bob", "password": annPass},
		"unknown key":                     map[string]any{"email": "bob@example.com", "password": annPass, "is_admin": true},
	} {
		res := admin.Post("/api/v1/users", body)
		assert.Equal(t, http.StatusBadRequest, res.Status, name)
	}
	admin.Post("/api/v1/users", map[string]any{"email": annEmail, "password": annPass}).RequireStatus(t, http.StatusConflict)
}

func TestUsersCreateWithoutPasswordWhereNoneExist(t *testing.T) {
	app := usersApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Auth.Mode = "passwordless"
		c.Auth.Strategies = []string{"bearer"}
	})
	res := app.As(fmtest.Admin()).Post("/api/v1/users", map[string]any{"email": annEmail, "roles": []string{"Writer"}}).RequireStatus(t, http.StatusCreated)
	assert.Equal(t, annEmail, res.Data(t)["email"])
	app.As(fmtest.Admin()).Post("/api/v1/users/"+res.Data(t)["id"].(string)+"/reset-password", nil).RequireStatus(t, http.StatusMethodNotAllowed)
}

func TestUsersUnknownRoleIsRefused(t *testing.T) {
	app := usersApp(t, fmtest.SQLite, nil)
	admin := app.As(fmtest.Admin())
	e := admin.Post("/api/v1/users", map[string]any{"email": annEmail, "password": annPass, "roles": []string{"Wrtier"}}).RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Message+e.Error.Fields["roles"], "Wrtier")
	ann := app.CreateUser(t, annEmail, annPass, "Writer")
	e = admin.Patch("/api/v1/users/"+ann.ID, map[string]any{"roles": []string{"Writer", "Nobody"}}).RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Message+e.Error.Fields["roles"], "Nobody")
}

func TestUsersLastAdminAndOwnAdminRole(t *testing.T) {
	app := usersApp(t, fmtest.SQLite, nil)
	ann := app.CreateUser(t, annEmail, annPass, ports.RoleAdmin, "Writer")
	asAnn := app.Bearer(app.Login(t, annEmail, annPass))
	someAdmin := app.As(fmtest.Admin())
	conflict := func(res *fmtest.Response, reason string) {
		t.Helper()
		e := res.RequireStatus(t, http.StatusConflict).Err(t)
		assert.Equal(t, "conflict", e.Error.Code)
		assert.Contains(t, e.Error.Message, reason)
	}
	// Ann is the only admin user.
	conflict(someAdmin.Post("/api/v1/users/"+ann.ID+"/disable", nil), "last enabled admin")
	conflict(someAdmin.Patch("/api/v1/users/"+ann.ID, map[string]any{"roles": []string{"Writer"}}), "last enabled admin")
	conflict(someAdmin.Patch("/api/v1/users/"+ann.ID, map[string]any{"enabled": false}), "last enabled admin")
	conflict(asAnn.Post("/api/v1/users/"+ann.ID+"/disable", nil), "your own account")
	conflict(asAnn.Patch("/api/v1/users/"+ann.ID, map[string]any{"roles": []string{}}), "your own admin role")

	// With a second admin, another admin may demote ann, never ann herself.
	bob := asAnn.Post("/api/v1/users", map[string]any{"email": "bob@example.com", "password": annPass, "roles": []string{ports.RoleAdmin}}).
		RequireStatus(t, http.StatusCreated).Data(t)
	conflict(asAnn.Post("/api/v1/users/"+ann.ID+"/disable", nil), "your own account")
	conflict(asAnn.Patch("/api/v1/users/"+ann.ID, map[string]any{"roles": []string{"Writer"}}), "your own admin role")
	asAnn.Patch("/api/v1/users/"+ann.ID, map[string]any{"display_name": "Ann", "roles": []string{ports.RoleAdmin, "Writer", "Auditor"}}).RequireStatus(t, http.StatusOK)
	asBob := app.Bearer(app.Login(t, "bob@example.com", annPass))
	asBob.Patch("/api/v1/users/"+ann.ID, map[string]any{"roles": []string{"Writer"}}).RequireStatus(t, http.StatusOK)
	// Bob is now the last admin; ann is no admin at all.
	conflict(someAdmin.Post("/api/v1/users/"+bob["id"].(string)+"/disable", nil), "last enabled admin")
	asAnn.Get("/api/v1/users").RequireStatus(t, http.StatusForbidden)
}

func TestUsersTenantIsolation(t *testing.T) {
	app := usersApp(t, fmtest.SQLite, fmtest.MultiTenant)
	ann := app.CreateUser(t, annEmail, annPass, "Writer", "tenant:t1")
	app.CreateUser(t, "bob@example.com", annPass, "Writer", "tenant:t2")
	t1 := app.As(fmtest.TenantUser("t1", "admin1", ports.RoleAdmin))
	t2 := app.As(fmtest.TenantUser("t2", "admin2", ports.RoleAdmin))

	emails, _ := usersList(t, t2.Get("/api/v1/users"))
	assert.Equal(t, []string{"bob@example.com"}, emails)
	emails, _ = usersList(t, t2.Get("/api/v1/users?search=ann"))
	assert.Empty(t, emails)
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/users/" + ann.ID},
		{"PATCH", "/api/v1/users/" + ann.ID},
		{"POST", "/api/v1/users/" + ann.ID + "/disable"},
		{"POST", "/api/v1/users/" + ann.ID + "/reset-password"},
		{"POST", "/api/v1/users/" + ann.ID + "/logout-everywhere"},
	} {
		res := t2.Do(r.method, r.path, map[string]any{"display_name": "Hacked"})
		assert.Equal(t, http.StatusNotFound, res.Status, "%s %s: %s", r.method, r.path, res.Body)
	}
	got := t1.Get("/api/v1/users/"+ann.ID).RequireStatus(t, http.StatusOK).Data(t)
	assert.Equal(t, true, got["enabled"])
	assert.Equal(t, "", got["display_name"], "untouched")
	// The same email may exist in both tenants.
	t2.Post("/api/v1/users", map[string]any{"email": annEmail, "password": annPass}).RequireStatus(t, http.StatusCreated)
}

func TestUsersResetPasswordForcesAChange(t *testing.T) {
	app := usersApp(t, fmtest.SQLite, nil)
	admin := app.As(fmtest.Admin())
	ann := app.CreateUser(t, annEmail, annPass, "Writer")
	old := app.Bearer(app.Login(t, annEmail, annPass))
	var key struct {
		Data struct {
			Key string `json:"key"`
		} `json:"data"`
	}
	old.Post("/api/v1/auth/api-keys", map[string]any{"name": "ci", "current_password": annPass}).RequireStatus(t, http.StatusCreated).JSON(t, &key)

	res := admin.Post("/api/v1/users/"+ann.ID+"/reset-password", nil).RequireStatus(t, http.StatusOK)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	temp, _ := res.Data(t)["temporary_password"].(string)
	require.NotEmpty(t, temp)
	assert.Equal(t, true, admin.Get("/api/v1/users/" + ann.ID).Data(t)["password_change_required"])

	old.Get("/api/v1/auth/me").RequireStatus(t, http.StatusUnauthorized) // tokens ended
	app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusUnauthorized)
	keyClient(app, key.Data.Key).Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK) // API keys stay

	var tok struct {
		AccessToken            string `json:"access_token"`
		PasswordChangeRequired bool   `json:"password_change_required"`
	}
	app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, temp)).RequireStatus(t, http.StatusOK).JSON(t, &tok)
	assert.True(t, tok.PasswordChangeRequired)
	ann1 := app.Bearer(tok.AccessToken)
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/resource/Note"},
		{"POST", "/api/v1/resource/Note"},
		{"GET", "/api/v1/auth/me/preferences"},
		{"GET", "/api/v1/auth/sessions"},
		{"GET", "/api/v1/auth/api-keys"},
		{"GET", "/api/v1/settings"},
		{"GET", "/api/v1/users"},
	} {
		res := ann1.Do(r.method, r.path, map[string]any{"title": "x"})
		require.Equal(t, http.StatusForbidden, res.Status, "%s %s: %s", r.method, r.path, res.Body)
		assert.Equal(t, "password_change_required", res.Err(t).Error.Code)
	}
	st, me := me(t, ann1)
	require.Equal(t, http.StatusOK, st)
	assert.True(t, me.PasswordChangeRequired)

	// A browser session with the temporary password is held up the same way.
	browser := app.Browser()
	browser.Post("/api/v1/auth/login?session=true", loginBody(annEmail, temp)).RequireStatus(t, http.StatusOK)
	browser.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusForbidden)

	ann1.Post("/api/v1/auth/password", map[string]any{"current_password": temp, "new_password": "my own new passphrase"}).RequireStatus(t, http.StatusOK)
	assert.Equal(t, false, admin.Get("/api/v1/users/" + ann.ID).Data(t)["password_change_required"])
	after := app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, "my own new passphrase")).RequireStatus(t, http.StatusOK).Map(t)
	assert.NotContains(t, after, "password_change_required")
	ann2 := app.Bearer(after["access_token"].(string))
	ann2.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
	ann2.Get("/api/v1/auth/me/preferences").RequireStatus(t, http.StatusOK)
	ann2.Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
}

func TestUsersDisableEndsSessionsAndTokens(t *testing.T) {
	app := usersApp(t, fmtest.SQLite, nil)
	admin := app.As(fmtest.Admin())
	ann := app.CreateUser(t, annEmail, annPass, "Writer")
	token := app.Bearer(app.Login(t, annEmail, annPass))
	browser := app.Browser()
	browser.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	browser.Get("/api/v1/auth/me").RequireStatus(t, http.StatusOK)

	assert.Equal(t, false, admin.Post("/api/v1/users/"+ann.ID+"/disable", nil).RequireStatus(t, http.StatusOK).Data(t)["enabled"])
	token.Get("/api/v1/auth/me").RequireStatus(t, http.StatusUnauthorized)
	browser.Get("/api/v1/auth/me").RequireStatus(t, http.StatusUnauthorized)
	app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusUnauthorized)

	assert.Equal(t, true, admin.Post("/api/v1/users/"+ann.ID+"/enable", nil).RequireStatus(t, http.StatusOK).Data(t)["enabled"])
	token.Get("/api/v1/auth/me").RequireStatus(t, http.StatusUnauthorized) // enabling revives nothing
	fresh := app.Bearer(app.Login(t, annEmail, annPass))
	fresh.Get("/api/v1/auth/me").RequireStatus(t, http.StatusOK)

	admin.Post("/api/v1/users/"+ann.ID+"/logout-everywhere", nil).RequireStatus(t, http.StatusOK)
	fresh.Get("/api/v1/auth/me").RequireStatus(t, http.StatusUnauthorized)
}

func TestUsersFederatedView(t *testing.T) {
	app := usersApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Auth.Mode = "federated"
		c.Auth.Strategies = []string{"header"}
		c.Auth.TrustedProxies = []string{"127.0.0.1/32", "::1/128"}
	})
	admin := app.As(fmtest.Admin())
	gw := app.Anonymous()
	gw.Header.Set("X-User-ID", "kc-42")
	gw.Header.Set("X-Email", "eve@corp.example")
	gw.Header.Set("X-User-Roles", "Writer")
	for range 3 {
		gw.Get("/api/v1/auth/me").RequireStatus(t, http.StatusOK)
	}
	emails, _ := usersList(t, admin.Get("/api/v1/users"))
	assert.Empty(t, emails, "recorded in memory until the flush, not on each request")

	require.NoError(t, app.AuthService.Seen.Flush(context.Background()))
	res := admin.Get("/api/v1/users?search=EVE")
	emails, total := usersList(t, res)
	assert.Equal(t, []string{"eve@corp.example"}, emails)
	assert.Equal(t, 1, total)
	items, _ := res.List(t)
	assert.NotEmpty(t, items[0]["last_seen_at"])
	u := admin.Get("/api/v1/users/kc-42").RequireStatus(t, http.StatusOK).Data(t)
	assert.Equal(t, []any{"Writer"}, u["roles"])
	assert.NotEmpty(t, u["last_seen_at"])
	admin.Get("/api/v1/users/kc-99").RequireStatus(t, http.StatusNotFound)
	app.As(fmtest.User("kim", "Writer")).Get("/api/v1/users").RequireStatus(t, http.StatusForbidden)

	for _, r := range []struct{ method, path string }{
		{"POST", "/api/v1/users"},
		{"PATCH", "/api/v1/users/kc-42"},
		{"POST", "/api/v1/users/kc-42/disable"},
		{"POST", "/api/v1/users/kc-42/enable"},
		{"POST", "/api/v1/users/kc-42/reset-password"},
		{"POST", "/api/v1/users/kc-42/logout-everywhere"},
	} {
		res := admin.Do(r.method, r.path, map[string]any{"email": "x@example.com"})
		assert.Equal(t, http.StatusMethodNotAllowed, res.Status, "%s %s: %s", r.method, r.path, res.Body)
	}
}

// The generic resource API keeps the users API's rules: the last enabled
// admin cannot be demoted, disabled or deleted there either.
func TestLastAdminKeptThroughTheResourceAPI(t *testing.T) {
	app := newApp(t)
	ann := app.CreateUser(t, "ann@example.com", "correct horse battery", "Admin")
	c := app.Bearer(app.Login(t, "ann@example.com", "correct horse battery"))
	path := "/api/v1/resource/Local%20User/" + ann.ID
	for _, body := range []map[string]any{{"roles": []string{}}, {"is_active": false}} {
		res := c.Patch(path, body)
		assert.Equal(t, http.StatusConflict, res.Status, "%v", body)
	}
	c.Delete(path).RequireStatus(t, http.StatusConflict)
	c.Patch(path, map[string]any{"display_name": "Ann"}).RequireStatus(t, http.StatusOK)
	got := app.As(fmtest.Admin()).Get(path).RequireStatus(t, http.StatusOK).Data(t)
	assert.Equal(t, []any{"Admin"}, got["roles"])
	assert.Equal(t, true, got["is_active"])

	// With a second admin, the system (an operator's fmtest admin here) may demote ann.
	app.CreateUser(t, "bob@example.com", "correct horse battery", "Admin")
	app.As(fmtest.Admin()).Patch(path, map[string]any{"roles": []string{}}).RequireStatus(t, http.StatusOK)
}
