package web_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/smtptest"
)

const magicLink = "/api/v1/auth/magic-link"

// mlConfig is a passwordless app's configuration on driver, mailing
// through the [email.smtp] section smtp.
func mlConfig(t *testing.T, driver fmtest.Driver, smtp map[string]any) config.Config {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	cfg.Auth.Mode = "passwordless"
	cfg.Auth.Strategies = []string{"session_cookie", "bearer", "api_key"}
	cfg.Auth.MagicLink.BaseURL = "https://app.example.com"
	cfg.Auth.MagicLink.AllowedRedirects = []string{"https://portal.example.com/"}
	cfg.Email.Sender = "smtp"
	cfg.SetSection("email.smtp", smtp)
	cfg.Email.Queue.PollIntervalMS = 20
	cfg.Email.Queue.RetryBaseMS, cfg.Email.Queue.RetryMaxMS = 1, 5
	return cfg
}

// mlApp is a passwordless app sending to a scripted SMTP server.
func mlApp(t *testing.T, driver fmtest.Driver, tune ...func(*config.Config)) (*fmtest.App, *smtptest.Server) {
	t.Helper()
	srv := smtptest.Start(t)
	cfg := mlConfig(t, driver, srv.Section())
	for _, f := range tune {
		f(&cfg)
	}
	return fmtest.NewWithConfig(t, cfg), srv
}

// mlBrowser is a browser that does not follow redirects.
func mlBrowser(app *fmtest.App) *fmtest.Client {
	c := app.Browser()
	c.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

var mlLinkRE = regexp.MustCompile(`https://app\.example\.com(/api/v1/auth/magic-link/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)`)

// mlLinkIn returns the path of the link in an email's text, which may be a
// whole MIME message (quoted-printable or base64 parts).
func mlLinkIn(t *testing.T, raw string) string {
	t.Helper()
	var texts []string
	if msg, err := mail.ReadMessage(strings.NewReader(raw)); err == nil {
		texts = mlBodies(t, textproto.MIMEHeader(msg.Header), msg.Body)
	}
	texts = append(texts, raw) // not a MIME message: the text itself
	for _, s := range texts {
		if m := mlLinkRE.FindStringSubmatch(s); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no sign-in link in the email:\n%s", raw)
	return ""
}

// mlBodies returns the decoded text of every leaf part of a MIME entity.
func mlBodies(t *testing.T, h textproto.MIMEHeader, r io.Reader) []string {
	t.Helper()
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		var out []string
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return out
			}
			require.NoError(t, err)
			out = append(out, mlBodies(t, p.Header, p)...)
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return []string{string(b)}
}

// mlWaitMails waits until srv has received n emails and returns them.
func mlWaitMails(t *testing.T, srv *smtptest.Server, n int) []smtptest.Message {
	t.Helper()
	require.Eventually(t, func() bool { return len(srv.Received()) >= n }, 15*time.Second, 10*time.Millisecond, "want %d emails", n)
	got := srv.Received()
	require.Len(t, got, n)
	return got
}

// mlRequest asks app for a link for addr and checks the one answer.
func mlRequest(t *testing.T, app *fmtest.App, addr, redirect string) {
	t.Helper()
	res := app.Anonymous().Post(magicLink, map[string]any{"email": addr, "redirect": redirect}).RequireStatus(t, http.StatusAccepted)
	assert.JSONEq(t, `{"data":{"accepted":true,"message":"If an account has this email, a sign-in link is on its way."}}`, string(res.Body))
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
}

// TestMagicLinkOverHTTP: the link arrives by SMTP, signs its user in once
// (cookie session, redirect), and never again; an unknown email gets the
// same 202 and no email; password routes do not exist.
func TestMagicLinkOverHTTP(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app, srv := mlApp(t, driver)
			ann := app.CreateUser(t, annEmail, "")

			// Passwordless: no password login, no password change, no basic auth.
			assert.Equal(t, http.StatusNotFound, app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).Status)
			assert.Equal(t, http.StatusNotFound, app.Anonymous().Post("/api/v1/auth/password", map[string]any{"new_password": annPass}).Status)

			mlRequest(t, app, "nobody@example.com", "/app/inbox")
			mlRequest(t, app, "ANN@example.com", "/app/inbox")
			got := mlWaitMails(t, srv, 1)
			assert.Equal(t, []string{annEmail}, got[0].To, "only the account's email was sent")
			assert.Contains(t, got[0].Data, "Subject: Sign in to Framework M")
			link := mlLinkIn(t, got[0].Data)
			_, total := app.As(fmtest.Admin()).Get("/api/v1/email-queue").RequireStatus(t, http.StatusOK).List(t)
			assert.Equal(t, 1, total, "nothing was queued for the unknown email")

			// A HEAD (link checkers) does not spend the link.
			assert.Equal(t, http.StatusOK, app.Anonymous().Raw(http.MethodHead, link, nil, nil).Status)

			browser := mlBrowser(app)
			res := browser.Get(link)
			require.Equal(t, http.StatusSeeOther, res.Status, "%s", res.Body)
			assert.Equal(t, "/app/inbox", res.Header.Get("Location"))
			assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			require.NotEmpty(t, browser.Cookie(app.Config.Auth.Session.CookieName))
			st, u := me(t, browser)
			require.Equal(t, http.StatusOK, st)
			assert.Equal(t, ann.ID, u.ID)
			assert.Equal(t, annEmail, u.Email)
			// The session works for writes with its CSRF token, like a password login's.
			browser.UseCSRF().Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)

			// Used: refused, on every client, in the JSON error shape.
			again := mlBrowser(app).Get(link)
			require.Equal(t, http.StatusUnauthorized, again.Status)
			e := again.Err(t)
			assert.Equal(t, "unauthorized", strings.ToLower(e.Error.Code))
			assert.Contains(t, e.Error.Message, "already used")
			assert.Empty(t, again.Header.Get("Location"))

			// An API client gets the login's JSON: a token (and a session when asked).
			mlRequest(t, app, annEmail, "https://portal.example.com/welcome")
			link = mlLinkIn(t, mlWaitMails(t, srv, 2)[1].Data)
			res = app.Anonymous().Raw(http.MethodGet, link+"?session=true", nil, http.Header{"Accept": {"application/json"}}).RequireStatus(t, http.StatusOK)
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				CSRFToken   string `json:"csrf_token"`
				Redirect    string `json:"redirect"`
			}
			res.JSON(t, &tok)
			assert.NotEmpty(t, tok.AccessToken)
			assert.NotEmpty(t, tok.CSRFToken)
			assert.Equal(t, "https://portal.example.com/welcome", tok.Redirect)
			st, u = me(t, app.Bearer(tok.AccessToken))
			require.Equal(t, http.StatusOK, st)
			assert.Equal(t, ann.ID, u.ID)
		})
	}
}

// TestMagicLinkRefusals: expired, tampered, foreign and outdated links are
// 401s (never 500s); open redirects are 400s and mail nothing.
func TestMagicLinkRefusals(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app, srv := mlApp(t, driver)
			ann := app.CreateUser(t, annEmail, "")

			for _, redirect := range []string{
				"//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)", "http://portal.example.com/",
				"https://portal.example.com.evil.com/", "/%2F/evil.com", "evil.com", "/\t/evil.com",
			} {
				res := app.Anonymous().Post(magicLink, map[string]any{"email": annEmail, "redirect": redirect})
				require.Equal(t, http.StatusBadRequest, res.Status, redirect)
				assert.Contains(t, res.Err(t).Error.Fields, "redirect", redirect)
			}
			for _, body := range []any{
				map[string]any{"email": "not an email"},
				map[string]any{},
				map[string]any{"email": annEmail, "extra": 1},
				"[]",
			} {
				assert.Equal(t, http.StatusBadRequest, app.Anonymous().Post(magicLink, body).Status, "%v", body)
			}

			// Expired: 15 minutes and a second later.
			mlRequest(t, app, annEmail, "")
			expired := mlLinkIn(t, mlWaitMails(t, srv, 1)[0].Data)
			app.MagicLinks.SetClock(func() time.Time { return time.Now().Add(15*time.Minute + time.Second) })
			res := mlBrowser(app).Get(expired)
			require.Equal(t, http.StatusUnauthorized, res.Status)
			assert.Contains(t, res.Err(t).Error.Message, "invalid or expired")
			app.MagicLinks.SetClock(time.Now)

			// Tampered, truncated, garbage: 401 in the JSON shape.
			mlRequest(t, app, annEmail, "")
			link := mlLinkIn(t, mlWaitMails(t, srv, 2)[1].Data)
			token := strings.TrimPrefix(link, magicLink+"/")
			payload, sig, _ := strings.Cut(token, ".")
			for _, bad := range []string{
				payload + "." + strings.Repeat("A", len(sig)),
				payload[:len(payload)-2] + "." + sig,
				"x", "a.b", "..", strings.Repeat("z", 6000),
				"%00", "%ff.%fe",
			} {
				res := mlBrowser(app).Get(magicLink + "/" + bad)
				require.Equal(t, http.StatusUnauthorized, res.Status, "%q: %s", bad, res.Body)
				assert.NotEmpty(t, res.Err(t).Error.Message)
			}

			// A logout everywhere (token version) ends the links sent before.
			require.NoError(t, app.Users.LogoutEverywhere(app.SystemContext(context.Background(), ""), ann.ID))
			require.Eventually(t, func() bool { return mlBrowser(app).Get(link).Status == http.StatusUnauthorized }, 5*time.Second, 20*time.Millisecond)
			assert.Len(t, srv.Received(), 2)
		})
	}
}

// TestMagicLinkTenants: a link mailed in tenant A is refused in tenant B,
// even for a user of B with the same email.
func TestMagicLinkTenants(t *testing.T) {
	app, srv := mlApp(t, fmtest.SQLite, fmtest.MultiTenant)
	app.CreateUser(t, annEmail, "", "tenant:A")
	app.CreateUser(t, annEmail, "", "tenant:B")
	app.Anonymous().Tenant("A").Post(magicLink, map[string]any{"email": annEmail}).RequireStatus(t, http.StatusAccepted)
	link := mlLinkIn(t, mlWaitMails(t, srv, 1)[0].Data)
	inB := mlBrowser(app).Tenant("B")
	assert.Equal(t, http.StatusUnauthorized, inB.Get(link).Status)
	inA := mlBrowser(app).Tenant("A")
	require.Equal(t, http.StatusSeeOther, inA.Get(link).Status)
	st, u := me(t, inA)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "A", u.TenantID)
}

// TestMagicLinkRateLimits: past the per-email and per-address limits the
// request is a 429 with Retry-After, known email or not.
func TestMagicLinkRateLimits(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app, srv := mlApp(t, driver, func(c *config.Config) {
				c.Auth.MagicLink.RequestsPerEmail, c.Auth.MagicLink.RequestsPerIP = 2, 6
			})
			app.CreateUser(t, annEmail, "")
			for _, addr := range []string{annEmail, "nobody@example.com"} {
				mlRequest(t, app, addr, "")
				mlRequest(t, app, addr, "")
				res := app.Anonymous().Post(magicLink, map[string]any{"email": addr})
				require.Equal(t, http.StatusTooManyRequests, res.Status, addr)
				assert.NotEmpty(t, res.Header.Get("Retry-After"))
				assert.NotEmpty(t, res.Err(t).Error.Message)
			}
			// Six counted from this address: the seventh is refused whatever the email.
			assert.Equal(t, http.StatusTooManyRequests, app.Anonymous().Post(magicLink, map[string]any{"email": "third@example.com"}).Status)
			mlWaitMails(t, srv, 2)
		})
	}
}

// TestMagicLinkSecondInstance: two instances on one database (one SQLite
// file, one PostgreSQL schema): a link used on one is refused by the other;
// a link mailed by one works on the other.
func TestMagicLinkSecondInstance(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			srv := smtptest.Start(t)
			cfg := mlConfig(t, driver, srv.Section())
			a := fmtest.NewWithConfig(t, cfg)
			b := fmtest.NewWithConfig(t, cfg)
			a.CreateUser(t, annEmail, "")

			mlRequest(t, a, annEmail, "/app")
			link := mlLinkIn(t, mlWaitMails(t, srv, 1)[0].Data)
			require.Equal(t, http.StatusSeeOther, mlBrowser(a).Get(link).Status)
			res := mlBrowser(b).Get(link)
			require.Equal(t, http.StatusUnauthorized, res.Status, "used on A: refused on B")
			assert.Contains(t, res.Err(t).Error.Message, "already used")

			mlRequest(t, a, annEmail, "/app")
			link = mlLinkIn(t, mlWaitMails(t, srv, 2)[1].Data)
			onB := mlBrowser(b)
			require.Equal(t, http.StatusSeeOther, onB.Get(link).Status, "mailed by A, used on B")
			st, _ := me(t, onB)
			assert.Equal(t, http.StatusOK, st)
			assert.Equal(t, http.StatusUnauthorized, mlBrowser(a).Get(link).Status)
		})
	}
}

// TestMagicLinkModes: off in local mode unless enabled; enabled beside
// passwords, both work; signup creates a passwordless user.
func TestMagicLinkModes(t *testing.T) {
	local := fmtest.New(t, fmtest.SQLite)
	assert.Equal(t, http.StatusNotFound, local.Anonymous().Post(magicLink, map[string]any{"email": annEmail}).Status)
	assert.Nil(t, local.MagicLinks)

	// Beside passwords: both sign ann in.
	app, srv := mlApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Auth.Mode = "local"
		c.Auth.Strategies = []string{"session_cookie", "bearer", "api_key", "basic"}
		c.Auth.MagicLink.Enabled = true
	})
	ann := app.CreateUser(t, annEmail, annPass)
	app.Login(t, annEmail, annPass)
	mlRequest(t, app, annEmail, "")
	mlRequest(t, app, "newcomer@example.com", "")
	link := mlLinkIn(t, mlWaitMails(t, srv, 1)[0].Data)
	c := mlBrowser(app)
	require.Equal(t, http.StatusSeeOther, c.Get(link).Status)
	st, u := me(t, c)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, ann.ID, u.ID)

	// Passwordless with signup: an unknown email becomes a user without
	// password or roles.
	app, srv = mlApp(t, fmtest.SQLite, func(c *config.Config) { c.Auth.MagicLink.EnableSignup = true })
	mlRequest(t, app, "newcomer@example.com", "")
	link = mlLinkIn(t, mlWaitMails(t, srv, 1)[0].Data)
	c = mlBrowser(app)
	require.Equal(t, http.StatusSeeOther, c.Get(link).Status)
	st, u = me(t, c)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "newcomer@example.com", u.Email)
	assert.Empty(t, u.Roles)
	doc, err := app.Repository.Get(app.SystemContext(context.Background(), ""), doctypes.LocalUserDocType, u.ID)
	require.NoError(t, err)
	assert.Empty(t, doc.(*doctypes.LocalUser).PasswordHash, "no password hash stored")
}

// TestMagicLinkMailpit: against the SMTP server of .ci/run, the link
// arrives and works once.
func TestMagicLinkMailpit(t *testing.T) {
	mp := smtptest.MailpitFromEnv(t)
	cfg := mlConfig(t, fmtest.SQLite, mp.Section())
	app := fmtest.NewWithConfig(t, cfg)
	var r [6]byte
	_, _ = rand.Read(r[:])
	addr := "ann-" + hex.EncodeToString(r[:]) + "@example.com"
	app.CreateUser(t, addr, "")
	mlRequest(t, app, addr, "/app/inbox")
	found := mp.WaitFor(t, "to:"+addr, 1, 30*time.Second)
	require.Len(t, found, 1)
	var msg struct {
		Text string `json:"Text"`
		HTML string `json:"HTML"`
		To   []struct {
			Address string `json:"Address"`
		} `json:"To"`
	}
	mp.Message(t, found[0].ID, &msg)
	require.Len(t, msg.To, 1)
	assert.Equal(t, addr, msg.To[0].Address)
	link := mlLinkIn(t, msg.Text)
	assert.Equal(t, link, mlLinkIn(t, msg.HTML))
	c := mlBrowser(app)
	res := c.Get(link)
	require.Equal(t, http.StatusSeeOther, res.Status, "%s", res.Body)
	assert.Equal(t, "/app/inbox", res.Header.Get("Location"))
	st, u := me(t, c)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, addr, u.Email)
	assert.Equal(t, http.StatusUnauthorized, mlBrowser(app).Get(link).Status, "works once")
}
