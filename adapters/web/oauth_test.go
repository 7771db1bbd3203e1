package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
)

const oauthBase = "/api/v1/auth/oauth"

// oaConfig is an app signing in with idp as provider "test" (OIDC) or
// "gh" (GitHub style), beside passwords.
func oaConfig(t *testing.T, driver fmtest.Driver, idp *testIdP) config.Config {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	o := &cfg.Auth.OAuth
	o.Enabled = true
	o.BaseURL = "https://app.example.com"
	o.AllowedRedirects = []string{"https://portal.example.com/"}
	o.AllowedPrivateHosts = []string{"127.0.0.1"}
	if idp.github {
		o.Providers = []string{"gh"}
		o.Provider = map[string]config.OAuthProvider{"gh": {ClientID: idpClientID, ClientSecret: "s3cret",
			AuthorizationURL: idp.srv.URL + "/authorize", TokenURL: idp.srv.URL + "/token",
			UserinfoURL: idp.srv.URL + "/user", EmailsURL: idp.srv.URL + "/user/emails"}}
	} else {
		o.Providers = []string{"test"}
		o.Provider = map[string]config.OAuthProvider{"test": {ClientID: idpClientID, ClientSecret: "s3cret", Issuer: idp.srv.URL}}
	}
	return cfg
}

func oaApp(t *testing.T, driver fmtest.Driver, idp *testIdP, tune ...func(*config.Config)) *fmtest.App {
	t.Helper()
	cfg := oaConfig(t, driver, idp)
	for _, f := range tune {
		f(&cfg)
	}
	return fmtest.NewWithConfig(t, cfg)
}

// oaAuthorize visits the provider's authorization URL (which approves at
// once) and returns the app's callback path and query it redirects to.
func oaAuthorize(t *testing.T, authURL string) string {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(authURL)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusFound, res.StatusCode, "the provider approves")
	back, err := url.Parse(res.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "app.example.com", back.Host, "back to [auth.oauth] base_url")
	return back.RequestURI()
}

// oaStateCookie returns the state cookie a response sets.
func oaStateCookie(t *testing.T, res *fmtest.Response) *http.Cookie {
	t.Helper()
	for _, ck := range (&http.Response{Header: res.Header}).Cookies() {
		if ck.Name == "fm_oauth_state" {
			return ck
		}
	}
	t.Fatal("no state cookie")
	return nil
}

// oaStart starts a sign-in with provider on browser and returns the
// callback path the provider sends back to, and the state cookie.
func oaStart(t *testing.T, browser *fmtest.Client, provider, redirect string) (string, *http.Cookie) {
	t.Helper()
	res := browser.Get(oauthBase + "/" + provider + "/start?redirect=" + url.QueryEscape(redirect))
	require.Equal(t, http.StatusFound, res.Status, "%s", res.Body)
	ck := oaStateCookie(t, res)
	assert.True(t, ck.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, ck.SameSite)
	assert.Equal(t, oauthBase+"/", ck.Path)
	assert.Positive(t, ck.MaxAge)
	auth, err := url.Parse(res.Header.Get("Location"))
	require.NoError(t, err)
	q := auth.Query()
	assert.Equal(t, "S256", q.Get("code_challenge_method"))
	assert.NotEmpty(t, q.Get("state"))
	assert.Equal(t, "https://app.example.com"+oauthBase+"/"+provider+"/callback", q.Get("redirect_uri"))
	return oaAuthorize(t, auth.String()), ck
}

// oaCallback sends the callback with the state cookie ck (nil: none).
func oaCallback(app *fmtest.App, path string, ck *http.Cookie, asJSON bool) *fmtest.Response {
	h := http.Header{}
	if ck != nil {
		h.Set("Cookie", ck.Name+"="+ck.Value)
	}
	if asJSON {
		h.Set("Accept", "application/json")
	}
	return app.Anonymous().Raw(http.MethodGet, path, nil, h)
}

func oaToken(t *testing.T, res *fmtest.Response) string {
	t.Helper()
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	res.JSON(t, &tok)
	require.NotEmpty(t, tok.AccessToken)
	return tok.AccessToken
}

// TestOAuthOIDCSignIn: start → provider → callback → signed in (session
// cookie, redirect) → /me; a second sign-in finds the same user; a used,
// tampered or missing state is a 400.
func TestOAuthOIDCSignIn(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			idp := newIdP(t, false)
			app := oaApp(t, driver, idp)

			browser := mlBrowser(app)
			cb, ck := oaStart(t, browser, "test", "/app/inbox")
			res := browser.Get(cb)
			require.Equal(t, http.StatusSeeOther, res.Status, "%s", res.Body)
			assert.Equal(t, "/app/inbox", res.Header.Get("Location"))
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			require.NotEmpty(t, browser.Cookie(app.Config.Auth.Session.CookieName))
			st, u := me(t, browser)
			require.Equal(t, http.StatusOK, st)
			assert.Equal(t, "oidc-user@example.com", u.Email)
			first := u.ID

			// Replayed: the same callback with the same state cookie.
			res = oaCallback(app, cb, ck, true)
			assert.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)

			// Second sign-in (API client, JSON): the same user.
			b2 := mlBrowser(app)
			cb, ck = oaStart(t, b2, "test", "https://portal.example.com/welcome")
			res = oaCallback(app, cb, ck, true)
			tok := oaToken(t, res)
			assert.Contains(t, string(res.Body), `"redirect":"https://portal.example.com/welcome"`)
			st, u = me(t, app.Bearer(tok))
			require.Equal(t, http.StatusOK, st)
			assert.Equal(t, first, u.ID, "found by the social account")

			// Tampered state (query), tampered cookie, missing cookie.
			cb, ck = oaStart(t, mlBrowser(app), "test", "")
			tampered := strings.Replace(cb, "state=", "state=x", 1)
			assert.Equal(t, http.StatusBadRequest, oaCallback(app, tampered, ck, true).Status)
			bad := *ck
			bad.Value = "A" + bad.Value[1:]
			assert.Equal(t, http.StatusBadRequest, oaCallback(app, cb, &bad, true).Status)
			assert.Equal(t, http.StatusBadRequest, oaCallback(app, cb, nil, true).Status)
			// The state cookie of another provider name does not fit either.
			assert.Equal(t, http.StatusNotFound, oaCallback(app, strings.Replace(cb, "/test/", "/nope/", 1), ck, true).Status)
			// The untouched one still works once.
			oaToken(t, oaCallback(app, cb, ck, true))

			// The provider's refusal is a clear 4xx.
			start := browser.Get(oauthBase + "/test/start")
			ck = oaStateCookie(t, start)
			state := mustQuery(t, start.Header.Get("Location")).Get("state")
			res = oaCallback(app, oauthBase+"/test/callback?error=access_denied&state="+state, ck, true)
			assert.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
			assert.Contains(t, res.Err(t).Error.Message, "access_denied")
			// A code the provider does not know: the failed exchange is a 401.
			res = oaCallback(app, oauthBase+"/test/callback?code=forged&state="+state, ck, true)
			assert.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)
		})
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Query()
}

// TestOAuthIDTokenRefusals: a wrong nonce, an expired or wrongly signed ID
// token, a wrong audience or issuer are 401s, never 500s, and sign nobody in.
func TestOAuthIDTokenRefusals(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp)
	cases := map[string]func(map[string]any) bool{
		"wrong nonce":    func(c map[string]any) bool { c["nonce"] = "other"; return false },
		"no nonce":       func(c map[string]any) bool { delete(c, "nonce"); return false },
		"expired":        func(c map[string]any) bool { c["exp"] = time.Now().Add(-time.Hour).Unix(); return false },
		"wrongly signed": func(map[string]any) bool { return true },
		"wrong audience": func(c map[string]any) bool { c["aud"] = "someone-else"; return false },
		"wrong issuer":   func(c map[string]any) bool { c["iss"] = "https://evil.example.com"; return false },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			idp.setMutate(mutate)
			defer idp.setMutate(nil)
			browser := mlBrowser(app)
			cb, ck := oaStart(t, browser, "test", "")
			res := oaCallback(app, cb, ck, false)
			assert.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)
			assert.Empty(t, res.Header.Get("Location"))
			assert.NotContains(t, res.Header.Values("Set-Cookie"), app.Config.Auth.Session.CookieName)
		})
	}
}

// TestOAuthLinkAndUnlink: a password user links a provider, signs in with
// it, lists and unlinks it; a provider account linked to someone else
// cannot be linked again; the last way a passwordless user signs in is
// never unlinked.
func TestOAuthLinkAndUnlink(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp)
	ann := app.CreateUser(t, annEmail, annPass)
	token := app.Login(t, annEmail, annPass)
	idp.setUser(idpUser{Sub: "ann-at-idp", Email: "ann.elsewhere@example.com", Name: "Ann", Verified: true})

	// Anonymous: no linking.
	assert.Equal(t, http.StatusUnauthorized, app.Anonymous().Post(oauthBase+"/test/link", nil).Status)

	res := app.Bearer(token).Post(oauthBase+"/test/link", map[string]any{"redirect": "/app/settings"})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	ck := oaStateCookie(t, res)
	authURL, _ := res.Data(t)["authorization_url"].(string)
	require.NotEmpty(t, authURL)
	cb := oaAuthorize(t, authURL)
	res = oaCallback(app, cb, ck, true)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, true, res.Data(t)["linked"])

	list := app.Bearer(token).Get(oauthBase+"/accounts").RequireStatus(t, http.StatusOK)
	assert.Contains(t, string(list.Body), `"provider":"test"`)

	// Signing in with the provider now signs Ann in.
	cb, ck = oaStart(t, mlBrowser(app), "test", "")
	st, u := me(t, app.Bearer(oaToken(t, oaCallback(app, cb, ck, true))))
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, ann.ID, u.ID)

	// Bob cannot link Ann's provider account.
	app.CreateUser(t, "bob@example.com", annPass)
	bob := app.Login(t, "bob@example.com", annPass)
	res = app.Bearer(bob).Post(oauthBase+"/test/link", nil).RequireStatus(t, http.StatusOK)
	ck = oaStateCookie(t, res)
	res = oaCallback(app, oaAuthorize(t, res.Data(t)["authorization_url"].(string)), ck, true)
	assert.Equal(t, http.StatusConflict, res.Status, "%s", res.Body)

	// Ann has a password: unlinking her only provider is fine, once.
	app.Bearer(token).Delete(oauthBase+"/test/link").RequireStatus(t, http.StatusOK)
	assert.Equal(t, http.StatusNotFound, app.Bearer(token).Delete(oauthBase+"/test/link").Status)

	// A user the provider created has no password: its last sign-in method stays.
	idp.setUser(idpUser{Sub: "carol-at-idp", Email: "carol@example.com", Name: "Carol", Verified: true})
	cb, ck = oaStart(t, mlBrowser(app), "test", "")
	carol := oaToken(t, oaCallback(app, cb, ck, true))
	res = app.Bearer(carol).Delete(oauthBase + "/test/link")
	assert.Equal(t, http.StatusConflict, res.Status, "%s", res.Body)
	assert.Contains(t, res.Err(t).Error.Message, "only way to sign in")
}

// TestOAuthGitHubStyle: a plain OAuth2 provider read through userinfo and
// /user/emails; only the verified primary email counts, and an unverified
// one never reaches an existing account.
func TestOAuthGitHubStyle(t *testing.T) {
	idp := newIdP(t, true)
	app := oaApp(t, fmtest.SQLite, idp)
	ann := app.CreateUser(t, annEmail, annPass)

	// Unverified primary email of an existing account: refused, not linked.
	idp.setUser(idpUser{Sub: "gh-1", Email: annEmail, Name: "Mallory", Verified: false})
	cb, ck := oaStart(t, mlBrowser(app), "gh", "")
	res := oaCallback(app, cb, ck, true)
	assert.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
	token := app.Login(t, annEmail, annPass)
	list := app.Bearer(token).Get(oauthBase+"/accounts").RequireStatus(t, http.StatusOK)
	assert.Equal(t, `{"data":[]}`, strings.TrimSpace(string(list.Body)))

	// Verified primary email: linked to Ann and signed in as her.
	idp.setUser(idpUser{Sub: "gh-2", Email: annEmail, Name: "Ann", Verified: true})
	cb, ck = oaStart(t, mlBrowser(app), "gh", "")
	st, u := me(t, app.Bearer(oaToken(t, oaCallback(app, cb, ck, true))))
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, ann.ID, u.ID)
	list = app.Bearer(token).Get(oauthBase+"/accounts").RequireStatus(t, http.StatusOK)
	assert.Contains(t, string(list.Body), `"provider":"gh"`)

	// A new GitHub user with a verified email: a new user.
	idp.setUser(idpUser{Sub: "gh-3", Email: "dora@example.com", Name: "Dora", Verified: true})
	cb, ck = oaStart(t, mlBrowser(app), "gh", "")
	st, u = me(t, app.Bearer(oaToken(t, oaCallback(app, cb, ck, true))))
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "dora@example.com", u.Email)
	assert.NotEqual(t, ann.ID, u.ID)
}

// TestOAuthPrivateIssuerRefused: without the allow-list, a provider on a
// loopback address is never called.
func TestOAuthPrivateIssuerRefused(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp, func(c *config.Config) { c.Auth.OAuth.AllowedPrivateHosts = nil })
	res := mlBrowser(app).Get(oauthBase + "/test/start")
	assert.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
	assert.Contains(t, res.Err(t).Error.Message, "private address")
	assert.Zero(t, idp.hits.Load(), "the provider was never reached")
}

// TestOAuthOpenRedirectRefused: only this app's paths and allowed URLs.
func TestOAuthOpenRedirectRefused(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp)
	for _, r := range []string{"https://evil.com/", "//evil.com", "/\\evil.com", "javascript:alert(1)", "https://portal.example.com.evil.com/", "/a/../../x"} {
		res := mlBrowser(app).Get(oauthBase + "/test/start?redirect=" + url.QueryEscape(r))
		assert.Equal(t, http.StatusBadRequest, res.Status, "%s: %s", r, res.Body)
		assert.Empty(t, res.Header.Get("Location"))
	}
	assert.Equal(t, http.StatusNotFound, mlBrowser(app).Get(oauthBase+"/nope/start").Status)
}

// TestOAuthSocialOnlyMode: auth mode "social_only" runs on providers alone:
// no password routes, users created without a password hash, and their
// last provider never unlinked.
func TestOAuthSocialOnlyMode(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp, func(c *config.Config) {
		c.Auth.Mode = "social_only"
		c.Auth.OAuth.Enabled = false // the mode turns it on
		c.Auth.Strategies = []string{"session_cookie", "bearer", "api_key"}
	})
	assert.Equal(t, http.StatusNotFound, app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).Status)
	assert.Equal(t, http.StatusNotFound, app.Anonymous().Post("/api/v1/auth/password", map[string]any{"new_password": annPass}).Status)

	browser := mlBrowser(app)
	cb, _ := oaStart(t, browser, "test", "/")
	require.Equal(t, http.StatusSeeOther, browser.Get(cb).Status)
	st, u := me(t, browser)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "oidc-user@example.com", u.Email)

	doc, err := app.Repository.Get(app.SystemContext(context.Background(), ""), doctypes.LocalUserDocType, u.ID)
	require.NoError(t, err)
	assert.Empty(t, doc.(*doctypes.LocalUser).PasswordHash, "no password hash stored")

	res := browser.UseCSRF().Delete(oauthBase + "/test/link")
	assert.Equal(t, http.StatusConflict, res.Status, "%s", res.Body)
}

// TestOAuthExpiredState: a sign-in finished after the state's TTL is a 400.
func TestOAuthExpiredState(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp)
	cb, ck := oaStart(t, mlBrowser(app), "test", "")
	app.OAuth.SetClock(func() time.Time { return time.Now().Add(app.OAuth.StateTTL() + time.Second) })
	defer app.OAuth.SetClock(time.Now)
	res := oaCallback(app, cb, ck, true)
	assert.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)
	assert.Contains(t, res.Err(t).Error.Message, "expired")
}
