package web_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/ratelimit/memory"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/fakes"
	"github.com/framework-m/framework-m/ports"
)

// Regression tests of the hostile-client probe: each failed on the code
// before its fix.

// mintKey creates an API key for email over HTTP and returns it with its id.
func mintKey(t *testing.T, app *fmtest.App, email string) (key, id string) {
	t.Helper()
	tok := app.Login(t, email, annPass)
	var k keyResp
	app.Bearer(tok).Post("/api/v1/auth/api-keys", map[string]any{"name": "ci", "current_password": annPass}).
		RequireStatus(t, http.StatusCreated).JSON(t, &k)
	return k.Data.Key, k.Data.ID
}

// Revoking another user's key and a key that does not exist answer alike,
// so key ids cannot be probed.
func TestAPIKeyRevokeIsNoOracle(t *testing.T) {
	app := newApp(t)
	app.CreateUser(t, "ann@example.com", annPass)
	app.CreateUser(t, "bob@example.com", annPass)
	bobKey, bobID := mintKey(t, app, "bob@example.com")
	ann := app.Bearer(app.Login(t, "ann@example.com", annPass))

	answer := func(id string) (int, ErrorDetailView) {
		res := ann.Delete("/api/v1/auth/api-keys/" + id)
		var body struct {
			Error ErrorDetailView `json:"error"`
		}
		require.NoError(t, json.Unmarshal(res.Body, &body))
		return res.Status, body.Error
	}
	otherStatus, other := answer(bobID)
	for _, id := range []string{strings.Repeat("0", 16), "zzzzzzzzzzzzzzzz", "x", "not%20a%20key"} {
		status, detail := answer(id)
		assert.Equal(t, otherStatus, status, "id %q", id)
		assert.Equal(t, other, detail, "id %q", id)
	}
	assert.Equal(t, http.StatusNotFound, otherStatus)
	keyClient(app, bobKey).Get("/api/v1/auth/me").RequireStatus(t, http.StatusOK) // still Bob's
}

// ErrorDetailView is the part of an error body that must not differ.
type ErrorDetailView struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// signHS256 signs claims with secret the way the token service does.
func signHS256(t *testing.T, secret string, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, err := json.Marshal(claims)
	require.NoError(t, err)
	in := head + "." + enc.EncodeToString(body)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(in))
	return in + "." + enc.EncodeToString(m.Sum(nil))
}

// claimsOf decodes a token's payload.
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// A correctly signed token whose lifetime exceeds the configured TTL, or
// without iat, is refused; the same claims with a sane exp pass.
func TestTokenLifetimeIsCappedByTheServer(t *testing.T) {
	app := newApp(t)
	app.CreateUser(t, "ann@example.com", annPass)
	secret := app.Config.Auth.JWT.Secret
	claims := claimsOf(t, app.Login(t, "ann@example.com", annPass))

	resign := func(mutate func(map[string]any)) string {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		mutate(c)
		return signHS256(t, secret, c)
	}
	app.Bearer(resign(func(map[string]any) {})).Get("/api/v1/auth/me").RequireStatus(t, http.StatusOK)
	iat := int64(claims["iat"].(float64))
	for name, mutate := range map[string]func(map[string]any){
		"exp a year away": func(c map[string]any) { c["exp"] = iat + 365*86400 },
		"exp past ttl": func(c map[string]any) {
			c["exp"] = iat + int64(app.Config.Auth.JWT.TTLSeconds+app.Config.Auth.JWT.LeewaySeconds) + 1
		},
		"no iat":            func(c map[string]any) { delete(c, "iat") },
		"iat long ago, exp": func(c map[string]any) { c["iat"] = iat - 30*86400 },
	} {
		res := app.Bearer(resign(mutate)).Get("/api/v1/auth/me")
		assert.Equal(t, http.StatusUnauthorized, res.Status, name)
	}
}

// API keys are credentials of their own, like GitHub's tokens: a password
// change or logging out everywhere ends sessions and tokens, not keys;
// DELETE /api/v1/auth/api-keys revokes all of a user's keys at once.
func TestAPIKeysSurvivePasswordChangeAndRevokeAll(t *testing.T) {
	app := newApp(t)
	app.CreateUser(t, "ann@example.com", annPass)
	key1, _ := mintKey(t, app, "ann@example.com")
	key2, _ := mintKey(t, app, "ann@example.com")
	tok := app.Login(t, "ann@example.com", annPass)

	app.Bearer(tok).Post("/api/v1/auth/password", map[string]any{"current_password": annPass, "new_password": "another long passphrase"}).
		RequireStatus(t, http.StatusOK)
	app.Bearer(tok).Get("/api/v1/auth/me").RequireStatus(t, http.StatusUnauthorized)
	keyClient(app, key1).Get("/api/v1/auth/me").RequireStatus(t, http.StatusOK)

	// Log out everywhere (with a key: the old token is dead) keeps keys too.
	keyClient(app, key1).Delete("/api/v1/auth/sessions").RequireStatus(t, http.StatusOK)
	keyClient(app, key2).Get("/api/v1/auth/me").RequireStatus(t, http.StatusOK)

	res := keyClient(app, key1).Delete("/api/v1/auth/api-keys").RequireStatus(t, http.StatusOK)
	assert.EqualValues(t, 2, res.Data(t)["revoked"])
	keyClient(app, key1).Get("/api/v1/auth/me").RequireStatus(t, http.StatusUnauthorized)
	keyClient(app, key2).Get("/api/v1/auth/me").RequireStatus(t, http.StatusUnauthorized)
}

// Two Authorization (or X-API-Key) headers are refused rather than one of
// them silently used.
func TestRepeatedCredentialHeadersAreRefused(t *testing.T) {
	app := newApp(t)
	app.CreateUser(t, "ann@example.com", annPass)
	tok := app.Login(t, "ann@example.com", annPass)
	key, _ := mintKey(t, app, "ann@example.com")
	for name, h := range map[string]http.Header{
		"two bearer tokens":    {"Authorization": {"Bearer " + tok, "Bearer " + tok}},
		"bearer and basic":     {"Authorization": {"Bearer " + tok, "Basic YW5uQGV4YW1wbGUuY29tOnB3"}},
		"two API keys":         {"X-Api-Key": {key, key}},
		"two, first one empty": {"Authorization": {"", "Bearer " + tok}},
	} {
		c := app.Anonymous()
		for k, vs := range h {
			for _, v := range vs {
				c.Header.Add(k, v)
			}
		}
		res := c.Get("/api/v1/auth/me")
		assert.Equal(t, http.StatusBadRequest, res.Status, name)
		assert.Equal(t, "validation_error", res.Err(t).Error.Code, name)
	}
}

// Maintenance-mode 503s are expected answers: logged at info, not error.
func TestMaintenance503IsLoggedAtInfo(t *testing.T) {
	var logs fmtest.LogBuffer
	app := newApp(t, frameworkm.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	admin := app.As(fmtest.Admin())
	admin.Patch("/api/v1/settings", map[string]any{"maintenance_mode": true}).RequireStatus(t, http.StatusOK)
	app.As(fmtest.User("ann")).Get("/api/v1/resource/Note").RequireStatus(t, http.StatusServiceUnavailable)
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "status=503") {
			line = l
		}
	}
	require.NotEmpty(t, line, logs.String())
	assert.Contains(t, line, "level=INFO")
}

// The account lock's Retry-After is the time actually left, on a clock the
// test moves.
func TestAccountLockRetryAfterIsTheTimeLeft(t *testing.T) {
	clock := fakes.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Auth.Throttle.WindowSeconds = 300
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithRateLimiterBackend("memory",
		frameworkm.Factory(func(frameworkm.Deps) (ports.RateLimiter, error) { return memory.New().WithClock(clock.Now), nil })))
	app.CreateUser(t, "ann@example.com", annPass)
	c := app.Anonymous()
	wrong := map[string]string{"username": "ann@example.com", "password": "not the password"}
	for range cfg.Auth.Throttle.FailuresPerAccount {
		c.Post("/api/v1/auth/login", wrong).RequireStatus(t, http.StatusUnauthorized)
	}
	assert.Equal(t, "300", c.Post("/api/v1/auth/login", wrong).RequireStatus(t, http.StatusTooManyRequests).Header.Get("Retry-After"))
	clock.Advance(100 * time.Second)
	res := c.Post("/api/v1/auth/login", map[string]string{"username": "ann@example.com", "password": annPass})
	res.RequireStatus(t, http.StatusTooManyRequests)
	assert.Equal(t, "200", res.Header.Get("Retry-After"))
}

// User Preferences created through the resource API belong to their
// creator: the first create works, a second one is a conflict — never
// "user_id is required" and "user_id is read-only" at once.
func TestUserPreferencesCreateErrorsAgree(t *testing.T) {
	app := newApp(t)
	ann := app.As(fmtest.User("ann"))
	doc := ann.Post("/api/v1/resource/User%20Preferences", map[string]any{"theme": "dark"}).RequireStatus(t, http.StatusCreated).Data(t)
	assert.Equal(t, "ann", doc["name"])
	assert.Equal(t, "ann", doc["user_id"])
	assert.Equal(t, "dark", ann.Get("/api/v1/auth/me/preferences").RequireStatus(t, http.StatusOK).Data(t)["theme"])
	res := ann.Post("/api/v1/resource/User%20Preferences", map[string]any{"theme": "light"})
	assert.Equal(t, http.StatusConflict, res.Status)
	ann.Post("/api/v1/resource/User%20Preferences", map[string]any{"user_id": "bob"}).RequireStatus(t, http.StatusBadRequest)
}

// A role granted write on Custom Permission (or on Local User) cannot make
// its holders admins: only admin roles change permission rows and users'
// roles and attributes — unless restrict_permission_changes is off.
func TestPermissionChangesNeedAnAdmin(t *testing.T) {
	grant := func(t *testing.T, app *fmtest.App, doctype string) {
		if doctype == "Custom Permission" {
			addRoles(t, app, "Helpdesk")
		}
		app.As(fmtest.Admin()).Post("/api/v1/resource/Custom%20Permission", map[string]any{
			"document_type": doctype, "role": "Helpdesk", "actions": []string{"read", "write", "create", "delete"},
		}).RequireStatus(t, http.StatusCreated)
	}
	escalate := map[string]any{"document_type": "Note", "role": "Helpdesk", "actions": []string{"read", "write", "create", "delete"}}

	t.Run("restricted (default)", func(t *testing.T) {
		app := newApp(t)
		grant(t, app, "Custom Permission")
		grant(t, app, "Local User")
		ann := app.CreateUser(t, "ann@example.com", annPass)
		hd := app.As(fmtest.User("hd", "Helpdesk"))
		res := hd.Post("/api/v1/resource/Custom%20Permission", escalate)
		assert.Equal(t, http.StatusForbidden, res.Status)
		rows, _ := hd.Get("/api/v1/resource/Custom%20Permission").RequireStatus(t, http.StatusOK).List(t)
		require.NotEmpty(t, rows)
		hd.Patch("/api/v1/resource/Custom%20Permission/"+rows[0]["name"].(string), map[string]any{"role": "Admin"}).RequireStatus(t, http.StatusForbidden)
		hd.Delete("/api/v1/resource/Custom%20Permission/"+rows[0]["name"].(string)).RequireStatus(t, http.StatusForbidden)

		user := "/api/v1/resource/Local%20User/" + ann.ID
		hd.Patch(user, map[string]any{"roles": []string{"Admin"}}).RequireStatus(t, http.StatusForbidden)
		hd.Patch(user, map[string]any{"attributes": map[string]any{"department": "finance"}}).RequireStatus(t, http.StatusForbidden)
		hd.Patch(user, map[string]any{"display_name": "Ann A."}).RequireStatus(t, http.StatusOK)
		got := app.As(fmtest.Admin()).Get(user).RequireStatus(t, http.StatusOK).Data(t)
		assert.Empty(t, got["roles"])
		// Admins still may.
		app.As(fmtest.Admin()).Patch(user, map[string]any{"roles": []string{"Helpdesk"}}).RequireStatus(t, http.StatusOK)
		app.As(fmtest.Admin()).Post("/api/v1/resource/Custom%20Permission", escalate).RequireStatus(t, http.StatusCreated)
	})
	t.Run("delegated by config", func(t *testing.T) {
		cfg := fmtest.Config(t, fmtest.SQLite)
		cfg.Permissions.RestrictPermissionChanges = false
		app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))
		grant(t, app, "Custom Permission")
		app.As(fmtest.User("hd", "Helpdesk")).Post("/api/v1/resource/Custom%20Permission", escalate).RequireStatus(t, http.StatusCreated)
	})
}
