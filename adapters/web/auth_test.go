package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

const (
	adminEmail = "admin@example.com"
	adminPass  = "correct horse battery staple"
	annEmail   = "ann@example.com"
	annPass    = "a long passphrase here"
)

// authApp is a test app on driver with real strategies; mutate adjusts its config.
func authApp(t *testing.T, driver fmtest.Driver, mutate func(*config.Config)) *fmtest.App {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	if mutate != nil {
		mutate(&cfg)
	}
	return fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))
}

type meBody struct {
	Data ports.UserContext `json:"data"`
}

func me(t *testing.T, c *fmtest.Client) (int, ports.UserContext) {
	t.Helper()
	res := c.Get("/api/v1/auth/me")
	var b meBody
	if res.Status == http.StatusOK {
		res.JSON(t, &b)
	}
	return res.Status, b.Data
}

func loginBody(email, pass string) map[string]any {
	return map[string]any{"username": email, "password": pass}
}

// TestQuickstart follows the README: create the first admin with the CLI's
// library function, log in, and call /me with every kind of credential.
func TestQuickstart(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			app := authApp(t, d, nil)
			var out bytes.Buffer
			require.NoError(t, app.RunUserCommand(context.Background(), "create", frameworkm.UserCommand{Email: adminEmail, Password: adminPass, Roles: []string{"Admin"}}, &out))
			assert.Contains(t, out.String(), "created user")

			// Password login → bearer token.
			var tok struct {
				AccessToken string    `json:"access_token"`
				TokenType   string    `json:"token_type"`
				ExpiresIn   int64     `json:"expires_in"`
				ExpiresAt   time.Time `json:"expires_at"`
			}
			res := app.Anonymous().Post("/api/v1/auth/login", loginBody(adminEmail, adminPass)).RequireStatus(t, http.StatusOK)
			res.JSON(t, &tok)
			assert.Equal(t, "Bearer", tok.TokenType)
			assert.Equal(t, int64(3600), tok.ExpiresIn)
			assert.WithinDuration(t, time.Now().Add(time.Hour), tok.ExpiresAt, time.Minute)
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			st, u := me(t, app.Bearer(tok.AccessToken))
			require.Equal(t, http.StatusOK, st)
			assert.Equal(t, adminEmail, u.Email)
			assert.Equal(t, "bearer", u.Method)
			assert.True(t, u.HasRole("Admin"))
			assert.Equal(t, "default", u.TenantID)

			// Session cookie.
			browser := app.Browser()
			browser.Post("/api/v1/auth/login?session=true", loginBody(adminEmail, adminPass)).RequireStatus(t, http.StatusOK)
			require.NotEmpty(t, browser.Cookie("session_id"))
			st, u = me(t, browser)
			require.Equal(t, http.StatusOK, st)
			assert.Equal(t, "session_cookie", u.Method)

			// API key.
			var key struct {
				Data struct {
					ID  string `json:"id"`
					Key string `json:"key"`
				} `json:"data"`
			}
			app.Bearer(tok.AccessToken).Post("/api/v1/auth/api-keys", map[string]any{"name": "ci", "current_password": adminPass}).RequireStatus(t, http.StatusCreated).JSON(t, &key)
			require.True(t, strings.HasPrefix(key.Data.Key, "fmk_"+key.Data.ID+"_"), key.Data.Key)
			kc := app.Anonymous()
			kc.Header.Set("X-API-Key", key.Data.Key)
			st, u = me(t, kc)
			require.Equal(t, http.StatusOK, st)
			assert.Equal(t, "api_key", u.Method)

			// HTTP basic.
			bc := app.Anonymous()
			bc.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(adminEmail+":"+adminPass)))
			st, u = me(t, bc)
			require.Equal(t, http.StatusOK, st)
			assert.Equal(t, "basic", u.Method)

			// Every strategy resolves to the same user.
			assert.Equal(t, key.Data.ID != "", true)
			app.Anonymous().Get("/api/v1/auth/me").RequireStatus(t, http.StatusUnauthorized)
		})
	}
}

func TestFormLogin(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass)
	form := url.Values{"username": {annEmail}, "password": {annPass}}.Encode()
	post := func(origin string, site ...string) int {
		req, _ := http.NewRequest("POST", app.URL+"/api/v1/auth/login", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if len(site) > 0 {
			req.Header.Set("Sec-Fetch-Site", site[0])
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	assert.Equal(t, http.StatusOK, post(""))
	assert.Equal(t, http.StatusOK, post(app.URL))
	assert.Equal(t, http.StatusForbidden, post("https://evil.example"), "a cross-site form cannot log the victim in")
	assert.Equal(t, http.StatusForbidden, post("", "cross-site"), "nor one whose browser sent no Origin")
	assert.Equal(t, http.StatusOK, post("", "same-origin"))
}

func TestLoginFailuresLookAlike(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass)
	c := app.Anonymous()
	wrong := c.Post("/api/v1/auth/login", loginBody(annEmail, "not the password")).RequireStatus(t, http.StatusUnauthorized).Err(t)
	unknown := c.Post("/api/v1/auth/login", loginBody("nobody@example.com", "not the password")).RequireStatus(t, http.StatusUnauthorized).Err(t)
	assert.Equal(t, wrong.Error, unknown.Error, "one generic answer: no hint which emails exist")
	assert.Equal(t, "invalid email or password", wrong.Error.Message)

	e := c.Post("/api/v1/auth/login", map[string]any{"username": annEmail}).RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields, "password")
	c.Post("/api/v1/auth/login", map[string]any{"username": annEmail, "password": "x", "extra": 1}).RequireStatus(t, http.StatusBadRequest)
	c.Do("POST", "/api/v1/auth/login", "not json").RequireStatus(t, http.StatusBadRequest)
}

func TestBruteForceIsThrottled(t *testing.T) {
	app := authApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Auth.Throttle.FailuresPerAccount = 3
		c.Auth.Throttle.AttemptsPerIP = 12
	})
	app.CreateUser(t, annEmail, annPass)
	app.CreateUser(t, "bob@example.com", "sturdy passphrase two")
	c := app.Anonymous()
	for range 3 {
		c.Post("/api/v1/auth/login", loginBody(annEmail, "guess")).RequireStatus(t, http.StatusUnauthorized)
	}
	res := c.Post("/api/v1/auth/login", loginBody(annEmail, annPass))
	require.Equal(t, http.StatusTooManyRequests, res.Status, "the account is locked for the window, even with the right password")
	assert.Equal(t, "too_many_requests", res.Err(t).Error.Code)
	assert.NotEmpty(t, res.Header.Get("Retry-After"))

	// Basic auth shares the account's budget.
	bc := app.Anonymous()
	bc.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(annEmail+":"+annPass)))
	bc.Get("/api/v1/auth/me").RequireStatus(t, http.StatusTooManyRequests)

	// A busy basic-auth client pays one password check, then is served from
	// the verification cache.
	bob := app.Anonymous()
	bob.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("bob@example.com:sturdy passphrase two")))
	for range 20 {
		bob.Get("/api/v1/auth/me").RequireStatus(t, http.StatusOK)
	}
	// Password checks against any accounts use up the address's budget (12:
	// 6 so far); a forged X-Forwarded-For from an untrusted peer does not buy
	// a fresh one.
	for i := range 6 {
		c.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		c.Post("/api/v1/auth/login", loginBody(fmt.Sprintf("guess%d@example.com", i), "guess")).RequireStatus(t, http.StatusUnauthorized)
	}
	c.Header.Set("X-Forwarded-For", "198.51.100.7")
	c.Post("/api/v1/auth/login", loginBody("bob@example.com", "sturdy passphrase two")).RequireStatus(t, http.StatusTooManyRequests)
}

func TestInvalidCredentialNeverFallsThrough(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass)
	token := app.Login(t, annEmail, annPass)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(annEmail+":"+annPass))

	c := app.Anonymous()
	c.Header.Set("Authorization", "Bearer "+token+"x") // tampered
	c.Header.Set("X-API-Key", "fmk_0000000000000000_"+strings.Repeat("a", 43))
	assert.Equal(t, http.StatusUnauthorized, c.Get("/api/v1/auth/me").Status)

	// A bad session cookie decides before a valid bearer token.
	c = app.Bearer(token)
	c.Header.Set("Cookie", "session_id=forged-session-value-0123456789")
	assert.Equal(t, http.StatusUnauthorized, c.Get("/api/v1/auth/me").Status)

	// A bad API key decides before valid basic credentials.
	c = app.Anonymous()
	c.Header.Set("X-API-Key", "garbage")
	c.Header.Set("Authorization", basic)
	assert.Equal(t, http.StatusUnauthorized, c.Get("/api/v1/auth/me").Status)
}

func TestForgedTokensRejected(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	u := app.CreateUser(t, adminEmail, adminPass, "Admin")
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	now := time.Now().Unix()
	claims := map[string]any{"sub": u.ID, "tid": "default", "iss": "framework-m", "aud": "framework-m", "iat": now, "nbf": now, "exp": now + 600, "jti": "forged", "tv": 0}
	none := enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
	assert.Equal(t, http.StatusUnauthorized, app.Bearer(none).Get("/api/v1/auth/me").Status, "alg none")
	good := app.Login(t, adminEmail, adminPass)
	parts := strings.Split(good, ".")
	claims["roles"] = []string{"Admin"}
	claims["sub"] = "someone-else"
	tampered := parts[0] + "." + enc(claims) + "." + parts[2]
	assert.Equal(t, http.StatusUnauthorized, app.Bearer(tampered).Get("/api/v1/auth/me").Status, "tampered payload")
}

func TestPasswordChangeKillsOldCredentials(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass)
	old := app.Login(t, annEmail, annPass)
	other := app.Login(t, annEmail, annPass)
	browser := app.Browser()
	browser.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)

	c := app.Bearer(old)
	e := c.Post("/api/v1/auth/password", map[string]any{"current_password": "wrong", "new_password": "a brand new passphrase"}).RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields, "current_password")
	e = c.Post("/api/v1/auth/password", map[string]any{"current_password": annPass, "new_password": "short"}).RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields, "password")
	c.Post("/api/v1/auth/password", map[string]any{"current_password": annPass, "new_password": "a brand new passphrase"}).RequireStatus(t, http.StatusOK)

	for name, cl := range map[string]*fmtest.Client{"token used": app.Bearer(old), "other token": app.Bearer(other), "session": browser} {
		st, _ := me(t, cl)
		assert.Equal(t, http.StatusUnauthorized, st, name)
	}
	app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusUnauthorized)
	fresh := app.Login(t, annEmail, "a brand new passphrase")
	st, _ := me(t, app.Bearer(fresh))
	assert.Equal(t, http.StatusOK, st)
}

func TestLogout(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass)
	t1, t2 := app.Login(t, annEmail, annPass), app.Login(t, annEmail, annPass)
	app.Bearer(t1).Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
	st, _ := me(t, app.Bearer(t1))
	assert.Equal(t, http.StatusUnauthorized, st, "the presented token is revoked server-side")
	st, _ = me(t, app.Bearer(t2))
	assert.Equal(t, http.StatusOK, st, "other tokens live on")

	browser := app.Browser().UseCSRF()
	browser.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	secret := browser.Cookie("session_id")
	browser.Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
	assert.Empty(t, browser.Cookie("session_id"), "the cookie is cleared")
	replay := app.Anonymous()
	replay.Header.Set("Cookie", "session_id="+secret)
	st, _ = me(t, replay)
	assert.Equal(t, http.StatusUnauthorized, st, "the session ended on the server, not just in the browser")

	// Log out everywhere: sessions and tokens.
	b2 := app.Browser()
	b2.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	app.Bearer(t2).Delete("/api/v1/auth/sessions").RequireStatus(t, http.StatusOK)
	st, _ = me(t, app.Bearer(t2))
	assert.Equal(t, http.StatusUnauthorized, st)
	st, _ = me(t, b2)
	assert.Equal(t, http.StatusUnauthorized, st)
}

func TestSessionFixationAndCookies(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass)
	b := app.Browser()
	// An attacker plants a session id before the victim logs in.
	planted := "planted-by-attacker-0123456789abcdef"
	u, _ := url.Parse(app.URL)
	b.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "session_id", Value: planted, Path: "/"}})
	st, _ := me(t, b)
	assert.Equal(t, http.StatusUnauthorized, st)
	b.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	first := b.Cookie("session_id")
	assert.NotEqual(t, planted, first, "login issues a new session id")
	b.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	assert.NotEqual(t, first, b.Cookie("session_id"), "every login gets a new id")

	// Production cookie attributes.
	secure := authApp(t, fmtest.SQLite, func(c *config.Config) { c.Auth.Session.CookieSecure = true })
	secure.CreateUser(t, annEmail, annPass)
	res := secure.Anonymous().Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	var sess, csrf *http.Cookie
	for _, ck := range (&http.Response{Header: res.Header}).Cookies() {
		switch ck.Name {
		case "session_id":
			sess = ck
		case "csrf_token":
			csrf = ck
		}
	}
	require.NotNil(t, sess)
	require.NotNil(t, csrf)
	assert.True(t, sess.Secure)
	assert.True(t, sess.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, sess.SameSite)
	assert.False(t, csrf.HttpOnly, "the page's script reads the CSRF token")
	assert.Equal(t, "/", sess.Path)
	assert.Greater(t, sess.MaxAge, 0)
}

func TestCSRFOnCookieSessions(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass, "Writer")
	b := app.Browser()
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	b.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK).JSON(t, &login)
	require.NotEmpty(t, login.CSRF)
	assert.Equal(t, login.CSRF, b.Cookie("csrf_token"))

	note := map[string]any{"title": "hello"}
	res := b.Post("/api/v1/resource/Note", note).RequireStatus(t, http.StatusForbidden)
	assert.Contains(t, res.Err(t).Error.Message, "CSRF")
	b.Header.Set("X-CSRF-Token", "wrong-token-value")
	b.Post("/api/v1/resource/Note", note).RequireStatus(t, http.StatusForbidden)
	b.Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusForbidden)
	b.Header.Del("X-CSRF-Token")
	b.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK) // safe methods need no token
	b.UseCSRF().Post("/api/v1/resource/Note", note).RequireStatus(t, http.StatusCreated)

	// Bearer requests are not cookie-borne: no CSRF token needed.
	app.Bearer(app.Login(t, annEmail, annPass)).Post("/api/v1/resource/Note", note).RequireStatus(t, http.StatusCreated)
}

type keyResp struct {
	Data struct {
		ID        string     `json:"id"`
		Key       string     `json:"key"`
		Name      string     `json:"name"`
		Scopes    []string   `json:"scopes"`
		ExpiresAt *time.Time `json:"expires_at"`
	} `json:"data"`
}

func keyClient(app *fmtest.App, key string) *fmtest.Client {
	c := app.Anonymous()
	c.Header.Set("X-API-Key", key)
	return c
}

func TestAPIKeys(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	ann := app.CreateUser(t, annEmail, annPass, "Writer")
	app.CreateUser(t, "bob@example.com", "sturdy passphrase two")
	owner := app.Bearer(app.Login(t, annEmail, annPass))
	bob := app.Bearer(app.Login(t, "bob@example.com", "sturdy passphrase two"))

	var full, readOnly keyResp
	owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "full", "current_password": annPass}).RequireStatus(t, http.StatusCreated).JSON(t, &full)
	owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "reader", "scopes": []string{"read"}, "current_password": annPass}).RequireStatus(t, http.StatusCreated).JSON(t, &readOnly)
	assert.Equal(t, []string{"read"}, readOnly.Data.Scopes)

	// Minting a key needs the password again: a stolen token is not enough.
	e := owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "no-proof"}).RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields, "current_password")
	owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "wrong-proof", "current_password": "guess"}).RequireStatus(t, http.StatusBadRequest)
	// An unscoped key cannot mint keys without the password either.
	keyClient(app, full.Data.Key).Post("/api/v1/auth/api-keys", map[string]any{"name": "chain"}).RequireStatus(t, http.StatusBadRequest)

	// The list never shows keys or hashes.
	res := owner.Get("/api/v1/auth/api-keys").RequireStatus(t, http.StatusOK)
	assert.NotContains(t, string(res.Body), full.Data.Key)
	assert.NotContains(t, string(res.Body), strings.Split(full.Data.Key, "_")[2])
	assert.NotContains(t, strings.ToLower(string(res.Body)), "hash")
	var list struct {
		Data []map[string]any `json:"data"`
	}
	res.JSON(t, &list)
	assert.Len(t, list.Data, 2)
	_, total := bob.Get("/api/v1/auth/api-keys").List(t)
	assert.Zero(t, total)

	// Nor does the database: only a SHA-256.
	sys := app.SystemContext(context.Background(), "")
	stored, err := app.Repository.Get(sys, doctypes.APIKeyDocType, full.Data.ID)
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%+v", stored), strings.Split(full.Data.Key, "_")[2])
	assert.Len(t, stored.(*doctypes.APIKey).KeyHash, 64)

	// Scopes limit the key.
	rc := keyClient(app, readOnly.Data.Key)
	rc.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
	rc.Post("/api/v1/resource/Note", map[string]any{"title": "x"}).RequireStatus(t, http.StatusForbidden)
	rc.Post("/api/v1/auth/api-keys", map[string]any{"name": "escalate"}).RequireStatus(t, http.StatusForbidden)
	keyClient(app, full.Data.Key).Post("/api/v1/resource/Note", map[string]any{"title": "x"}).RequireStatus(t, http.StatusCreated)

	// Another user cannot revoke it; the owner can, and then it fails.
	bob.Delete("/api/v1/auth/api-keys/"+full.Data.ID).RequireStatus(t, http.StatusNotFound)
	owner.Delete("/api/v1/auth/api-keys/"+full.Data.ID).RequireStatus(t, http.StatusOK)
	st, _ := me(t, keyClient(app, full.Data.Key))
	assert.Equal(t, http.StatusUnauthorized, st, "a revoked key is rejected")

	// Expired keys fail.
	var soon keyResp
	owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "short-lived", "expires_at": time.Now().Add(time.Hour), "current_password": annPass}).RequireStatus(t, http.StatusCreated).JSON(t, &soon)
	st, _ = me(t, keyClient(app, soon.Data.Key))
	require.Equal(t, http.StatusOK, st)
	doc, err := app.Repository.Get(sys, doctypes.APIKeyDocType, soon.Data.ID)
	require.NoError(t, err)
	past := time.Now().Add(-time.Minute)
	doc.(*doctypes.APIKey).ExpiresAt = &past
	require.NoError(t, app.Repository.Update(sys, doctypes.APIKeyDocType, doc))
	st, _ = me(t, keyClient(app, soon.Data.Key))
	assert.Equal(t, http.StatusUnauthorized, st, "an expired key is rejected")
	owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "x", "expires_at": past, "current_password": annPass}).RequireStatus(t, http.StatusBadRequest)

	// A right prefix with a wrong secret fails.
	forged := "fmk_" + readOnly.Data.ID + "_" + strings.Repeat("A", 43)
	st, _ = me(t, keyClient(app, forged))
	assert.Equal(t, http.StatusUnauthorized, st)

	// Last use is recorded in batches, not on every request.
	require.NoError(t, app.AuthService.APIKeys.Flush(context.Background()))
	doc, err = app.Repository.Get(sys, doctypes.APIKeyDocType, readOnly.Data.ID)
	require.NoError(t, err)
	assert.NotNil(t, doc.(*doctypes.APIKey).LastUsedAt)
	_ = ann
}

func TestSessionsAPI(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass)
	app.CreateUser(t, "bob@example.com", "sturdy passphrase two")
	one, two := app.Browser().UseCSRF(), app.Browser().UseCSRF()
	one.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	two.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	bob := app.Browser().UseCSRF()
	bob.Post("/api/v1/auth/login?session=true", loginBody("bob@example.com", "sturdy passphrase two")).RequireStatus(t, http.StatusOK)

	var list struct {
		Data []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
			UA      string `json:"user_agent"`
		} `json:"data"`
	}
	one.Get("/api/v1/auth/sessions").RequireStatus(t, http.StatusOK).JSON(t, &list)
	require.Len(t, list.Data, 2)
	var other string
	for _, s := range list.Data {
		assert.NotEqual(t, one.Cookie("session_id"), s.ID, "lists show handles, never the cookie secret")
		if !s.Current {
			other = s.ID
		}
	}
	require.NotEmpty(t, other)
	bob.Delete("/api/v1/auth/sessions/"+other).RequireStatus(t, http.StatusNotFound)
	one.Delete("/api/v1/auth/sessions/"+other).RequireStatus(t, http.StatusOK)
	st, _ := me(t, two)
	assert.Equal(t, http.StatusUnauthorized, st, "the revoked session is gone")
	st, _ = me(t, one)
	assert.Equal(t, http.StatusOK, st)
	one.Delete("/api/v1/auth/sessions/nope").RequireStatus(t, http.StatusNotFound)
	st, _ = me(t, bob)
	assert.Equal(t, http.StatusOK, st, "other users' sessions are untouched")
}

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

func TestAuthModes(t *testing.T) {
	app := authApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Auth.Mode = "social_only"
		c.Auth.Strategies = []string{"session_cookie", "bearer", "api_key"}
	})
	for _, p := range []string{"/api/v1/auth/login", "/api/v1/auth/password"} {
		assert.Equal(t, http.StatusNotFound, app.Anonymous().Post(p, map[string]any{}).Status, p)
	}
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Auth.Mode = "social_only" // basic needs passwords
	_, err := frameworkm.New(cfg, frameworkm.WithLogger(fmtest.Logger(t)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "basic")
}

func TestJWKS(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.Anonymous().Get("/.well-known/jwks.json").RequireStatus(t, http.StatusNotFound)

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "ed25519.pem")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	ed := authApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Auth.JWT.Algorithm = "EdDSA"
		c.Auth.JWT.Secret = ""
		c.Auth.JWT.PrivateKeyFile = keyFile
	})
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	ed.Anonymous().Get("/.well-known/jwks.json").RequireStatus(t, http.StatusOK).JSON(t, &set)
	require.Len(t, set.Keys, 1)
	assert.Equal(t, "OKP", set.Keys[0]["kty"])
	assert.NotEmpty(t, set.Keys[0]["kid"])
	assert.NotContains(t, set.Keys[0], "d", "never the private part")
	ed.CreateUser(t, annEmail, annPass)
	st, _ := me(t, ed.Bearer(ed.Login(t, annEmail, annPass)))
	assert.Equal(t, http.StatusOK, st)
}

func TestBootstrapAdmin(t *testing.T) {
	app := authApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Auth.BootstrapAdmin = config.BootstrapAdmin{Email: adminEmail, Password: adminPass}
	})
	st, u := me(t, app.Bearer(app.Login(t, adminEmail, adminPass)))
	require.Equal(t, http.StatusOK, st)
	assert.True(t, u.IsAdmin())
}

func TestLocalUsersThroughResourceAPI(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, adminEmail, adminPass, "Admin")
	ann := app.CreateUser(t, annEmail, annPass)
	admin := app.Bearer(app.Login(t, adminEmail, adminPass))
	res := admin.Get("/api/v1/resource/Local%20User/"+ann.ID).RequireStatus(t, http.StatusOK)
	assert.NotContains(t, string(res.Body), "argon2", "hashes are never serialized")
	assert.NotContains(t, string(res.Body), "password")
	admin.Patch("/api/v1/resource/Local%20User/"+ann.ID, map[string]any{"password_hash": "$argon2id$..."}).RequireStatus(t, http.StatusBadRequest)
	admin.Get("/api/v1/resource/Local%20User?filters="+url.QueryEscape(`[["password_hash","like","%"]]`)).RequireStatus(t, http.StatusBadRequest)
	app.Bearer(app.Login(t, annEmail, annPass)).Get("/api/v1/resource/Local%20User").RequireStatus(t, http.StatusForbidden)

	// Emails written through the resource API are validated and lower-cased.
	admin.Patch("/api/v1/resource/Local%20User/"+ann.ID, map[string]any{"email": "not an email"}).RequireStatus(t, http.StatusBadRequest)
	assert.Equal(t, "ann.new@example.com", admin.Patch("/api/v1/resource/Local%20User/"+ann.ID, map[string]any{"email": "Ann.New@Example.com"}).RequireStatus(t, http.StatusOK).Data(t)["email"])
	app.Login(t, "ann.new@example.com", annPass)
	admin.Patch("/api/v1/resource/Local%20User/"+ann.ID, map[string]any{"email": annEmail}).RequireStatus(t, http.StatusOK)

	// An admin disables ann: her credentials stop working at once.
	tok := app.Login(t, annEmail, annPass)
	admin.Patch("/api/v1/resource/Local%20User/"+ann.ID, map[string]any{"is_active": false}).RequireStatus(t, http.StatusOK)
	st, _ := me(t, app.Bearer(tok))
	assert.Equal(t, http.StatusUnauthorized, st)
	app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusUnauthorized)
}

func TestRightToErasureAndExport(t *testing.T) {
	for _, mode := range []string{"hard_delete", "anonymize"} {
		t.Run(mode, func(t *testing.T) {
			app := authApp(t, fmtest.SQLite, func(c *config.Config) { c.Auth.Deletion.Mode = mode })
			app.CreateUser(t, adminEmail, adminPass, "Admin")
			ann := app.CreateUser(t, annEmail, annPass, "Writer")
			token := app.Login(t, annEmail, annPass)
			c := app.Bearer(token)
			c.Post("/api/v1/resource/Note", map[string]any{"title": "ann's note"}).RequireStatus(t, http.StatusCreated)
			var key keyResp
			c.Post("/api/v1/auth/api-keys", map[string]any{"name": "k", "current_password": annPass}).RequireStatus(t, http.StatusCreated).JSON(t, &key)
			c.Patch("/api/v1/auth/me/preferences", map[string]any{"language": "de"}).RequireStatus(t, http.StatusOK)
			// An internal error while serving ann leaves an Error Log naming her.
			require.NoError(t, app.Errors.Record(context.Background(), ports.ErrorRecord{Title: "boom", Message: "secret internals", Traceback: "goroutine 1 [running]", UserID: ann.ID}))

			export := c.Get("/api/v1/auth/me/data").RequireStatus(t, http.StatusOK)
			assert.Contains(t, export.Header.Get("Content-Disposition"), "attachment")
			var data struct {
				User      map[string]any              `json:"user"`
				APIKeys   []map[string]any            `json:"api_keys"`
				Documents map[string][]map[string]any `json:"documents"`
			}
			export.JSON(t, &data)
			assert.Equal(t, ann.ID, data.User["id"])
			assert.Len(t, data.APIKeys, 1)
			require.Len(t, data.Documents["Note"], 1)
			assert.Equal(t, "ann's note", data.Documents["Note"][0]["title"])
			require.Len(t, data.Documents["Local User"], 1)
			assert.Equal(t, annEmail, data.Documents["Local User"][0]["email"])
			require.Len(t, data.Documents["User Preferences"], 1)
			body := string(export.Body)
			assert.NotContains(t, data.Documents, "Error Log", "error logs naming the user are not theirs to see")
			assert.NotContains(t, body, "goroutine")
			assert.NotContains(t, body, "argon2")
			assert.NotContains(t, body, key.Data.Key)
			assert.NotContains(t, body, "password_hash")

			c.Delete("/api/v1/auth/me").RequireStatus(t, http.StatusOK)
			st, _ := me(t, app.Bearer(token))
			assert.Equal(t, http.StatusUnauthorized, st, "the deleted user's token is dead")
			st, _ = me(t, keyClient(app, key.Data.Key))
			assert.Equal(t, http.StatusUnauthorized, st, "and so are their API keys")
			app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusUnauthorized)

			admin := app.Bearer(app.Login(t, adminEmail, adminPass))
			_, notes := admin.Get("/api/v1/resource/Note").List(t)
			assert.Equal(t, 1, notes, "business documents stay")
			_, prefs := admin.Get("/api/v1/resource/User%20Preferences").List(t)
			assert.Zero(t, prefs, "preferences are erased")
			_, keys := admin.Get("/api/v1/resource/API%20Key").List(t)
			assert.Zero(t, keys, "API keys are erased")
			res := admin.Get("/api/v1/resource/Local%20User/" + ann.ID)
			if mode == "hard_delete" {
				assert.Equal(t, http.StatusNotFound, res.Status)
			} else {
				require.Equal(t, http.StatusOK, res.Status)
				rec := res.Data(t)
				assert.Equal(t, "deleted-"+ann.ID+"@invalid", rec["email"])
				assert.Equal(t, "Deleted user", rec["display_name"])
				assert.Equal(t, false, rec["is_active"])
				assert.NotContains(t, string(res.Body), annEmail)
			}
		})
	}
}
