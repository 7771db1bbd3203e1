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
			local, err := app.Users.Local()
			require.NoError(t, err)
			admin, err := local.FindByEmail(app.SystemContext(context.Background(), ""), adminEmail)
			require.NoError(t, err)
			require.NotEmpty(t, admin.ID)
			// resolved collects the user id each strategy resolved, by method.
			resolved := map[string]string{}

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
			resolved[u.Method] = u.ID
			assert.True(t, u.HasRole("Admin"))
			assert.Equal(t, "default", u.TenantID)

			// Session cookie.
			browser := app.Browser()
			browser.Post("/api/v1/auth/login?session=true", loginBody(adminEmail, adminPass)).RequireStatus(t, http.StatusOK)
			require.NotEmpty(t, browser.Cookie("session_id"))
			st, u = me(t, browser)
			require.Equal(t, http.StatusOK, st)
			assert.Equal(t, "session_cookie", u.Method)
			resolved[u.Method] = u.ID

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
			resolved[u.Method] = u.ID

			// HTTP basic.
			bc := app.Anonymous()
			bc.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(adminEmail+":"+adminPass)))
			st, u = me(t, bc)
			require.Equal(t, http.StatusOK, st)
			assert.Equal(t, "basic", u.Method)
			resolved[u.Method] = u.ID

			// Every strategy resolves to the same user: the one the CLI created.
			assert.Equal(t, map[string]string{
				"bearer": admin.ID, "session_cookie": admin.ID, "api_key": admin.ID, "basic": admin.ID,
			}, resolved)
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

func TestAuthModes(t *testing.T) {
	// social_only needs a provider: a GitHub-style one is built without
	// calling it (no discovery).
	provider := func(c *config.Config) {
		c.Auth.OAuth.Providers = []string{"gh"}
		c.Auth.OAuth.Provider = map[string]config.OAuthProvider{"gh": {ClientID: "id", ClientSecret: "secret",
			AuthorizationURL: "https://idp.example.com/authorize", TokenURL: "https://idp.example.com/token",
			UserinfoURL: "https://idp.example.com/user", EmailsURL: "https://idp.example.com/user/emails"}}
	}
	app := authApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Auth.Mode = "social_only"
		c.Auth.Strategies = []string{"session_cookie", "bearer", "api_key"}
		provider(c)
	})
	for _, p := range []string{"/api/v1/auth/login", "/api/v1/auth/password"} {
		assert.Equal(t, http.StatusNotFound, app.Anonymous().Post(p, map[string]any{}).Status, p)
	}
	cfg := fmtest.Config(t, fmtest.SQLite)
	provider(&cfg)
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
