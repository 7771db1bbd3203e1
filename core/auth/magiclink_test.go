package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/ratelimit/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/fmtest/fakes"
	"github.com/framework-m/framework-m/ports"
)

const linkBase = "https://app.example.com/api/v1/auth/magic-link/"

// queuedMails is an auth.Mailer that keeps what it is given.
type queuedMails struct {
	mu   sync.Mutex
	reqs []email.Request
	ctxs []context.Context
}

func (q *queuedMails) QueueEmail(ctx context.Context, req email.Request) (*ports.QueuedEmail, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reqs = append(q.reqs, req)
	q.ctxs = append(q.ctxs, ctx)
	return &ports.QueuedEmail{ID: "e1"}, nil
}

func (q *queuedMails) all() []email.Request {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]email.Request(nil), q.reqs...)
}

// memUses is an auth.MagicLinkUses in memory, per tenant.
type memUses struct {
	mu   sync.Mutex
	used map[string]time.Time
}

func (m *memUses) Use(ctx context.Context, id, _ string, exp time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := ports.TenantIDFrom(ctx) + "/" + id
	if _, ok := m.used[key]; ok {
		return core.Public(core.ErrConflict, "used")
	}
	m.used[key] = exp
	return nil
}

var linkRE = regexp.MustCompile(regexp.QuoteMeta(linkBase) + `(\S+)`)

// mlEnv is a MagicLinks over in-memory users, tokens, sessions and uses.
type mlEnv struct {
	ident  *fakes.Identity
	tokens *fakes.Tokens
	mails  *queuedMails
	uses   *memUses
	svc    *auth.Service
	links  *auth.MagicLinks
	clock  *fakes.Clock
	ann    *ports.User
}

func newMLEnv(t *testing.T, tune ...func(*auth.MagicLinkOptions)) *mlEnv {
	t.Helper()
	e := &mlEnv{tokens: fakes.NewTokens(0), mails: &queuedMails{}, uses: &memUses{used: map[string]time.Time{}}, clock: fakes.NewClock(time.Now())}
	e.ident = fakes.NewIdentity(e.tokens)
	e.ann = e.ident.Add(ports.User{Email: annEmail, IsActive: true, Roles: []string{"Writer"}}, "")
	sessions := auth.NewSessions(newMemSessions(), time.Hour)
	users := auth.NewUserManager(e.ident, auth.ModePasswordless, auth.PasswordPolicy{MinLength: 10, MaxLength: 256}, sessions, nil)
	e.svc = &auth.Service{Users: users, Tokens: e.tokens, Sessions: sessions}
	opts := auth.MagicLinkOptions{
		Key: []byte(strings.Repeat("k", 32)), LinkBase: linkBase, PerEmail: 100, PerIP: 100, Window: time.Minute,
		AllowedRedirects: []string{"https://app.example.com/"},
	}
	for _, f := range tune {
		f(&opts)
	}
	var err error
	e.links, err = auth.NewMagicLinks(e.svc, e.uses, e.mails, memory.New(), opts)
	require.NoError(t, err)
	e.links.SetClock(e.clock.Now)
	return e
}

// request asks for a link for addr in tenant and returns the token mailed
// ("" when none was).
func (e *mlEnv) request(t *testing.T, tenant, addr, redirect string) string {
	t.Helper()
	before := len(e.mails.all())
	require.NoError(t, e.links.Request(tctx(tenant), auth.MagicLinkRequest{Email: addr, Redirect: redirect, IP: "192.0.2.1"}))
	mails := e.mails.all()
	if len(mails) == before {
		return ""
	}
	require.Len(t, mails, before+1)
	m := linkRE.FindStringSubmatch(mails[before].Text)
	require.NotNil(t, m, "the email carries the link: %s", mails[before].Text)
	assert.Contains(t, mails[before].HTML, linkBase+m[1])
	return m[1]
}

func (e *mlEnv) signIn(tenant, token string, session bool) (*auth.MagicLinkResult, error) {
	return e.links.SignIn(tctx(tenant), auth.MagicLinkSignIn{Credentials: ports.MagicLinkCredentials{Token: token}, IP: "192.0.2.1", Session: session})
}

const tenant = ports.DefaultTenantID

// TestMagicLinkSignsInOnce: the link of a known email signs its user in
// (token and session), then never again.
func TestMagicLinkSignsInOnce(t *testing.T) {
	e := newMLEnv(t)
	token := e.request(t, tenant, "  ANN@example.com ", "/app/inbox?tab=1")
	require.NotEmpty(t, token)
	mail := e.mails.all()[0]
	assert.Equal(t, []ports.EmailAddress{{Address: annEmail}}, mail.To)
	assert.Equal(t, "Sign in to Framework M", mail.Subject)
	assert.Equal(t, ports.SystemUser.ID, ports.UserFrom(e.mails.ctxs[0]).ID, "queued as the system")
	assert.Equal(t, tenant, ports.TenantIDFrom(e.mails.ctxs[0]))

	res, err := e.signIn(tenant, token, true)
	require.NoError(t, err)
	assert.Equal(t, e.ann.ID, res.User.ID)
	assert.Equal(t, "/app/inbox?tab=1", res.Redirect)
	require.NotNil(t, res.Token)
	claims, err := e.tokens.Verify(context.Background(), res.Token.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, e.ann.ID, claims.Subject)
	require.NotNil(t, res.Session)
	assert.Equal(t, e.ann.ID, res.Session.Session.UserID)

	_, err = e.signIn(tenant, token, false)
	require.ErrorIs(t, err, core.ErrUnauthorized)
	assert.Contains(t, err.Error(), "already used")
}

// TestMagicLinkNoEnumeration: unknown and disabled accounts get the same
// answer and no email; with signup an unknown email becomes a passwordless
// user who gets a link.
func TestMagicLinkNoEnumeration(t *testing.T) {
	e := newMLEnv(t)
	e.ident.Add(ports.User{Email: "off@example.com", IsActive: false}, "")
	assert.Empty(t, e.request(t, tenant, "nobody@example.com", ""))
	assert.Empty(t, e.request(t, tenant, "off@example.com", ""))
	assert.Empty(t, e.mails.all())

	// Malformed input is a 400 whatever the account.
	err := e.links.Request(tctx(tenant), auth.MagicLinkRequest{Email: "not an email"})
	var ve *core.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "email", ve.Fields[0].Field)

	s := newMLEnv(t, func(o *auth.MagicLinkOptions) { o.Signup = true })
	token := s.request(t, tenant, "new@example.com", "")
	require.NotEmpty(t, token)
	u, err := s.ident.FindByEmail(tctx(tenant), "new@example.com")
	require.NoError(t, err)
	assert.True(t, u.IsActive)
	assert.Empty(t, u.Roles)
	assert.Error(t, s.ident.VerifyPassword(tctx(tenant), u.ID, ""), "no password")
	res, err := s.signIn(tenant, token, false)
	require.NoError(t, err)
	assert.Equal(t, u.ID, res.User.ID)
	assert.Equal(t, "/", res.Redirect)
}

// TestMagicLinkTamperedTokens: any change to a token, and any token signed
// with another key, is one 401.
func TestMagicLinkTamperedTokens(t *testing.T) {
	e := newMLEnv(t)
	token := e.request(t, tenant, annEmail, "")
	payload, sig, ok := strings.Cut(token, ".")
	require.True(t, ok)
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	require.NoError(t, err)
	forged := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"tv":0`, `"tv":1`, 1)))
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)/2] == 'A' {
			b[len(b)/2] = 'B'
		} else {
			b[len(b)/2] = 'A'
		}
		return string(b)
	}
	other := newMLEnv(t, func(o *auth.MagicLinkOptions) { o.Key = []byte(strings.Repeat("x", 32)) })
	foreign := other.request(t, tenant, annEmail, "")
	for name, bad := range map[string]string{
		"empty":            "",
		"no signature":     payload,
		"flipped payload":  flip(payload) + "." + sig,
		"flipped mac":      payload + "." + flip(sig),
		"forged claims":    forged + "." + sig,
		"extra part":       token + ".x",
		"short mac":        payload + "." + sig[:10],
		"not base64":       "!!!." + sig,
		"huge":             strings.Repeat("a", 5000) + "." + sig,
		"another key":      foreign,
		"mac of the other": payload + "." + strings.SplitN(foreign, ".", 2)[1],
	} {
		_, err := e.signIn(tenant, bad, false)
		assert.ErrorIs(t, err, core.ErrUnauthorized, name)
	}
	_, err = e.signIn(tenant, token, false)
	require.NoError(t, err, "the real token still works once")
}

// TestMagicLinkExpiry: a link works until its TTL is over (injected clock).
func TestMagicLinkExpiry(t *testing.T) {
	e := newMLEnv(t)
	assert.Equal(t, auth.DefaultMagicLinkTTL, e.links.TTL())
	late := e.request(t, tenant, annEmail, "")
	inTime := e.request(t, tenant, annEmail, "")
	e.clock.Advance(15*time.Minute - time.Second)
	_, err := e.signIn(tenant, inTime, false)
	require.NoError(t, err)
	e.clock.Advance(time.Second)
	_, err = e.signIn(tenant, late, false)
	require.ErrorIs(t, err, core.ErrUnauthorized)

	short := newMLEnv(t, func(o *auth.MagicLinkOptions) { o.TTL = time.Minute })
	tok := short.request(t, tenant, annEmail, "")
	short.clock.Advance(61 * time.Second)
	_, err = short.signIn(tenant, tok, false)
	require.ErrorIs(t, err, core.ErrUnauthorized)
}

// TestMagicLinkTenantAndTokenVersion: a link works only in its tenant, and
// no longer once the user's token version moved or the user is disabled.
func TestMagicLinkTenantAndTokenVersion(t *testing.T) {
	e := newMLEnv(t)
	// The same user id exists in tenant B: the link still fails there.
	e.ident.Add(ports.User{ID: e.ann.ID, TenantID: "B", Email: annEmail, IsActive: true}, "")
	token := e.request(t, tenant, annEmail, "")
	_, err := e.signIn("B", token, false)
	require.ErrorIs(t, err, core.ErrUnauthorized)
	inB := e.request(t, "B", annEmail, "")
	_, err = e.signIn(tenant, inB, false)
	require.ErrorIs(t, err, core.ErrUnauthorized)
	_, err = e.signIn("B", inB, false)
	require.NoError(t, err)

	require.NoError(t, e.svc.Users.LogoutEverywhere(tctx(tenant), e.ann.ID))
	_, err = e.signIn(tenant, token, false)
	require.ErrorIs(t, err, core.ErrUnauthorized, "logout everywhere ends every older link")
	fresh := e.request(t, tenant, annEmail, "")
	_, err = e.signIn(tenant, fresh, false)
	require.NoError(t, err, "a link issued after works")

	next := e.request(t, tenant, annEmail, "")
	u, err := e.ident.GetUser(tctx(tenant), e.ann.ID)
	require.NoError(t, err)
	u.IsActive = false
	e.ident.Add(*u, "") // the same user, disabled
	_, err = e.signIn(tenant, next, false)
	require.ErrorIs(t, err, core.ErrUnauthorized, "a disabled user")
}

// TestMagicLinkSingleUseAcrossInstances: two services sharing one store of
// used links (two instances on one database): a link used on one fails on
// the other; concurrent uses sign in once.
func TestMagicLinkSingleUseAcrossInstances(t *testing.T) {
	a := newMLEnv(t)
	b, err := auth.NewMagicLinks(a.svc, a.uses, a.mails, nil, auth.MagicLinkOptions{Key: []byte(strings.Repeat("k", 32)), LinkBase: linkBase})
	require.NoError(t, err)
	token := a.request(t, tenant, annEmail, "")
	_, err = b.SignIn(tctx(tenant), auth.MagicLinkSignIn{Credentials: ports.MagicLinkCredentials{Token: token}})
	require.NoError(t, err)
	_, err = a.signIn(tenant, token, false)
	require.ErrorIs(t, err, core.ErrUnauthorized)

	token = a.request(t, tenant, annEmail, "")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := a.links
			if i%2 == 1 {
				svc = b
			}
			if _, err := svc.SignIn(tctx(tenant), auth.MagicLinkSignIn{Credentials: ports.MagicLinkCredentials{Token: token}}); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, ok)
}

// TestMagicLinkRateLimits: requests are capped per email (known or not)
// and per address, as a *core.RateLimitError.
func TestMagicLinkRateLimits(t *testing.T) {
	e := newMLEnv(t, func(o *auth.MagicLinkOptions) { o.PerEmail, o.PerIP = 2, 5 })
	for _, addr := range []string{annEmail, "nobody@example.com"} {
		for range 2 {
			require.NoError(t, e.links.Request(tctx(tenant), auth.MagicLinkRequest{Email: addr, IP: "192.0.2.7"}))
		}
		err := e.links.Request(tctx(tenant), auth.MagicLinkRequest{Email: addr, IP: "192.0.2.7"})
		var rl *core.RateLimitError
		require.ErrorAs(t, err, &rl, addr)
		assert.GreaterOrEqual(t, rl.RetryAfter, time.Second)
	}
	assert.Len(t, e.mails.all(), 2, "only the requests under the limit mailed")
	// The address has spent 6 > 5: another email from it is refused too.
	err := e.links.Request(tctx(tenant), auth.MagicLinkRequest{Email: "third@example.com", IP: "192.0.2.7"})
	assert.True(t, errors.Is(err, core.ErrTooMany))
	require.NoError(t, e.links.Request(tctx(tenant), auth.MagicLinkRequest{Email: "third@example.com", IP: "192.0.2.8"}))
}

// TestMagicLinkBackgroundDelivery: with Run going, the email is queued by
// the worker, after Request returned.
func TestMagicLinkBackgroundDelivery(t *testing.T) {
	e := newMLEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.links.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	require.NoError(t, e.links.Request(tctx(tenant), auth.MagicLinkRequest{Email: annEmail}))
	require.Eventually(t, func() bool { return len(e.mails.all()) == 1 }, 5*time.Second, 5*time.Millisecond)
}

// TestCheckRedirect: relative paths of the app and allow-listed URLs pass;
// everything that could leave the app does not.
func TestCheckRedirect(t *testing.T) {
	allowed := []string{"https://app.example.com/", "https://portal.example.com/app"}
	for _, ok := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/app/inbox", "/app/inbox"},
		{"/app/inbox?tab=1#top", "/app/inbox?tab=1#top"},
		{"https://app.example.com/welcome", "https://app.example.com/welcome"},
		{"https://APP.example.com", "https://APP.example.com"},
		{"https://portal.example.com/app", "https://portal.example.com/app"},
		{"https://portal.example.com/app/x", "https://portal.example.com/app/x"},
	} {
		got, err := auth.CheckRedirect(ok.in, allowed)
		require.NoError(t, err, ok.in)
		assert.Equal(t, ok.want, got, ok.in)
	}
	for _, bad := range []string{
		"//evil.com", "///evil.com", "/\\evil.com", "\\\\evil.com", "https://evil.com", "http://app.example.com/",
		"https://app.example.com.evil.com/", "https://portal.example.com/apple", "https://user@app.example.com/",
		"javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "/%2F/evil.com", "/\t/evil.com", "/\n/evil.com",
		" /x", "app/inbox", "evil.com", "http:evil.com", "https:/evil.com", "/" + strings.Repeat("a", auth.MaxRedirectLength),
	} {
		_, err := auth.CheckRedirect(bad, allowed)
		var ve *core.ValidationError
		assert.ErrorAs(t, err, &ve, "%q must be refused", bad)
	}
}
