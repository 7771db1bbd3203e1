package auth_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/fmtest/authtest"
	"github.com/framework-m/framework-m/fmtest/fakes"
	"github.com/framework-m/framework-m/ports"
)

// memSocial is an auth.SocialAccounts in memory, per tenant.
type memSocial struct {
	mu        sync.Mutex
	accounts  map[string]ports.SocialAccount // tenant/provider/subject
	passwords func(userID string) bool
	// beforeLink, when set, runs before each Link (a racing instance).
	beforeLink func(ctx context.Context, a ports.SocialAccount)
}

func newMemSocial(passwords func(string) bool) *memSocial {
	return &memSocial{accounts: map[string]ports.SocialAccount{}, passwords: passwords}
}

func socialKey(ctx context.Context, provider, subject string) string {
	return ports.TenantIDFrom(ctx) + "\x00" + provider + "\x00" + subject
}

func (m *memSocial) Find(ctx context.Context, provider, subject string) (*ports.SocialAccount, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[socialKey(ctx, provider, subject)]
	if !ok {
		return nil, core.ErrNotFound
	}
	return &a, nil
}

func (m *memSocial) ListByUser(ctx context.Context, userID string) ([]ports.SocialAccount, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ports.SocialAccount
	for k, a := range m.accounts {
		if a.UserID == userID && strings.HasPrefix(k, ports.TenantIDFrom(ctx)+"\x00") {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b ports.SocialAccount) int { return strings.Compare(a.Provider, b.Provider) })
	return out, nil
}

func (m *memSocial) Link(ctx context.Context, a ports.SocialAccount) error {
	if m.beforeLink != nil {
		m.beforeLink(ctx, a)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := socialKey(ctx, a.Provider, a.Subject)
	if _, ok := m.accounts[k]; ok {
		return core.Public(core.ErrConflict, "linked already")
	}
	m.accounts[k] = a
	return nil
}

func (m *memSocial) Unlink(ctx context.Context, userID, provider string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, a := range m.accounts {
		if a.UserID == userID && a.Provider == provider && strings.HasPrefix(k, ports.TenantIDFrom(ctx)+"\x00") {
			delete(m.accounts, k)
			n++
		}
	}
	return n, nil
}

func (m *memSocial) HasPassword(_ context.Context, userID string) (bool, error) {
	return m.passwords(userID), nil
}

func (m *memSocial) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.accounts)
}

// TestMemSocialContract keeps the test double honest: it passes the same
// contract as the real store.
func TestMemSocialContract(t *testing.T) {
	authtest.RunSocialAccounts(t, func(t *testing.T) authtest.SocialFixture {
		return authtest.SocialFixture{Accounts: newMemSocial(func(id string) bool { return id == "pw" }), Ctx: tctx,
			WithPassword: "pw", WithoutPassword: "nopw"}
	})
}

// fakeProvider is a ports.OAuthProvider answering with a set identity.
type fakeProvider struct {
	name string
	mu   sync.Mutex
	last ports.OAuthAuthorization
	id   ports.OAuthIdentity
	err  error
}

func (p *fakeProvider) Name() string { return p.name }

func (p *fakeProvider) AuthCodeURL(_ context.Context, a ports.OAuthAuthorization) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = a
	return "https://idp.example.com/authorize?state=" + url.QueryEscape(a.State), nil
}

func (p *fakeProvider) Exchange(_ context.Context, code string, a ports.OAuthAuthorization) (*ports.OAuthIdentity, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if code != "good-code" || a != p.last {
		return nil, core.Public(core.ErrUnauthorized, "bad code")
	}
	if p.err != nil {
		return nil, p.err
	}
	id := p.id
	return &id, nil
}

// oauthEnv is an OAuth service over in-memory users, tokens, sessions,
// social accounts and used states.
type oauthEnv struct {
	ident    *fakes.Identity
	accounts *memSocial
	google   *fakeProvider
	github   *fakeProvider
	svc      *auth.OAuth
	clock    *fakes.Clock
	ann      *ports.User
}

func newOAuthEnv(t *testing.T) *oauthEnv {
	t.Helper()
	tokens := fakes.NewTokens(0)
	e := &oauthEnv{clock: fakes.NewClock(time.Now()),
		google: &fakeProvider{name: "google"}, github: &fakeProvider{name: "github"}}
	e.ident = fakes.NewIdentity(tokens)
	e.ann = e.ident.Add(ports.User{Email: annEmail, IsActive: true}, annPassword)
	e.accounts = newMemSocial(func(id string) bool { return id == e.ann.ID })
	sessions := auth.NewSessions(newMemSessions(), time.Hour)
	users := auth.NewUserManager(e.ident, auth.ModeLocal, auth.PasswordPolicy{MinLength: 10, MaxLength: 256}, sessions, nil)
	svc := &auth.Service{Users: users, Tokens: tokens, Sessions: sessions}
	var err error
	e.svc, err = auth.NewOAuth(svc, e.accounts, &memUses{used: map[string]time.Time{}}, []ports.OAuthProvider{e.google, e.github},
		auth.OAuthOptions{Key: []byte(strings.Repeat("s", 32)), CallbackBase: "https://app.example.com/api/v1/auth/oauth/",
			AllowedRedirects: []string{"https://app.example.com/"}})
	require.NoError(t, err)
	e.svc.SetClock(e.clock.Now)
	return e
}

// flow starts a flow with provider (linking to linkUser when set) and
// answers it with the provider's identity.
func (e *oauthEnv) flow(t *testing.T, p *fakeProvider, linkUser string) (*auth.OAuthResult, error) {
	t.Helper()
	started, err := e.svc.Start(tctx(tenant), auth.OAuthStart{Provider: p.name, Redirect: "https://app.example.com/home", LinkUser: linkUser})
	require.NoError(t, err)
	return e.svc.Callback(tctx(tenant), auth.OAuthCallback{Provider: p.name, State: p.last.State, Code: "good-code", Cookie: started.Cookie})
}

// TestOAuthSignInCreatesThenFinds: a verified email nobody has makes a
// passwordless user linked to the provider account; the next sign-in finds
// the same user through the link, even when the provider's email changed.
func TestOAuthSignInCreatesThenFinds(t *testing.T) {
	e := newOAuthEnv(t)
	e.google.id = ports.OAuthIdentity{Subject: "g-1", Email: "Bob@Example.com", EmailVerified: true, DisplayName: "Bob"}
	res, err := e.flow(t, e.google, "")
	require.NoError(t, err)
	require.NotNil(t, res.User)
	assert.Equal(t, "bob@example.com", res.User.Email)
	assert.NotEmpty(t, res.Token)
	assert.Equal(t, "https://app.example.com/home", res.Redirect)
	a, err := e.accounts.Find(tctx(tenant), "google", "g-1")
	require.NoError(t, err)
	assert.Equal(t, res.User.ID, a.UserID)

	e.google.id.Email = "bob.new@example.com"
	again, err := e.flow(t, e.google, "")
	require.NoError(t, err)
	assert.Equal(t, res.User.ID, again.User.ID)
	_, err = e.ident.FindByEmail(tctx(tenant), "bob.new@example.com")
	assert.ErrorIs(t, err, core.ErrNotFound, "the second sign-in made no user")
}

// TestOAuthEmailLinking: a verified email links to the local account with
// it; an unverified one never reaches it (nor makes a user).
func TestOAuthEmailLinking(t *testing.T) {
	e := newOAuthEnv(t)
	e.google.id = ports.OAuthIdentity{Subject: "g-ann", Email: annEmail, EmailVerified: false}
	_, err := e.flow(t, e.google, "")
	require.ErrorIs(t, err, core.ErrForbidden)
	assert.Zero(t, e.accounts.count(), "an unverified email linked nothing")

	e.google.id.EmailVerified = true
	res, err := e.flow(t, e.google, "")
	require.NoError(t, err)
	assert.Equal(t, e.ann.ID, res.User.ID)
	assert.Equal(t, 1, e.accounts.count())
}

// TestOAuthDisabledUserIsNotLinked: a verified email of a disabled user
// signs nobody in and links nothing, so enabling the user later does not
// bring a link nobody approved.
// Regression test (a review found it).
func TestOAuthDisabledUserIsNotLinked(t *testing.T) {
	e := newOAuthEnv(t)
	e.ident.Add(ports.User{Email: "off@example.com", IsActive: false}, "")
	e.google.id = ports.OAuthIdentity{Subject: "g-off", Email: "off@example.com", EmailVerified: true}
	_, err := e.flow(t, e.google, "")
	require.ErrorIs(t, err, core.ErrUnauthorized)
	assert.Zero(t, e.accounts.count())
}

// TestOAuthRacingLinkToAnotherUser: when another instance links the same
// provider account to a different user between the lookup and the link,
// the sign-in is refused instead of signing in the email's user.
// Regression test (a review found it).
func TestOAuthRacingLinkToAnotherUser(t *testing.T) {
	e := newOAuthEnv(t)
	e.google.id = ports.OAuthIdentity{Subject: "g-race", Email: annEmail, EmailVerified: true}
	once := sync.Once{}
	e.accounts.beforeLink = func(ctx context.Context, a ports.SocialAccount) {
		once.Do(func() {
			e.accounts.mu.Lock()
			defer e.accounts.mu.Unlock()
			e.accounts.accounts[socialKey(ctx, a.Provider, a.Subject)] = ports.SocialAccount{Provider: a.Provider, Subject: a.Subject, UserID: "mallory"}
		})
	}
	res, err := e.flow(t, e.google, "")
	require.ErrorIs(t, err, core.ErrConflict)
	assert.Nil(t, res)

	// The same race won by the same user signs in.
	e2 := newOAuthEnv(t)
	e2.google.id = e.google.id
	e2.accounts.beforeLink = func(ctx context.Context, a ports.SocialAccount) {
		e2.accounts.mu.Lock()
		defer e2.accounts.mu.Unlock()
		e2.accounts.accounts[socialKey(ctx, a.Provider, a.Subject)] = a
	}
	res, err = e2.flow(t, e2.google, "")
	require.NoError(t, err)
	assert.Equal(t, e2.ann.ID, res.User.ID)
}

// TestOAuthState: a tampered, replayed, expired, other-provider or
// other-tenant state is refused before the code is exchanged.
func TestOAuthState(t *testing.T) {
	e := newOAuthEnv(t)
	e.google.id = ports.OAuthIdentity{Subject: "g-1", Email: annEmail, EmailVerified: true}
	start := func() (*auth.OAuthStarted, string) {
		s, err := e.svc.Start(tctx(tenant), auth.OAuthStart{Provider: "google"})
		require.NoError(t, err)
		return s, e.google.last.State
	}
	call := func(ctx context.Context, provider, state, cookie string) error {
		_, err := e.svc.Callback(ctx, auth.OAuthCallback{Provider: provider, State: state, Code: "good-code", Cookie: cookie})
		return err
	}
	s, state := start()
	tampered := []byte(s.Cookie)
	tampered[3] ^= 1
	assert.ErrorIs(t, call(tctx(tenant), "google", state, string(tampered)), core.ErrValidation)
	assert.ErrorIs(t, call(tctx(tenant), "google", state+"x", s.Cookie), core.ErrValidation)
	assert.ErrorIs(t, call(tctx(tenant), "github", state, s.Cookie), core.ErrValidation)
	assert.ErrorIs(t, call(tctx("other"), "google", state, s.Cookie), core.ErrValidation)
	require.NoError(t, call(tctx(tenant), "google", state, s.Cookie))
	assert.ErrorIs(t, call(tctx(tenant), "google", state, s.Cookie), core.ErrValidation, "replayed")

	s, state = start()
	e.clock.Advance(auth.DefaultOAuthStateTTL + time.Second)
	assert.ErrorIs(t, call(tctx(tenant), "google", state, s.Cookie), core.ErrValidation, "expired")

	_, err := e.svc.Start(tctx(tenant), auth.OAuthStart{Provider: "google", Redirect: "https://evil.example.net/"})
	assert.ErrorIs(t, err, core.ErrValidation, "open redirect")
	_, err = e.svc.Start(tctx(tenant), auth.OAuthStart{Provider: "nope"})
	assert.ErrorIs(t, err, core.ErrNotFound)
}

// TestOAuthProviderErrors: a refusal or an unverifiable answer is a 4xx
// error, an unreachable provider 503.
func TestOAuthProviderErrors(t *testing.T) {
	e := newOAuthEnv(t)
	_, err := e.svc.Callback(tctx(tenant), auth.OAuthCallback{Provider: "google", Error: "access_denied"})
	assert.ErrorIs(t, err, core.ErrForbidden)
	_, err = e.svc.Callback(tctx(tenant), auth.OAuthCallback{Provider: "google", Error: "server_error\r\n<script>"})
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	e.google.err = errors.New("signature mismatch")
	_, err = e.flow(t, e.google, "")
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	e.google.err = core.Unavailable("google", errors.New("dial tcp: refused"))
	_, err = e.flow(t, e.google, "")
	assert.ErrorIs(t, err, core.ErrUnavailable)
}

// TestOAuthLinkAndUnlink: a signed-in user links providers; an account
// linked to someone else is a conflict; the last way to sign in is never
// unlinked, a password counts as one.
func TestOAuthLinkAndUnlink(t *testing.T) {
	e := newOAuthEnv(t)
	bob := e.ident.Add(ports.User{Email: "bob@example.com", IsActive: true}, "")
	e.google.id = ports.OAuthIdentity{Subject: "g-bob", Email: "someone@else.example"}
	res, err := e.flow(t, e.google, bob.ID)
	require.NoError(t, err)
	assert.True(t, res.Linked)
	assert.Empty(t, res.Token, "linking signs nobody in")

	e.google.id.Subject = "g-bob" // already bob's
	_, err = e.flow(t, e.google, e.ann.ID)
	assert.ErrorIs(t, err, core.ErrConflict)

	ctx := tctx(tenant)
	assert.ErrorIs(t, e.svc.Unlink(ctx, bob.ID, "google"), core.ErrConflict, "bob has no other way in")
	e.github.id = ports.OAuthIdentity{Subject: "gh-bob"}
	_, err = e.flow(t, e.github, bob.ID)
	require.NoError(t, err)
	require.NoError(t, e.svc.Unlink(ctx, bob.ID, "google"))
	accts, err := e.svc.Accounts(ctx, bob.ID)
	require.NoError(t, err)
	require.Len(t, accts, 1)
	assert.Equal(t, "github", accts[0].Provider)
	assert.ErrorIs(t, e.svc.Unlink(ctx, bob.ID, "google"), core.ErrNotFound)

	// Ann has a password: her only provider can go.
	e.github.id = ports.OAuthIdentity{Subject: "gh-ann"}
	_, err = e.flow(t, e.github, e.ann.ID)
	require.NoError(t, err)
	require.NoError(t, e.svc.Unlink(ctx, e.ann.ID, "github"))
}
