package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/require"
)

// testIdP is an OpenID Connect provider (discovery, JWKS, an authorize
// endpoint that approves at once, a token endpoint checking PKCE and signing
// ID tokens with jwx) — or, with github set, a GitHub-style OAuth2 provider
// (userinfo and /user/emails).
type testIdP struct {
	t      *testing.T
	srv    *httptest.Server
	key    jwk.Key
	other  jwk.Key // a key the JWKS does not publish
	github bool

	mu    sync.Mutex
	codes map[string]idpCode
	users map[string]idpUser // by access token
	// user is who approves the next authorization.
	user idpUser
	// mutate changes the next ID token's claims, or signs it with other.
	mutate func(claims map[string]any) (useOther bool)
	// hits counts requests of any kind.
	hits atomic.Int64
}

type idpUser struct {
	Sub, Email, Name string
	Verified         bool
}

type idpCode struct {
	nonce, challenge, redirect, clientID string
	user                                 idpUser
}

const idpClientID = "client-123"

func newIdP(t *testing.T, github bool) *testIdP {
	t.Helper()
	p := &testIdP{t: t, github: github, codes: map[string]idpCode{}, users: map[string]idpUser{},
		user: idpUser{Sub: "sub-1", Email: "oidc-user@example.com", Name: "Oidc User", Verified: true}}
	p.key, p.other = idpKey(t, "k1"), idpKey(t, "k1")
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("/jwks", p.jwks)
	mux.HandleFunc("/authorize", p.authorize)
	mux.HandleFunc("/token", p.token)
	mux.HandleFunc("/user", p.userinfo)
	mux.HandleFunc("/user/emails", p.emails)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func idpKey(t *testing.T, kid string) jwk.Key {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	k, err := jwk.FromRaw(raw)
	require.NoError(t, err)
	require.NoError(t, k.Set(jwk.KeyIDKey, kid))
	require.NoError(t, k.Set(jwk.AlgorithmKey, jwa.RS256))
	return k
}

func (p *testIdP) setUser(u idpUser) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = u
}

func (p *testIdP) setMutate(f func(map[string]any) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mutate = f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *testIdP) discovery(w http.ResponseWriter, _ *http.Request) {
	u := p.srv.URL
	writeJSON(w, 200, map[string]any{
		"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token",
		"jwks_uri": u + "/jwks", "userinfo_endpoint": u + "/user",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (p *testIdP) jwks(w http.ResponseWriter, _ *http.Request) {
	pub, err := jwk.PublicKeyOf(p.key)
	require.NoError(p.t, err)
	set := jwk.NewSet()
	require.NoError(p.t, set.AddKey(pub))
	writeJSON(w, 200, set)
}

// authorize approves at once: back to redirect_uri with a code and the state.
func (p *testIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != idpClientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	if !p.github && q.Get("nonce") == "" {
		http.Error(w, "no nonce", http.StatusBadRequest)
		return
	}
	code := base64.RawURLEncoding.EncodeToString(sha256.New().Sum([]byte(time.Now().String() + q.Get("state"))))[:32]
	p.mu.Lock()
	p.codes[code] = idpCode{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), clientID: q.Get("client_id"), user: p.user}
	p.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *testIdP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
		return
	}
	p.mu.Lock()
	c, ok := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code"))
	mutate := p.mutate
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge || r.PostForm.Get("redirect_uri") != c.redirect {
		writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
		return
	}
	if id, _, _ := r.BasicAuth(); id != idpClientID && r.PostForm.Get("client_id") != idpClientID {
		writeJSON(w, 401, map[string]any{"error": "invalid_client"})
		return
	}
	out := map[string]any{"access_token": "at-" + c.user.Sub + "-" + c.user.Email, "token_type": "Bearer", "expires_in": 3600}
	if !p.github {
		claims := map[string]any{
			"iss": p.srv.URL, "sub": c.user.Sub, "aud": idpClientID, "exp": time.Now().Add(5 * time.Minute).Unix(),
			"iat": time.Now().Unix(), "nonce": c.nonce, "email": c.user.Email, "email_verified": c.user.Verified, "name": c.user.Name,
		}
		key := p.key
		if mutate != nil && mutate(claims) {
			key = p.other
		}
		tok := jwt.New()
		for k, v := range claims {
			require.NoError(p.t, tok.Set(k, v))
		}
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, key))
		require.NoError(p.t, err)
		out["id_token"] = string(signed)
	}
	p.mu.Lock()
	p.users["at-"+c.user.Sub+"-"+c.user.Email] = c.user
	p.mu.Unlock()
	writeJSON(w, 200, out)
}

func (p *testIdP) bearerUser(r *http.Request) (idpUser, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.users[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	return u, ok
}

// userinfo answers GitHub's /user: a numeric id, login, name and an email
// that says nothing about verification.
func (p *testIdP) userinfo(w http.ResponseWriter, r *http.Request) {
	u, ok := p.bearerUser(r)
	if !ok {
		writeJSON(w, 401, map[string]any{"message": "Bad credentials"})
		return
	}
	id, _ := strconv.Atoi(strings.TrimPrefix(u.Sub, "gh-"))
	writeJSON(w, 200, map[string]any{"id": id, "login": "octo" + u.Sub, "name": u.Name, "email": u.Email})
}

// emails answers GitHub's /user/emails: the primary email, verified or not,
// and an unrelated verified one.
func (p *testIdP) emails(w http.ResponseWriter, r *http.Request) {
	u, ok := p.bearerUser(r)
	if !ok {
		writeJSON(w, 401, map[string]any{"message": "Bad credentials"})
		return
	}
	writeJSON(w, 200, []map[string]any{
		{"email": "secondary-" + u.Sub + "@example.com", "primary": false, "verified": true},
		{"email": u.Email, "primary": true, "verified": u.Verified},
	})
}
