package web_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// TestHostileMagicQueueLeaksLinks: the email queue keeps the link in clear
// text, and the queue is readable by "System Manager" — a role that is not
// an admin role by default. A System Manager can ask for a link for an
// admin's email (anonymous POST, no victim action), read it from the queue
// and sign in as the admin.
//
// Regression test (a review found it): core/auth/magiclink.go:316 queues the live sign-in token in the
// email body; doctypes/email_queue.go:72 lets System Manager read every
// queued body. Privilege escalation System Manager -> Admin (and any queue
// reader -> any user).
func TestHostileMagicQueueLeaksLinks(t *testing.T) {
	app, srv := mlApp(t, fmtest.SQLite)
	boss := app.CreateUser(t, "boss@example.com", "", ports.RoleAdmin)
	mlRequest(t, app, "boss@example.com", "/app")
	mlWaitMails(t, srv, 1)

	sm := app.As(fmtest.User("sm", "System Manager"))
	res := sm.Get("/api/v1/email-queue")
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	raw := strings.ReplaceAll(string(res.Body), `\u0026`, "&")
	m := mlLinkRE.FindStringSubmatch(raw)
	if m == nil {
		return // holds: the queue does not show the link
	}
	c := mlBrowser(app)
	got := c.Get(m[1])
	if got.Status != http.StatusSeeOther {
		return
	}
	st, u := me(t, c)
	require.Equal(t, http.StatusOK, st)
	assert.NotEqual(t, boss.ID, u.ID,
		"BUG: a non-admin System Manager read the admin's live sign-in link from GET /api/v1/email-queue and signed in as %s (roles %v)", u.Email, u.Roles)
}

// TestHostileMagicLoginCSRF documents the design: a link is spent by a
// plain GET and replaces the browser's session, so an attacker who mails
// themselves a link can sign a victim's browser into the attacker's
// account by getting the victim to open it (top-level navigation). This
// test asserts the current behaviour (it passes) — see the report.
func TestHostileMagicLoginCSRF(t *testing.T) {
	app, srv := mlApp(t, fmtest.SQLite)
	victim := app.CreateUser(t, annEmail, "")
	app.CreateUser(t, "mallory@example.com", "")

	mlRequest(t, app, annEmail, "/app")
	victimLink := mlLinkIn(t, mlWaitMails(t, srv, 1)[0].Data)
	browser := mlBrowser(app)
	require.Equal(t, http.StatusSeeOther, browser.Get(victimLink).Status)
	_, u := me(t, browser)
	require.Equal(t, victim.ID, u.ID)

	mlRequest(t, app, "mallory@example.com", "/app")
	evil := mlLinkIn(t, mlWaitMails(t, srv, 2)[1].Data)
	// A cross-site top-level navigation (no Origin/Referer/Sec-Fetch checks).
	res := browser.Raw(http.MethodGet, evil, nil, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Referer": {"https://evil.example/"}})
	require.Equal(t, http.StatusSeeOther, res.Status)
	_, u = me(t, browser)
	assert.Equal(t, "mallory@example.com", u.Email, "login CSRF: the victim's browser is now the attacker's account")
}

// TestHostileMagicOpenRedirects: every trick is a 400 before anything is
// mailed; paths that pass are reflected only in Location, never in a body.
func TestHostileMagicOpenRedirects(t *testing.T) {
	app, srv := mlApp(t, fmtest.SQLite)
	app.CreateUser(t, annEmail, "")
	for _, r := range []string{
		"//evil.com", "///evil.com", "/\\evil.com", "\\\\evil.com", "\\/evil.com",
		"/%2f%2fevil.com", "%2f%2fevil.com", "/%2F/evil.com",
		"/\t/evil.com", "/\n/evil.com", "/\r/evil.com", "\t//evil.com", " //evil.com", "//evil.com ",
		"/\x00/evil.com",
		"javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>",
		"vbscript:x", "https:evil.com", "https:/evil.com", "https:///evil.com", "http://evil.com",
		"https://portal.example.com@evil.com/", "https://user:pw@portal.example.com/",
		"https://evil.com\\@portal.example.com/", "https://evil.com#@portal.example.com/",
		"https://evil.com?@portal.example.com/", "https://portal.example.com.evil.com/",
		"https://portal\u3002example\u3002com/", "https://portal\uff0eexample.com/",
		"https://portal.example.com:8443/", "http://portal.example.com/", "ftp://portal.example.com/",
		"//portal.example.com/", "https://evil.com/https://portal.example.com/",
		"/" + strings.Repeat("a", 2000), "https://portal.example.com/" + strings.Repeat("a", 2000),
		"evil.com", "./evil", "../evil", "?x", "#x", "\xff\xfe", "/\xc0\xaf/evil.com",
	} {
		res := app.Anonymous().Post(magicLink, map[string]any{"email": annEmail, "redirect": r})
		assert.Equal(t, http.StatusBadRequest, res.Status, "redirect %q accepted: %s", r, res.Body)
	}
	assert.Empty(t, srv.Received(), "nothing mailed for refused redirects")

	// Accepted, harmless: percent-encoded backslashes and non-ASCII spaces
	// stay in the path of this host (browsers do not decode them there).
	for _, r := range []string{"/%5c%5cevil.com/x", "/\u00a0/evil.com", "/\u2028/evil.com"} {
		res := app.Anonymous().Post(magicLink, map[string]any{"email": "nobody@example.com", "redirect": r})
		assert.Equal(t, http.StatusAccepted, res.Status, r)
	}

	// Paths with markup pass but are only a Location header: no HTML body.
	p := `/app/x"><script>alert(1)</script>?a='b'`
	mlRequest(t, app, annEmail, p)
	link := mlLinkIn(t, mlWaitMails(t, srv, 1)[0].Data)
	res := mlBrowser(app).Get(link)
	require.Equal(t, http.StatusSeeOther, res.Status)
	assert.Equal(t, p, res.Header.Get("Location"))
	assert.NotContains(t, string(res.Body), "<script>", "redirect reflected into a body")
	assert.NotContains(t, res.Header.Get("Content-Type"), "html")
}

// TestHostileMagicNoServerErrors: no client input makes a 5xx.
func TestHostileMagicNoServerErrors(t *testing.T) {
	app, _ := mlApp(t, fmtest.SQLite)
	app.CreateUser(t, annEmail, "")
	bodies := []string{
		"", "{", "null", "[]", `"x"`, "1", `{"email":null}`, `{"email":1}`, `{"email":["a"]}`,
		`{"email":"ann@example.com","email":"bob@example.com"}`, `{"EMAIL":"ann@example.com"}`,
		`{"email":"ann@example.com\u0000"}`, `{"email":"ann@example.com","redirect":"/a\u0000"}`,
		`{"email":"a\r\nBcc: x@evil.com@example.com"}`, `{"email":"ann@example.com\r\nBcc: evil@evil.com"}`,
		`{"email":"` + strings.Repeat("a", 300) + `@example.com"}`,
		`{"email":"` + strings.Repeat("a", 1<<20) + `"}`,
		`{"email":"ann@example.com"}` + "garbage", `{"email":"\ud800@example.com"}`,
		"{\"email\":\"\xff@example.com\"}",
		`{"email":"\"a b\"@example.com"}`, `{"email":"Ann <ann@example.com>"}`,
	}
	for _, b := range bodies {
		res := app.Anonymous().Raw(http.MethodPost, magicLink, strings.NewReader(b), http.Header{"Content-Type": {"application/json"}})
		assert.Less(t, res.Status, 500, "%.80q: %d %s", b, res.Status, res.Body)
	}
	res := app.Anonymous().Raw(http.MethodPost, magicLink, strings.NewReader(`{"email":"ann@example.com"}`), http.Header{"Content-Type": {"text/plain"}})
	assert.Less(t, res.Status, 500, "%s", res.Body)

	for _, tok := range []string{
		strings.Repeat("a", 4097), strings.Repeat("a.", 3000), strings.Repeat("A", 60000) + ".x",
		"%00.%00", "a%2Fb.c", "a.b%0a", "%ff%fe.%fd", "..", "a.", ".a",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.x", "e30.e30", "bnVsbA.AAAA", // null JSON
	} {
		for _, accept := range []string{"", "application/json"} {
			r := mlBrowser(app).Raw(http.MethodGet, magicLink+"/"+tok+"?session=maybe", nil, http.Header{"Accept": {accept}})
			assert.Less(t, r.Status, 500, "%.60q %q: %d %s", tok, accept, r.Status, r.Body)
			assert.NotEqual(t, http.StatusOK, r.Status)
			assert.NotEqual(t, http.StatusSeeOther, r.Status)
		}
	}
}

// TestHostileMagicEnumeration: known, unknown and disabled emails get the
// same status, body and headers, and no order-of-magnitude time difference.
func TestHostileMagicEnumeration(t *testing.T) {
	app, _ := mlApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Auth.MagicLink.RequestsPerEmail, c.Auth.MagicLink.RequestsPerIP = 1000, 1000
	})
	app.CreateUser(t, annEmail, "")
	type shape struct {
		status int
		body   string
		keys   []string
		cc     string
	}
	get := func(addr string) (shape, time.Duration) {
		start := time.Now()
		res := app.Anonymous().Post(magicLink, map[string]any{"email": addr})
		d := time.Since(start)
		var keys []string
		for k := range res.Header {
			if k != "Date" && k != "X-Request-Id" && k != "Content-Length" {
				keys = append(keys, k)
			}
		}
		sortStrings(keys)
		return shape{res.Status, string(res.Body), keys, res.Header.Get("Cache-Control")}, d
	}
	known, _ := get(annEmail)
	unknown, _ := get("nobody@example.com")
	assert.Equal(t, known, unknown)

	var tk, tu time.Duration
	const n = 20
	for i := 0; i < n; i++ {
		_, a := get(annEmail)
		_, b := get("nobody" + string(rune('a'+i)) + "@example.com")
		tk += a
		tu += b
	}
	t.Logf("mean known %v, unknown %v", tk/n, tu/n)
	assert.Less(t, tk/n, 10*(tu/n)+5*time.Millisecond, "known emails answer an order of magnitude slower")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestHostileMagicRateLimits: per email regardless of case and whitespace;
// per address ignoring X-Forwarded-For / X-Real-IP from an untrusted peer.
func TestHostileMagicRateLimits(t *testing.T) {
	app, _ := mlApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Auth.MagicLink.RequestsPerEmail, c.Auth.MagicLink.RequestsPerIP = 2, 1000
	})
	app.CreateUser(t, annEmail, "")
	for _, a := range []string{"ann@example.com", "ANN@EXAMPLE.COM"} {
		app.Anonymous().Post(magicLink, map[string]any{"email": a}).RequireStatus(t, http.StatusAccepted)
	}
	for _, a := range []string{"Ann@Example.Com", " ann@example.com "} {
		res := app.Anonymous().Post(magicLink, map[string]any{"email": a})
		assert.Contains(t, []int{http.StatusTooManyRequests, http.StatusBadRequest}, res.Status, "%q: %d", a, res.Status)
	}

	app2, _ := mlApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Auth.MagicLink.RequestsPerEmail, c.Auth.MagicLink.RequestsPerIP = 1000, 3
	})
	for i := 0; i < 6; i++ {
		ip := "203.0.113." + string(rune('1'+i))
		res := app2.Anonymous().Raw(http.MethodPost, magicLink, strings.NewReader(`{"email":"x`+string(rune('a'+i))+`@example.com"}`),
			http.Header{"Content-Type": {"application/json"}, "X-Forwarded-For": {ip}, "X-Real-Ip": {ip}, "Forwarded": {"for=" + ip}})
		if i >= 3 {
			assert.Equal(t, http.StatusTooManyRequests, res.Status, "request %d with spoofed X-Forwarded-For %s escaped the per-address limit", i, ip)
		}
	}
}

// TestHostileMagicHeaders: the link's answers are never cached, errors too.
func TestHostileMagicHeaders(t *testing.T) {
	app, _ := mlApp(t, fmtest.SQLite)
	res := mlBrowser(app).Get(magicLink + "/a.b")
	require.Equal(t, http.StatusUnauthorized, res.Status)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"), "a 401 for a link is cacheable")
	assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
	h := app.Anonymous().Raw(http.MethodHead, magicLink+"/a.b", nil, nil)
	assert.Equal(t, "no-store", h.Header.Get("Cache-Control"))
}

// TestHostileMagicForgedTokens: tokens re-encoded, signed with the JWT
// secret itself, or varied in base64 never sign in, and a variant of a
// real token cannot be replayed after the original was used.
func TestHostileMagicForgedTokens(t *testing.T) {
	app, srv := mlApp(t, fmtest.SQLite)
	ann := app.CreateUser(t, annEmail, "")
	mlRequest(t, app, annEmail, "")
	link := mlLinkIn(t, mlWaitMails(t, srv, 1)[0].Data)
	token := strings.TrimPrefix(link, magicLink+"/")
	payload, sig, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	assert.Equal(t, ann.ID, claims["u"])

	// Signed with the raw JWT secret (with and without the label).
	jwtSecret := []byte(app.Config.Auth.JWT.Secret)
	for _, label := range []string{"", "framework-m magic link v1\x00"} {
		h := hmac.New(sha256.New, jwtSecret)
		h.Write([]byte(label + payload))
		forged := payload + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
		assert.Equal(t, http.StatusUnauthorized, mlBrowser(app).Get(magicLink+"/"+forged).Status, "signed with the JWT secret, label %q", label)
	}
	// Re-encoded claims (std base64, padding, reordered) keep the old MAC.
	re, _ := json.Marshal(claims)
	for _, p := range []string{
		base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(re),
		base64.RawURLEncoding.EncodeToString(append(raw, ' ')),
	} {
		if p == payload {
			continue
		}
		assert.Equal(t, http.StatusUnauthorized, mlBrowser(app).Get(magicLink+"/"+url.PathEscape(p)+"."+sig).Status, "re-encoded %q", p)
	}
	// Signature variants: padding, std alphabet.
	for _, s := range []string{sig + "=", sig + "==", strings.NewReplacer("-", "+", "_", "/").Replace(sig)} {
		if s == sig {
			continue
		}
		assert.Equal(t, http.StatusUnauthorized, mlBrowser(app).Get(magicLink+"/"+payload+"."+url.PathEscape(s)).Status, "sig variant %q", s)
	}
	// A variant with a newline in the MAC decodes to the same MAC (Go's
	// base64 skips \r and \n): it may work, but once only.
	variant := payload + "." + sig[:10] + "%0A" + sig[10:]
	first := mlBrowser(app).Get(magicLink + "/" + variant)
	t.Logf("newline-in-MAC variant: %d", first.Status)
	second := mlBrowser(app).Get(link)
	assert.False(t, first.Status == http.StatusSeeOther && second.Status == http.StatusSeeOther, "the same link worked twice through a base64 variant")
}
