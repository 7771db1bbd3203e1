package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/ports"
)

// Mailer queues emails (an *email.Service): magic links are sent through
// the email queue, never from the request.
type Mailer interface {
	// QueueEmail queues req in the tenant of ctx.
	QueueEmail(ctx context.Context, req email.Request) (*ports.QueuedEmail, error)
}

// MagicLinkUses remembers which magic links were used, so that each works
// once — across every instance sharing the store.
type MagicLinkUses interface {
	// Use records link id (of userID, expiring at exp) as used in the tenant
	// of ctx. A link used before, here or on another instance, is
	// core.ErrConflict.
	Use(ctx context.Context, id, userID string, exp time.Time) error
}

// MagicLinkOptions configure MagicLinks.
type MagicLinkOptions struct {
	// Key signs the links (HMAC-SHA256); at least 32 bytes.
	Key []byte
	// LinkBase is what precedes the token in a link: the app's public URL
	// and the route, e.g. https://app.example.com/api/v1/auth/magic-link/.
	LinkBase string
	// TTL is how long a link works (15 minutes when not positive).
	TTL time.Duration
	// Signup makes a request for an unknown email create a passwordless
	// user and mail it a link.
	Signup bool
	// AllowedRedirects are absolute URLs a link may redirect to after
	// signing in (see CheckRedirect).
	AllowedRedirects []string
	// PerEmail and PerIP cap link requests per email and per client
	// address within Window (then a *core.RateLimitError).
	PerEmail, PerIP int
	Window          time.Duration
	// FailOpen lets requests through unlimited when the limiter fails;
	// otherwise they are refused with 503.
	FailOpen bool
	// AppName names the app in the email.
	AppName string
	// Logger receives delivery failures (slog.Default() when nil).
	Logger *slog.Logger
}

// DefaultMagicLinkTTL is how long a link works unless configured.
const DefaultMagicLinkTTL = 15 * time.Minute

// MaxRedirectLength caps the redirect a link carries.
const MaxRedirectLength = 1024

// maxMagicToken caps a token before any work is done on it.
const maxMagicToken = 4096

// magicLinkLabel separates the links' MACs from any other use of the key.
const magicLinkLabel = "framework-m magic link v1\x00"

// DeriveMagicLinkKey derives the links' own HMAC key from a shared secret
// (the HS256 JWT secret), so the two never sign each other's messages.
func DeriveMagicLinkKey(secret []byte) []byte {
	return deriveKey(secret, "framework-m/magic-link/key/v1")
}

// MagicLinks sends sign-in links by email and signs their users in.
//
// A link's token is base64url(JSON claims) "." base64url(HMAC-SHA256): the
// claims carry the tenant, the user id, the user's token version, the
// expiry, a random id and the redirect. A token works only in its tenant,
// before its expiry, while the user is active and keeps that token version
// (a password change or a log-out-everywhere ends it), and once: its id is
// recorded through MagicLinkUses before the user is signed in.
type MagicLinks struct {
	auth    *Service
	uses    MagicLinkUses
	mailer  Mailer
	limiter ports.RateLimiter
	opts    MagicLinkOptions
	log     *slog.Logger
	clock   atomic.Pointer[func() time.Time]
	jobs    chan magicJob
	running atomic.Bool
}

// magicJob is a link to deliver in the background.
type magicJob struct {
	tenant, email, redirect string
	// user is the account found; nil: create one (signup).
	user *ports.User
}

// NewMagicLinks returns the magic link service over svc's users, tokens and
// sessions; uses records used links, mailer queues the emails, limiter
// (nil: none) caps requests.
func NewMagicLinks(svc *Service, uses MagicLinkUses, mailer Mailer, limiter ports.RateLimiter, opts MagicLinkOptions) (*MagicLinks, error) {
	switch {
	case svc == nil || svc.Users == nil:
		return nil, errors.New("magic links: an auth service with users is required")
	case uses == nil:
		return nil, errors.New("magic links: a store of used links is required")
	case mailer == nil:
		return nil, errors.New("magic links: a mailer is required")
	case len(opts.Key) < 32:
		return nil, errors.New("magic links: the signing key must have at least 32 bytes")
	case opts.LinkBase == "":
		return nil, errors.New("magic links: the link base URL is required")
	}
	if _, err := svc.Users.Local(); err != nil {
		return nil, fmt.Errorf("magic links: %w", err)
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultMagicLinkTTL
	}
	if opts.Window <= 0 {
		opts.Window = opts.TTL
	}
	if opts.AppName == "" {
		opts.AppName = "Framework M"
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	m := &MagicLinks{auth: svc, uses: uses, mailer: mailer, limiter: limiter, opts: opts, log: log, jobs: make(chan magicJob, 256)}
	m.SetClock(time.Now)
	return m, nil
}

// SetClock replaces the clock expiry is judged by (tests); safe while serving.
func (m *MagicLinks) SetClock(now func() time.Time) { m.clock.Store(&now) }

func (m *MagicLinks) now() time.Time { return (*m.clock.Load())() }

// TTL returns how long a link works.
func (m *MagicLinks) TTL() time.Duration { return m.opts.TTL }

// Run delivers requested links in the background until ctx is done, so a
// request answers in about the same time whether or not its account
// exists. Without Run, requests deliver their link before answering.
func (m *MagicLinks) Run(ctx context.Context) {
	m.running.Store(true)
	defer m.running.Store(false)
	for {
		select {
		case <-ctx.Done():
			if n := len(m.jobs); n > 0 {
				m.log.Warn("shutting down with sign-in links not yet queued; their users must ask again", "count", n)
			}
			return
		case j := <-m.jobs:
			jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			m.deliver(jctx, j)
			cancel()
		}
	}
}

// MagicLinkRequest asks for a sign-in link.
type MagicLinkRequest struct {
	Email string
	// Redirect is where the user goes after signing in ("" is "/"); see
	// CheckRedirect.
	Redirect string
	// IP is the client address, for the per-address limit.
	IP string
}

// Request mails a sign-in link to req.Email in the tenant of ctx when an
// active account has it (or creates one with Signup). Its answer is the same
// whether or not the account exists — nil — and so is its work up to the
// answer: a user lookup and a signed token; the email itself is queued in
// the background (see Run). A malformed email or redirect is a
// *core.ValidationError, too many requests a *core.RateLimitError, both
// before anything is looked up.
func (m *MagicLinks) Request(ctx context.Context, req MagicLinkRequest) error {
	tenant, err := core.RequireTenant(ctx)
	if err != nil {
		return err
	}
	addr, err := NormalizeEmail(req.Email)
	if err != nil {
		return err
	}
	redirect, err := CheckRedirect(req.Redirect, m.opts.AllowedRedirects)
	if err != nil {
		return err
	}
	if err := m.limit(ctx, req.IP, addr); err != nil {
		return err
	}
	local, err := m.auth.Users.Local()
	if err != nil {
		return err
	}
	u, err := local.FindByEmail(ctx, addr)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return core.Unavailable("the user store", err)
	}
	// The token is signed whether or not anyone receives it, so the answer
	// costs the same either way; the delivery signs its own.
	subject := &ports.User{ID: "-", TenantID: tenant}
	if u != nil {
		subject = u
	}
	if _, err := m.sign(tenant, subject, redirect); err != nil {
		return err
	}
	var job *magicJob
	switch {
	case u != nil && u.IsActive:
		job = &magicJob{tenant: tenant, email: addr, redirect: redirect, user: u}
	case u == nil && m.opts.Signup:
		job = &magicJob{tenant: tenant, email: addr, redirect: redirect}
	}
	if job == nil {
		return nil
	}
	if m.running.Load() {
		select {
		case m.jobs <- *job:
			return nil
		default: // a full queue: deliver now
		}
	}
	m.deliver(context.WithoutCancel(ctx), *job)
	return nil
}

// limit counts one request for the client address and the email.
func (m *MagicLinks) limit(ctx context.Context, ip, addr string) error {
	if m.limiter == nil {
		return nil
	}
	sum := sha256.Sum256([]byte(addr))
	checks := []struct {
		key, what string
		n         int
	}{
		{"magic:ip:" + ClientKey(ip), "sign-in link requests from this address", m.opts.PerIP},
		{"magic:email:" + ports.TenantIDFrom(ctx) + ":" + hex.EncodeToString(sum[:16]), "sign-in link requests for this email", m.opts.PerEmail},
	}
	for _, c := range checks {
		if c.n <= 0 {
			continue
		}
		d, err := m.limiter.Allow(ctx, c.key, c.n, m.opts.Window)
		if err != nil {
			if m.opts.FailOpen {
				m.log.WarnContext(ctx, "the sign-in link limiter failed; letting the request through", "err", err)
				continue
			}
			return core.Unavailable("the sign-in link limiter", err)
		}
		if !d.Allowed {
			return tooMany(d, c.what)
		}
	}
	return nil
}

// deliver creates the user of a signup, signs the link and queues its
// email, as the system in the job's tenant; failures are logged (the
// requester was answered already).
func (m *MagicLinks) deliver(ctx context.Context, j magicJob) {
	ctx = ports.WithUser(ports.WithTenantID(ctx, j.tenant), &ports.SystemUser)
	u := j.user
	if u == nil {
		var err error
		u, err = m.signup(ctx, j.email)
		if err != nil {
			m.log.ErrorContext(ctx, "could not create the user of a sign-in link request", "tenant", j.tenant, "err", err)
			return
		}
		if !u.IsActive {
			return
		}
	}
	token, err := m.sign(j.tenant, u, j.redirect)
	if err != nil {
		m.log.ErrorContext(ctx, "could not sign a sign-in link", "tenant", j.tenant, "user", u.ID, "err", err)
		return
	}
	link := m.opts.LinkBase + token
	minutes := int(m.opts.TTL.Round(time.Minute) / time.Minute)
	if minutes < 1 {
		minutes = 1
	}
	app := m.opts.AppName
	text := fmt.Sprintf("Use this link to sign in to %s:\n\n%s\n\nIt works once, within %d minutes. If you did not ask for it, ignore this email.\n", app, link, minutes)
	body := fmt.Sprintf(`<p>Use this link to sign in to %s:</p><p><a href="%s">Sign in</a></p><p>It works once, within %d minutes. If you did not ask for it, ignore this email.</p>`,
		html.EscapeString(app), html.EscapeString(link), minutes)
	_, err = m.mailer.QueueEmail(ctx, email.Request{
		To:        []ports.EmailAddress{{Address: u.Email}},
		Subject:   "Sign in to " + app,
		Text:      text,
		HTML:      body,
		Sensitive: true,
	})
	if err != nil {
		m.log.ErrorContext(ctx, "could not queue a sign-in link", "tenant", j.tenant, "user", u.ID, "err", err)
	}
}

// signup creates a passwordless user with addr, or finds the one a
// concurrent request created.
func (m *MagicLinks) signup(ctx context.Context, addr string) (*ports.User, error) {
	u, err := m.auth.Users.Create(ctx, ports.NewUser{Email: addr})
	if errors.Is(err, core.ErrConflict) {
		local, lerr := m.auth.Users.Local()
		if lerr != nil {
			return nil, lerr
		}
		return local.FindByEmail(ctx, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("sign up by sign-in link: %w", err)
	}
	m.auth.log().InfoContext(ctx, "created a user from a sign-in link request", "user", u.ID)
	return u, nil
}

// magicClaims are what a link's token says.
type magicClaims struct {
	Version      int    `json:"v"`
	Tenant       string `json:"t"`
	User         string `json:"u"`
	TokenVersion int64  `json:"tv"`
	Expires      int64  `json:"exp"`
	ID           string `json:"jti"`
	Redirect     string `json:"r,omitempty"`
}

// sign returns a token for u in tenant, expiring TTL from now.
func (m *MagicLinks) sign(tenant string, u *ports.User, redirect string) (string, error) {
	c := magicClaims{
		Version: 1, Tenant: tenant, User: u.ID, TokenVersion: u.TokenVersion,
		Expires: m.now().Add(m.opts.TTL).Unix(), ID: RandomToken(16), Redirect: redirect,
	}
	return m.sealer().seal(c)
}

func (m *MagicLinks) sealer() sealer {
	return sealer{key: m.opts.Key, label: magicLinkLabel, max: maxMagicToken}
}

var errBadLink = core.Public(core.ErrUnauthorized, "invalid or expired sign-in link")

// verify checks token's MAC (in constant time), expiry and tenant.
func (m *MagicLinks) verify(ctx context.Context, token string) (*magicClaims, error) {
	var c magicClaims
	if !m.sealer().open(token, &c) || c.Version != 1 || c.User == "" || c.ID == "" || c.Tenant == "" {
		return nil, errBadLink
	}
	if !m.now().Before(time.Unix(c.Expires, 0)) {
		return nil, errBadLink
	}
	if c.Tenant != ports.TenantIDFrom(ctx) {
		return nil, errBadLink
	}
	return &c, nil
}

// MagicLinkSignIn is the use of a link.
type MagicLinkSignIn struct {
	Credentials ports.MagicLinkCredentials
	IP          string
	UserAgent   string
	// Session asks for a session cookie besides the token.
	Session bool
}

// MagicLinkResult is a successful sign-in by link.
type MagicLinkResult struct {
	LoginResult
	// Redirect is where to send the user now: the link's redirect, checked
	// again against the current allow-list ("/" when it no longer passes).
	Redirect string
}

// SignIn verifies a link's token in the tenant of ctx and signs its user in
// as a password login does: an access token, and a new session when asked.
// A bad, tampered, expired, foreign-tenant, outdated (token version) or
// already used link, and a disabled or deleted user, are one 401.
func (m *MagicLinks) SignIn(ctx context.Context, req MagicLinkSignIn) (*MagicLinkResult, error) {
	c, err := m.verify(ctx, req.Credentials.Token)
	if err != nil {
		return nil, err
	}
	u, err := m.auth.Users.Get(ctx, c.User)
	if errors.Is(err, core.ErrNotFound) {
		return nil, errBadLink
	}
	if err != nil {
		return nil, core.Unavailable("the user store", err)
	}
	if !u.IsActive || u.TokenVersion != c.TokenVersion {
		return nil, errBadLink
	}
	if err := m.auth.canSignIn(req.Session); err != nil {
		return nil, err // before the link is spent: it still works where it can
	}
	if err := m.uses.Use(ctx, c.ID, u.ID, time.Unix(c.Expires, 0)); err != nil {
		if errors.Is(err, core.ErrConflict) {
			m.auth.audit.event(ctx, ports.AuditLoginFailed, u.ID, map[string]any{"method": "magic_link", "reason": "reused"})
			return nil, core.Public(core.ErrUnauthorized, "this sign-in link was already used")
		}
		return nil, core.Unavailable("the store of used sign-in links", err)
	}
	login, err := m.auth.signIn(ctx, u, "magic_link", req.IP, req.UserAgent, req.Session, nil)
	if err != nil {
		return nil, err
	}
	res := &MagicLinkResult{LoginResult: *login, Redirect: "/"}
	if r, err := CheckRedirect(c.Redirect, m.opts.AllowedRedirects); err == nil {
		res.Redirect = r
	}
	return res, nil
}

// dotSegments reports whether path (unescaped) has a "." or ".." segment:
// a redirect must not climb out of the path an allowed entry names.
func dotSegments(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// badRedirect is CheckRedirect's refusal.
func badRedirect() error {
	return core.Invalid("redirect", "must be a path of this app such as /app/inbox, or a URL of [auth.magic_link] allowed_redirects")
}

// CheckRedirect returns where a sign-in may send the user: "" is "/"; a
// path of this app ("/app/inbox?tab=1") is kept; an absolute http(s) URL is
// kept only when an entry of allowed matches it — same scheme and host, and
// a path equal to the entry's or under it. Everything else — "//evil.com",
// "/\evil.com", "https://evil.com", "javascript:…", control characters — is
// a *core.ValidationError on "redirect": no open redirect. A path with "."
// or ".." segments (escaped or not) is refused too.
func CheckRedirect(raw string, allowed []string) (string, error) {
	if raw == "" {
		return "/", nil
	}
	if len(raw) > MaxRedirectLength {
		return "", badRedirect()
	}
	for _, r := range raw {
		// Browsers drop tabs and newlines and read "\" as "/": refuse them
		// (and every other control or space character) outright.
		if r <= ' ' || r == 0x7f || r == '\\' || r == 0xfffd {
			return "", badRedirect()
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" || dotSegments(u.Path) {
		return "", badRedirect()
	}
	if strings.HasPrefix(raw, "/") {
		if strings.HasPrefix(raw, "//") || u.Scheme != "" || u.Host != "" || strings.HasPrefix(u.Path, "//") {
			return "", badRedirect()
		}
		return raw, nil
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", badRedirect()
	}
	for _, a := range allowed {
		e, err := url.Parse(a)
		if err != nil || !strings.EqualFold(e.Scheme, u.Scheme) || !strings.EqualFold(e.Host, u.Host) {
			continue
		}
		p := u.Path
		if p == "" {
			p = "/"
		}
		ep := e.Path
		switch {
		case ep == "" || ep == "/", p == ep,
			strings.HasSuffix(ep, "/") && strings.HasPrefix(p, ep),
			strings.HasPrefix(p, ep+"/"):
			return raw, nil
		}
	}
	return "", badRedirect()
}
