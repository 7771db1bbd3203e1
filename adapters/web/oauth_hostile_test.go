package web_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/identity/oauth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// hostileProxy fronts idp with its own issuer so that the ID token can be
// re-encoded (alg none, HS256 keyed with the client secret).
func hostileProxy(t *testing.T, idp *testIdP, resign func(header, payload string) string) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			u := srv.URL
			writeJSON(w, 200, map[string]any{"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token",
				"jwks_uri": u + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256", "HS256", "none"},
				"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"}})
		case "/jwks":
			idp.jwks(w, r)
		case "/authorize":
			idp.authorize(w, r)
		case "/token":
			rec := httptest.NewRecorder()
			idp.token(rec, r)
			var out map[string]any
			if json.Unmarshal(rec.Body.Bytes(), &out) != nil || out["id_token"] == nil {
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
			parts := strings.Split(out["id_token"].(string), ".")
			out["id_token"] = resign(parts[0], parts[1])
			writeJSON(w, 200, out)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	idp.setMutate(func(c map[string]any) bool { c["iss"] = srv.URL; return false })
	return srv
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestHostileOAuthAlgConfusion: alg "none" and HS256 keyed with the client
// secret must never sign anyone in.
func TestHostileOAuthAlgConfusion(t *testing.T) {
	cases := map[string]func(h, p string) string{
		"alg none": func(_, p string) string { return b64(`{"alg":"none","typ":"JWT"}`) + "." + p + "." },
		"HS256 with client secret": func(_, p string) string {
			h := b64(`{"alg":"HS256","typ":"JWT","kid":"k1"}`)
			m := hmac.New(sha256.New, []byte("s3cret"))
			m.Write([]byte(h + "." + p))
			return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		},
		"kid swapped unsigned RS256": func(_, p string) string {
			return b64(`{"alg":"RS256","kid":"other"}`) + "." + p + "." + b64("junk")
		},
	}
	for name, resign := range cases {
		t.Run(name, func(t *testing.T) {
			idp := newIdP(t, false)
			px := hostileProxy(t, idp, resign)
			app := oaApp(t, fmtest.SQLite, idp, func(c *config.Config) {
				c.Auth.OAuth.Provider = map[string]config.OAuthProvider{"test": {ClientID: idpClientID, ClientSecret: "s3cret", Issuer: px.URL}}
			})
			cb, ck := oaStart(t, mlBrowser(app), "test", "")
			res := oaCallback(app, cb, ck, true)
			assert.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)
		})
	}
}

// TestHostileOAuthIDTokenClaims: an ID token with several audiences whose
// azp is another client, or issued in the future, is refused.
func TestHostileOAuthIDTokenClaims(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp)
	cases := map[string]func(map[string]any) bool{
		// Regression test (a review found it): go-oidc checks only that aud contains the client id; azp is
		// never checked (OIDC Core 3.1.3.7 #4-5), so a token minted for
		// another client of the same issuer is accepted.
		"multi aud, azp other": func(c map[string]any) bool {
			c["aud"] = []string{"other-client", idpClientID}
			c["azp"] = "other-client"
			return false
		},
		// BUG (low): iat is never checked; a token "issued" a day ahead passes.
		"iat in the future": func(c map[string]any) bool { c["iat"] = time.Now().Add(24 * time.Hour).Unix(); return false },
		"nbf in the future": func(c map[string]any) bool { c["nbf"] = time.Now().Add(time.Hour).Unix(); return false },
		"empty sub":         func(c map[string]any) bool { c["sub"] = ""; return false },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			idp.setMutate(mutate)
			defer idp.setMutate(nil)
			cb, ck := oaStart(t, mlBrowser(app), "test", "")
			res := oaCallback(app, cb, ck, true)
			assert.Equal(t, http.StatusUnauthorized, res.Status, "ID token accepted: %s", res.Body)
		})
	}
}

// TestHostileOAuthKelvinEmailTakeover: a provider-verified email that is a
// different mailbox but lower-cases (strings.ToLower) to an existing local
// user's email must not sign in as that user.
func TestHostileOAuthKelvinEmailTakeover(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp)
	kate := app.CreateUser(t, "kate@example.com", annPass)
	// U+212A KELVIN SIGN: strings.ToLower maps it to ASCII "k".
	idp.setUser(idpUser{Sub: "mallory", Email: "\u212Aate@example.com", Name: "Mallory", Verified: true})
	cb, ck := oaStart(t, mlBrowser(app), "test", "")
	res := oaCallback(app, cb, ck, true)
	if res.Status == http.StatusOK {
		st, u := me(t, app.Bearer(oaToken(t, res)))
		require.Equal(t, http.StatusOK, st)
		// Regression test (a review found it): core/auth/password.go NormalizeEmail uses strings.ToLower on the
		// whole (UTF-8) address, so "\u212Aate@" becomes "kate@" and
		// core/auth/oauth.go findOrCreate links the attacker's provider
		// account to Kate: account takeover.
		assert.NotEqual(t, kate.ID, u.ID, "BUG: a verified \\u212Aate@example.com took over kate@example.com")
	}
}

// TestHostileOAuthGitHubSecondaryEmail: a verified but non-primary GitHub
// email of an existing user never reaches that user.
func TestHostileOAuthGitHubSecondaryEmail(t *testing.T) {
	idp := newIdP(t, true)
	app := oaApp(t, fmtest.SQLite, idp)
	victim := app.CreateUser(t, "secondary-gh-9@example.com", annPass)
	idp.setUser(idpUser{Sub: "gh-9", Email: "mallory9@example.com", Name: "M", Verified: false})
	cb, ck := oaStart(t, mlBrowser(app), "gh", "")
	res := oaCallback(app, cb, ck, true)
	if res.Status == http.StatusOK {
		_, u := me(t, app.Bearer(oaToken(t, res)))
		assert.NotEqual(t, victim.ID, u.ID)
	} else {
		assert.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
	}
}

// TestHostileOAuthLoginCSRF: the attacker's code with the victim's state
// (PKCE binds the code), and the victim's state cookie on another
// provider's callback, are refused.
func TestHostileOAuthLoginCSRF(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp)
	idp.setUser(idpUser{Sub: "attacker", Email: "attacker@example.com", Name: "A", Verified: true})
	attackerCB, _ := oaStart(t, mlBrowser(app), "test", "")
	attackerCode := mustQuery(t, attackerCB).Get("code")

	victim := mlBrowser(app)
	res := victim.Get(oauthBase + "/test/start")
	require.Equal(t, http.StatusFound, res.Status)
	vck := oaStateCookie(t, res)
	vstate := mustQuery(t, res.Header.Get("Location")).Get("state")
	r := oaCallback(app, oauthBase+"/test/callback?code="+url.QueryEscape(attackerCode)+"&state="+url.QueryEscape(vstate), vck, true)
	assert.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
	// The victim's state was burnt by that attempt: no second use.
	r = oaCallback(app, oauthBase+"/test/callback?code=x&state="+url.QueryEscape(vstate), vck, true)
	assert.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	// A link-mode cookie does not sign the attacker in as the linker either:
	// covered by readState (same MAC); a cookie with the sign-in state of a
	// different flow is refused.
	_, ck2 := oaStart(t, mlBrowser(app), "test", "")
	r = oaCallback(app, oauthBase+"/test/callback?code=x&state="+url.QueryEscape(vstate), ck2, true)
	assert.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
}

// TestHostileOAuthOpenRedirect: more redirect forms on start.
func TestHostileOAuthOpenRedirect(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp)
	for _, r := range []string{"/%2F%2Fevil.com", "https://portal.example.com@evil.com/", "https:evil.com", "https:/evil.com",
		"///evil.com", "/\t/evil.com", "http://portal.example.com/", "https://portal.example.com:444/", "/%2e%2e/%2e%2e/x"} {
		res := mlBrowser(app).Get(oauthBase + "/test/start?redirect=" + url.QueryEscape(r))
		if res.Status == http.StatusFound {
			// Accepted: the final redirect must stay on this app or the allowed host.
			cb := oaAuthorize(t, res.Header.Get("Location"))
			ck := oaStateCookie(t, res)
			out := oaCallback(app, cb, ck, false)
			loc, err := url.Parse("https://app.example.com/")
			require.NoError(t, err)
			to, err := loc.Parse(out.Header.Get("Location"))
			require.NoError(t, err)
			assert.Contains(t, []string{"app.example.com", "portal.example.com"}, to.Host, "redirect %q ends at %q", r, out.Header.Get("Location"))
			continue
		}
		assert.Equal(t, http.StatusBadRequest, res.Status, "%s: %s", r, res.Body)
	}
}

func browserLogin(t *testing.T, app *fmtest.App, email string) *fmtest.Client {
	b := mlBrowser(app)
	res := b.Post("/api/v1/auth/login?session=true", loginBody(email, annPass))
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.NotEmpty(t, b.Cookie(app.Config.Auth.Session.CookieName))
	return b
}

// TestHostileOAuthLinkCSRF: on a cookie session, link and unlink need the
// CSRF token.
func TestHostileOAuthLinkCSRF(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp)
	app.CreateUser(t, annEmail, annPass)
	b := browserLogin(t, app, annEmail)
	assert.Equal(t, http.StatusForbidden, b.Post(oauthBase+"/test/link", nil).Status, "link without CSRF")
	assert.Equal(t, http.StatusForbidden, b.Delete(oauthBase+"/test/link").Status, "unlink without CSRF")
	// Another user's link cannot be removed: the route only ever touches the caller.
	assert.Equal(t, http.StatusNotFound, b.UseCSRF().Delete(oauthBase+"/test/link").Status)
}

// TestHostileOAuthUnlinkStaleProvider: a link to a provider that is no
// longer configured is not a way to sign in: it must not allow unlinking
// the last working one.
func TestHostileOAuthUnlinkStaleProvider(t *testing.T) {
	idp := newIdP(t, false)
	app := oaApp(t, fmtest.SQLite, idp)
	idp.setUser(idpUser{Sub: "carol-at-idp", Email: "carol@example.com", Name: "Carol", Verified: true})
	cb, ck := oaStart(t, mlBrowser(app), "test", "")
	carol := oaToken(t, oaCallback(app, cb, ck, true))
	_, u := me(t, app.Bearer(carol))
	ctx := app.SystemContext(context.Background(), "")
	require.NoError(t, app.Repository.Create(ctx, doctypes.SocialAccountDocType, &doctypes.SocialAccount{
		Provider: "removed-provider", ProviderUserID: "x", UserID: u.ID}))
	res := app.Bearer(carol).Delete(oauthBase + "/test/link")
	// BUG: core/auth/oauth.go Unlink counts links of every provider name in
	// "others", configured or not: a passwordless user with a stale row of a
	// removed provider unlinks the only working one and is locked out.
	assert.Equal(t, http.StatusConflict, res.Status, "BUG: last working provider unlinked: %s", res.Body)
}

// TestHostileOAuthProviderData: multibyte display names cut at 140 bytes,
// an oversized subject or email never make a 500 or invalid UTF-8.
func TestHostileOAuthProviderData(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			idp := newIdP(t, false)
			app := oaApp(t, driver, idp)
			idp.setUser(idpUser{Sub: "utf8", Email: "utf8@example.com", Name: "a" + strings.Repeat("é", 100), Verified: true})
			cb, ck := oaStart(t, mlBrowser(app), "test", "")
			res := oaCallback(app, cb, ck, true)
			// BUG: core/auth/oauth.go findOrCreate and accountOf cut the name
			// with name[:140] (bytes), splitting "é": invalid UTF-8 is stored
			// (Postgres refuses it: 500).
			require.Equal(t, http.StatusOK, res.Status, "BUG: multibyte display name: %s", res.Body)
			ctx := app.SystemContext(context.Background(), "")
			list, err := app.Repository.List(ctx, doctypes.LocalUserDocType, ports.Query{Filters: []ports.Filter{{Field: "email", Op: ports.OpEq, Value: "utf8@example.com"}}})
			require.NoError(t, err)
			require.Len(t, list.Items, 1)
			name := list.Items[0].(*doctypes.LocalUser).DisplayName
			assert.True(t, utf8.ValidString(name), "BUG: stored display name is invalid UTF-8: %q", name)

			idp.setUser(idpUser{Sub: strings.Repeat("s", 300), Email: "long" + strings.Repeat("x", 300) + "@example.com", Name: "L", Verified: true})
			app.CreateUser(t, annEmail, annPass)
			tok := app.Login(t, annEmail, annPass)
			lr := app.Bearer(tok).Post(oauthBase+"/test/link", nil).RequireStatus(t, http.StatusOK)
			res = oaCallback(app, oaAuthorize(t, lr.Data(t)["authorization_url"].(string)), oaStateCookie(t, lr), true)
			assert.Less(t, res.Status, 500, "oversized subject/email in link mode: %s", res.Body)
		})
	}
}

// TestHostileOAuthMalformedProvider: garbage from a GitHub-style provider is
// a clean 4xx/502/503, never a 500 or leaked internals.
func TestHostileOAuthMalformedProvider(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"token not json": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, "<html>oops")
				return
			}
			writeJSON(w, 200, map[string]any{"id": 1, "login": "x"})
		},
		"token without access_token": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"token_type": "bearer"})
		},
		"userinfo garbage": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				writeJSON(w, 200, map[string]any{"access_token": "a", "token_type": "bearer"})
				return
			}
			_, _ = io.WriteString(w, `{"id":`)
		},
		"userinfo id object, emails object": func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/token":
				writeJSON(w, 200, map[string]any{"access_token": "a", "token_type": "bearer"})
			case "/user":
				writeJSON(w, 200, map[string]any{"id": map[string]any{"x": 1}, "sub": 5})
			default:
				writeJSON(w, 200, map[string]any{"email": "x"})
			}
		},
		"huge userinfo": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				writeJSON(w, 200, map[string]any{"access_token": "a", "token_type": "bearer"})
				return
			}
			_, _ = io.WriteString(w, `{"id":1,"login":"`)
			chunk := strings.Repeat("A", 1<<16)
			for i := 0; i < 64; i++ {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
			_, _ = io.WriteString(w, `"}`)
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			idp := newIdP(t, true)
			app := oaApp(t, fmtest.SQLite, idp, func(c *config.Config) {
				c.Auth.OAuth.Provider = map[string]config.OAuthProvider{"gh": {ClientID: idpClientID, ClientSecret: "s3cret",
					AuthorizationURL: srv.URL + "/authorize", TokenURL: srv.URL + "/token", UserinfoURL: srv.URL + "/user", EmailsURL: srv.URL + "/emails"}}
			})
			res := mlBrowser(app).Get(oauthBase + "/gh/start")
			require.Equal(t, http.StatusFound, res.Status, "%s", res.Body)
			ck := oaStateCookie(t, res)
			state := mustQuery(t, res.Header.Get("Location")).Get("state")
			out := oaCallback(app, oauthBase+"/gh/callback?code=c&state="+url.QueryEscape(state), ck, true)
			assert.NotEqual(t, http.StatusInternalServerError, out.Status, "%s", out.Body)
			assert.NotEqual(t, http.StatusOK, out.Status, "%s", out.Body)
			for _, leak := range []string{"goroutine", "invalid character", "oauth2:", "unexpected EOF", ".go:"} {
				assert.NotContains(t, string(out.Body), leak)
			}
			t.Logf("%s -> %d %s", name, out.Status, out.Body)
		})
	}
}

// TestHostileOAuthSSRF: the outbound client refuses private targets in
// every spelling, re-checks redirects, and caps bodies.
func TestHostileOAuthSSRF(t *testing.T) {
	hc, err := oauth.NewHTTPClient(oauth.ClientOptions{Timeout: 2 * time.Second})
	require.NoError(t, err)
	for _, u := range []string{"http://127.0.0.1:1/", "http://[::1]:1/", "http://[::ffff:127.0.0.1]:1/", "http://0.0.0.0:1/",
		"http://169.254.169.254/latest/meta-data/", "http://2130706433:1/", "http://0x7f.1:1/", "http://localhost:1/",
		"http://[fe80::1%25lo]:1/", "http://10.0.0.1:1/", "http://[fd00::1]:1/", "http://100.100.100.200/",
		// Regression test (a review found it): adapters/identity/oauth/client.go private() misses NAT64
		// (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16), site-local
		// (fec0::/10) and IPv4-compatible (::/96) forms, which embed
		// 127.0.0.1 / private IPv4 and are dialled instead of refused.
		"http://[64:ff9b::7f00:1]:1/", "http://[2002:7f00:1::]:1/", "http://[fec0::1]:1/", "http://[::127.0.0.1]:1/"} {
		_, err := hc.Get(u)
		require.Error(t, err, u)
		if !errors.Is(err, oauth.ErrPrivateAddress) {
			// Name resolution failures are fine; a dial attempt to the address is not.
			if strings.Contains(err.Error(), "no such host") || strings.Contains(err.Error(), "invalid URL") || strings.Contains(err.Error(), "server misbehaving") {
				continue
			}
			t.Errorf("BUG: %s was dialled (not refused as private): %v", u, err)
		}
	}

	// Redirect from an allowed host name to a bare loopback IP.
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "secret") }))
	t.Cleanup(target.Close)
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/", http.StatusFound)
	}))
	t.Cleanup(redir.Close)
	hc2, err := oauth.NewHTTPClient(oauth.ClientOptions{AllowedPrivateHosts: []string{"localhost"}, Timeout: 2 * time.Second, MaxResponseBytes: 1024})
	require.NoError(t, err)
	rurl := strings.Replace(redir.URL, "127.0.0.1", "localhost", 1)
	_, err = hc2.Get(rurl)
	assert.ErrorIs(t, err, oauth.ErrPrivateAddress, "redirect to 127.0.0.1 from an allowed name")

	// Huge, chunked body: cut at MaxResponseBytes.
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i < 1000; i++ {
			if _, err := io.WriteString(w, strings.Repeat("x", 1024)); err != nil {
				return
			}
		}
	}))
	t.Cleanup(big.Close)
	res, err := hc2.Get(strings.Replace(big.URL, "127.0.0.1", "localhost", 1))
	require.NoError(t, err)
	n, _ := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	assert.LessOrEqual(t, n, int64(1024))

	// Slow answer: bounded by the timeout.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	start := time.Now()
	_, err = hc2.Get(strings.Replace(slow.URL, "127.0.0.1", "localhost", 1))
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
}
