package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
)

func TestFederatedGatewayHeaders(t *testing.T) {
	federated := func(trusted string) func(*config.Config) {
		return func(c *config.Config) {
			c.Auth.Mode = "federated"
			c.Auth.Strategies = []string{"header"}
			c.Auth.TrustedProxies = []string{trusted}
		}
	}
	gw := func(app *fmtest.App) *fmtest.Client {
		c := app.Anonymous()
		c.Header.Set("X-User-ID", "kc-42")
		c.Header.Set("X-Email", "eve@corp.example")
		c.Header.Set("X-User-Roles", "Writer, Auditor")
		c.Header.Set("X-User-Attributes", `{"department":"sales","level":5}`)
		return c
	}
	app := authApp(t, fmtest.SQLite, federated("127.0.0.1/32"))
	addRoles(t, app, "Auditor")
	st, u := me(t, gw(app))
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "kc-42", u.ID)
	assert.Equal(t, "header", u.Method)
	assert.Equal(t, []string{"Writer", "Auditor"}, u.Roles)
	assert.Equal(t, "sales", u.Attributes["department"])
	gw(app).Post("/api/v1/resource/Note", map[string]any{"title": "from the gateway"}).RequireStatus(t, http.StatusCreated)

	// Preferences live locally for a user who does not.
	c := gw(app)
	prefs := c.Get("/api/v1/auth/me/preferences").RequireStatus(t, http.StatusOK).Data(t)
	assert.Equal(t, "kc-42", prefs["user_id"])
	c.Patch("/api/v1/auth/me/preferences", map[string]any{"theme": "dark"}).RequireStatus(t, http.StatusOK)
	assert.Equal(t, "dark", c.Get("/api/v1/auth/me/preferences").Data(t)["theme"])
	other := app.Anonymous()
	other.Header.Set("X-User-ID", "kc-99")
	other.Get("/api/v1/resource/User%20Preferences/kc-42").RequireStatus(t, http.StatusNotFound)

	// No passwords, sessions or keys in federated mode: those routes do not exist.
	for _, p := range []string{"/api/v1/auth/login", "/api/v1/auth/password", "/api/v1/auth/api-keys"} {
		assert.Equal(t, http.StatusNotFound, gw(app).Post(p, map[string]any{}).Status, p)
	}
	e := gw(app).Do("GET", "/api/v1/auth/me", nil)
	assert.Equal(t, http.StatusOK, e.Status)

	// Malformed attribute JSON from the gateway is refused.
	bad := gw(app)
	bad.Header.Set("X-User-Attributes", "{not json")
	assert.Equal(t, http.StatusUnauthorized, bad.Get("/api/v1/auth/me").Status)

	// The same headers from a peer that is not the gateway are ignored.
	untrusted := authApp(t, fmtest.SQLite, federated("10.9.9.9/32"))
	st, _ = me(t, gw(untrusted))
	assert.Equal(t, http.StatusUnauthorized, st)
}
