package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// SocialAccounts stores the links between users and provider accounts, in
// the tenant of ctx.
type SocialAccounts interface {
	// Find returns the account subject at provider (core.ErrNotFound if none).
	Find(ctx context.Context, provider, subject string) (*ports.SocialAccount, error)
	// ListByUser returns every account linked to userID.
	ListByUser(ctx context.Context, userID string) ([]ports.SocialAccount, error)
	// Link stores a; an account of the provider and subject linked already
	// is core.ErrConflict.
	Link(ctx context.Context, a ports.SocialAccount) error
	// Unlink removes userID's accounts at provider and returns how many.
	Unlink(ctx context.Context, userID, provider string) (int, error)
	// HasPassword reports whether userID can log in with a password.
	HasPassword(ctx context.Context, userID string) (bool, error)
}

// OAuthOptions configure OAuth.
type OAuthOptions struct {
	// Key signs the state cookie (HMAC-SHA256); at least 32 bytes.
	Key []byte
	// CallbackBase precedes "{provider}/callback": the app's public URL and
	// the route, e.g. https://app.example.com/api/v1/auth/oauth/.
	CallbackBase string
	// StateTTL is how long a started sign-in may take (10 minutes when not positive).
	StateTTL time.Duration
	// AllowedRedirects are absolute URLs a sign-in may redirect to (see CheckRedirect).
	AllowedRedirects []string
	// OtherSignIn says users can sign in without a provider or password
	// (magic links): unlinking the last provider is then allowed.
	OtherSignIn bool
}

// DefaultOAuthStateTTL is how long a started sign-in may take unless configured.
const DefaultOAuthStateTTL = 10 * time.Minute

// maxOAuthCookie caps the state cookie before any work is done on it.
const maxOAuthCookie = 4096

const oauthStateLabel = "framework-m oauth state v1\x00"

// DeriveOAuthStateKey derives the state cookie's own HMAC key from a shared
// secret, so it never signs what another use of the secret signs.
func DeriveOAuthStateKey(secret []byte) []byte {
	return deriveKey(secret, "framework-m/oauth-state/key/v1")
}

// OAuth signs users in with OAuth2/OIDC providers and links providers to
// signed-in users. A flow's state, PKCE verifier, nonce, redirect and (in
// link mode) user travel in a signed, short-lived cookie; its state is
// recorded as used before the user is signed in, so it works once.
type OAuth struct {
	auth      *Service
	accounts  SocialAccounts
	uses      MagicLinkUses
	providers map[string]ports.OAuthProvider
	opts      OAuthOptions
	clock     atomic.Pointer[func() time.Time]
}

// NewOAuth returns the OAuth service over svc's users, tokens and sessions.
func NewOAuth(svc *Service, accounts SocialAccounts, uses MagicLinkUses, providers []ports.OAuthProvider, opts OAuthOptions) (*OAuth, error) {
	switch {
	case svc == nil || svc.Users == nil:
		return nil, errors.New("oauth: an auth service with users is required")
	case accounts == nil:
		return nil, errors.New("oauth: a store of social accounts is required")
	case uses == nil:
		return nil, errors.New("oauth: a store of used states is required")
	case len(opts.Key) < 32:
		return nil, errors.New("oauth: the signing key must have at least 32 bytes")
	case opts.CallbackBase == "":
		return nil, errors.New("oauth: the callback base URL is required")
	}
	if _, err := svc.Users.Local(); err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	if opts.StateTTL <= 0 {
		opts.StateTTL = DefaultOAuthStateTTL
	}
	o := &OAuth{auth: svc, accounts: accounts, uses: uses, providers: map[string]ports.OAuthProvider{}, opts: opts}
	for _, p := range providers {
		o.providers[p.Name()] = p
	}
	o.SetClock(time.Now)
	return o, nil
}

// SetClock replaces the clock (tests).
func (o *OAuth) SetClock(now func() time.Time) { o.clock.Store(&now) }

func (o *OAuth) now() time.Time { return (*o.clock.Load())() }

// StateTTL is how long the state cookie lives.
func (o *OAuth) StateTTL() time.Duration { return o.opts.StateTTL }

func (o *OAuth) provider(name string) (ports.OAuthProvider, error) {
	p, ok := o.providers[name]
	if !ok {
		return nil, core.Publicf(core.ErrNotFound, "unknown sign-in provider %q", truncateLogin(name))
	}
	return p, nil
}

// oauthState is what the state cookie says.
type oauthState struct {
	Version  int    `json:"v"`
	Tenant   string `json:"t"`
	Provider string `json:"p"`
	State    string `json:"s"`
	Verifier string `json:"cv"`
	Nonce    string `json:"n"`
	Redirect string `json:"r,omitempty"`
	LinkUser string `json:"l,omitempty"`
	Expires  int64  `json:"exp"`
}

// OAuthStart starts a flow.
type OAuthStart struct {
	Provider string
	// Redirect is where to go afterwards ("" is "/"); see CheckRedirect.
	Redirect string
	// LinkUser, when set, links the provider account to this signed-in
	// user instead of signing in.
	LinkUser string
}

// OAuthStarted is where to send the browser, and the state cookie to give it.
type OAuthStarted struct {
	URL    string
	Cookie string
}

func (o *OAuth) callbackURL(provider string) string {
	return o.opts.CallbackBase + provider + "/callback"
}

// Start begins a sign-in (or link) with req.Provider in the tenant of ctx.
func (o *OAuth) Start(ctx context.Context, req OAuthStart) (*OAuthStarted, error) {
	tenant, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	p, err := o.provider(req.Provider)
	if err != nil {
		return nil, err
	}
	redirect, err := CheckRedirect(req.Redirect, o.opts.AllowedRedirects)
	if err != nil {
		return nil, err
	}
	st := oauthState{
		Version: 1, Tenant: tenant, Provider: req.Provider, State: RandomToken(32), Verifier: RandomToken(32),
		Nonce: RandomToken(24), Redirect: redirect, LinkUser: req.LinkUser, Expires: o.now().Add(o.opts.StateTTL).Unix(),
	}
	url, err := p.AuthCodeURL(ctx, ports.OAuthAuthorization{State: st.State, Verifier: st.Verifier, Nonce: st.Nonce, RedirectURI: o.callbackURL(req.Provider)})
	if err != nil {
		return nil, err
	}
	cookie, err := o.sealer().seal(st)
	if err != nil {
		return nil, err
	}
	return &OAuthStarted{URL: url, Cookie: cookie}, nil
}

func (o *OAuth) sealer() sealer {
	return sealer{key: o.opts.Key, label: oauthStateLabel, max: maxOAuthCookie}
}

var errBadState = core.Public(core.ErrValidation, "invalid or expired sign-in state: start the sign-in again")

// readState verifies the cookie (MAC in constant time, expiry, tenant,
// provider) and that state is its state.
func (o *OAuth) readState(ctx context.Context, cookie, provider, state string) (*oauthState, error) {
	var st oauthState
	if state == "" || !o.sealer().open(cookie, &st) || st.Version != 1 {
		return nil, errBadState
	}
	if !o.now().Before(time.Unix(st.Expires, 0)) || st.Tenant != ports.TenantIDFrom(ctx) || st.Provider != provider {
		return nil, errBadState
	}
	if !hmac.Equal([]byte(st.State), []byte(state)) {
		return nil, errBadState
	}
	return &st, nil
}

// OAuthCallback is the provider's answer, with the state cookie.
type OAuthCallback struct {
	Provider string
	// State, Code, Error and ErrorDescription are the callback's query.
	State, Code, Error, ErrorDescription string
	// Cookie is the state cookie Start gave.
	Cookie    string
	IP        string
	UserAgent string
	// Session asks for a session cookie besides the token.
	Session bool
}

// OAuthResult is a finished flow.
type OAuthResult struct {
	// LoginResult is set when the flow signed the user in.
	LoginResult
	// Linked is set when the flow linked an account to a signed-in user.
	Linked bool
	// Redirect is where to send the user now.
	Redirect string
}

// Callback finishes a flow: checks the state cookie, exchanges the code,
// then links the account (link mode) or signs its user in — finding the
// user by the social account, else by a verified email (linking it), else
// creating one. A refusal by the provider, a bad, replayed or expired state
// and an unverifiable answer are 4xx errors.
func (o *OAuth) Callback(ctx context.Context, req OAuthCallback) (*OAuthResult, error) {
	p, err := o.provider(req.Provider)
	if err != nil {
		return nil, err
	}
	if req.Error != "" {
		reason := truncateLogin(req.Error)
		o.auth.audit.event(ctx, ports.AuditLoginFailed, "", map[string]any{"method": "oauth", "provider": req.Provider, "reason": reason})
		if reason == "access_denied" {
			return nil, core.Publicf(core.ErrForbidden, "sign-in with %s was cancelled or refused (access_denied)", req.Provider)
		}
		return nil, core.Publicf(core.ErrUnauthorized, "sign-in with %s failed: %s", req.Provider, oauthErrorCode(reason))
	}
	st, err := o.readState(ctx, req.Cookie, req.Provider, req.State)
	if err != nil {
		return nil, err
	}
	if req.Code == "" || len(req.Code) > 4096 {
		return nil, core.Invalid("code", "is required")
	}
	sum := sha256.Sum256([]byte("oauth-state\x00" + st.State))
	if err := o.uses.Use(ctx, "oauth-"+hex.EncodeToString(sum[:16]), st.LinkUser, time.Unix(st.Expires, 0)); err != nil {
		if errors.Is(err, core.ErrConflict) {
			return nil, core.Public(core.ErrValidation, "this sign-in state was already used: start the sign-in again")
		}
		return nil, core.Unavailable("the store of used sign-in states", err)
	}
	id, err := p.Exchange(ctx, req.Code, ports.OAuthAuthorization{State: st.State, Verifier: st.Verifier, Nonce: st.Nonce, RedirectURI: o.callbackURL(req.Provider)})
	if err != nil {
		o.auth.audit.event(ctx, ports.AuditLoginFailed, "", map[string]any{"method": "oauth", "provider": req.Provider, "reason": "exchange"})
		var pe *core.PublicError
		switch {
		case errors.Is(err, core.ErrUnavailable):
			return nil, err
		case errors.Is(err, core.ErrUnauthorized) || errors.Is(err, core.ErrForbidden) || errors.Is(err, core.ErrValidation):
			if errors.As(err, &pe) {
				return nil, err
			}
		}
		o.auth.log().WarnContext(ctx, "oauth sign-in failed", "provider", req.Provider, "err", err)
		return nil, core.Publicf(core.ErrUnauthorized, "sign-in with %s failed: the provider's answer could not be verified", req.Provider)
	}
	if id.Subject == "" {
		return nil, core.Publicf(core.ErrUnauthorized, "sign-in with %s failed: no user id", req.Provider)
	}
	id.Provider = req.Provider
	res := &OAuthResult{Redirect: "/"}
	if r, err := CheckRedirect(st.Redirect, o.opts.AllowedRedirects); err == nil {
		res.Redirect = r
	}
	sys := ports.WithUser(ctx, &ports.SystemUser)
	if st.LinkUser != "" {
		if err := o.link(sys, st.LinkUser, id); err != nil {
			return nil, err
		}
		res.Linked = true
		return res, nil
	}
	u, err := o.findOrCreate(sys, id)
	if err != nil {
		return nil, err
	}
	if !u.IsActive {
		return nil, core.Public(core.ErrUnauthorized, "account disabled")
	}
	login, err := o.auth.signIn(ctx, u, "oauth", req.IP, req.UserAgent, req.Session, map[string]any{"provider": req.Provider})
	if err != nil {
		return nil, err
	}
	res.LoginResult = *login
	return res, nil
}

// oauthErrorCode keeps an error code of the provider printable and short.
func oauthErrorCode(s string) string {
	b := []byte(s)
	if len(b) > 64 {
		b = b[:64]
	}
	for i, c := range b {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '?'
		}
	}
	return string(b)
}

func accountOf(userID string, id *ports.OAuthIdentity) ports.SocialAccount {
	return ports.SocialAccount{Provider: id.Provider, Subject: clipText(id.Subject, 255), UserID: userID,
		Email: clipText(id.Email, 254), DisplayName: clipText(id.DisplayName, 140)}
}

// clipText makes a provider's text storable: valid UTF-8 without NUL, at
// most n bytes, cut between characters.
func clipText(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// link links id to userID; an account linked to someone else is a conflict.
func (o *OAuth) link(ctx context.Context, userID string, id *ports.OAuthIdentity) error {
	u, err := o.auth.Users.Get(ctx, userID)
	if err != nil || !u.IsActive {
		return core.Public(core.ErrUnauthorized, "the user who started linking is gone or disabled")
	}
	a, err := o.accounts.Find(ctx, id.Provider, id.Subject)
	switch {
	case err == nil && a.UserID == userID:
		return nil
	case err == nil:
		return core.Publicf(core.ErrConflict, "this %s account is linked to another user", id.Provider)
	case !errors.Is(err, core.ErrNotFound):
		return core.Unavailable("the social account store", err)
	}
	if err := o.accounts.Link(ctx, accountOf(userID, id)); err != nil {
		if errors.Is(err, core.ErrConflict) {
			return core.Publicf(core.ErrConflict, "this %s account is linked to another user", id.Provider)
		}
		return err
	}
	o.auth.audit.event(ctx, ports.AuditLogin, userID, map[string]any{"method": "oauth", "provider": id.Provider, "linked": true})
	return nil
}

// findOrCreate returns the user of id: by its social account; else the
// local user with its email when the provider verified it (linked now);
// else a new passwordless user. An unverified email never reaches an
// existing account, nor makes a new one.
func (o *OAuth) findOrCreate(ctx context.Context, id *ports.OAuthIdentity) (*ports.User, error) {
	a, err := o.accounts.Find(ctx, id.Provider, id.Subject)
	if err == nil {
		u, err := o.auth.Users.Get(ctx, a.UserID)
		if err != nil {
			if errors.Is(err, core.ErrNotFound) {
				return nil, core.Public(core.ErrUnauthorized, "the linked account no longer exists")
			}
			return nil, core.Unavailable("the user store", err)
		}
		return u, nil
	}
	if !errors.Is(err, core.ErrNotFound) {
		return nil, core.Unavailable("the social account store", err)
	}
	if id.Email == "" || !id.EmailVerified {
		return nil, core.Publicf(core.ErrForbidden, "%s did not give a verified email: sign in another way and link %s from your account", id.Provider, id.Provider)
	}
	addr, err := NormalizeEmail(id.Email)
	if err != nil {
		return nil, core.Publicf(core.ErrForbidden, "%s gave an unusable email", id.Provider)
	}
	local, err := o.auth.Users.Local()
	if err != nil {
		return nil, err
	}
	u, err := local.FindByEmail(ctx, addr)
	if errors.Is(err, core.ErrNotFound) {
		u, err = local.CreateUser(ctx, ports.NewUser{Email: addr, DisplayName: clipText(id.DisplayName, 140)})
		if errors.Is(err, core.ErrConflict) {
			u, err = local.FindByEmail(ctx, addr)
		}
		if err == nil {
			o.auth.log().InfoContext(ctx, "created a user from an oauth sign-in", "user", u.ID, "provider", id.Provider)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("find or create the user of an oauth sign-in: %w", err)
	}
	if !u.IsActive {
		// Never link a provider account to a disabled user: re-enabling the
		// user must not bring a link nobody approved.
		return nil, core.Public(core.ErrUnauthorized, "account disabled")
	}
	if err := o.accounts.Link(ctx, accountOf(u.ID, id)); err != nil {
		if !errors.Is(err, core.ErrConflict) {
			return nil, err
		}
		// Another callback linked this provider account meanwhile: sign in
		// only when it went to the same user.
		a, ferr := o.accounts.Find(ctx, id.Provider, id.Subject)
		switch {
		case ferr != nil && !errors.Is(ferr, core.ErrNotFound):
			return nil, core.Unavailable("the social account store", ferr)
		case ferr != nil || a.UserID != u.ID:
			return nil, core.Publicf(core.ErrConflict, "this %s account is linked to another user", id.Provider)
		}
	}
	return u, nil
}

// Accounts returns the signed-in user's linked accounts.
func (o *OAuth) Accounts(ctx context.Context, userID string) ([]ports.SocialAccount, error) {
	accts, err := o.accounts.ListByUser(ports.WithUser(ctx, &ports.SystemUser), userID)
	if err != nil {
		return nil, core.Unavailable("the social account store", err)
	}
	return accts, nil
}

// Unlink removes userID's link to provider. The last way a user without a
// password (and without magic links) signs in is never removed.
func (o *OAuth) Unlink(ctx context.Context, userID, provider string) error {
	if _, err := o.provider(provider); err != nil {
		return err
	}
	ctx = ports.WithUser(ctx, &ports.SystemUser)
	accts, err := o.accounts.ListByUser(ctx, userID)
	if err != nil {
		return core.Unavailable("the social account store", err)
	}
	others, here := 0, 0
	for _, a := range accts {
		switch _, served := o.providers[a.Provider]; {
		case a.Provider == provider:
			here++
		case served: // a provider no longer configured signs nobody in
			others++
		}
	}
	if here == 0 {
		return core.Publicf(core.ErrNotFound, "no %s account is linked", provider)
	}
	if others == 0 && !o.opts.OtherSignIn {
		has := false
		if o.auth.Users.Mode().HasPasswords() {
			if has, err = o.accounts.HasPassword(ctx, userID); err != nil {
				return core.Unavailable("the user store", err)
			}
		}
		if !has {
			return core.Publicf(core.ErrConflict, "%s is your only way to sign in: link another provider first", provider)
		}
	}
	if _, err := o.accounts.Unlink(ctx, userID, provider); err != nil {
		return err
	}
	o.auth.audit.event(ctx, ports.AuditLogout, userID, map[string]any{"method": "oauth", "provider": provider, "unlinked": true})
	return nil
}
