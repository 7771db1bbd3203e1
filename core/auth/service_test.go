package auth_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/adapters/identity/local"
	"github.com/framework-m/framework-m/adapters/ratelimit/memory"
	"github.com/framework-m/framework-m/adapters/token/jwt"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

const (
	annEmail    = "ann@example.com"
	annPassword = "correct horse battery staple"
)

func tctx(tenant string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.SystemUser)
}

// countingIdentity is the real local provider, counting the calls that do
// password work.
type countingIdentity struct {
	*local.Provider
	authenticates, checks atomic.Int64
}

func (c *countingIdentity) Authenticate(ctx context.Context, creds ports.Credentials) (*ports.Token, error) {
	c.authenticates.Add(1)
	return c.Provider.Authenticate(ctx, creds)
}

func (c *countingIdentity) CheckPassword(ctx context.Context, email, password string) (*ports.User, error) {
	c.checks.Add(1)
	return c.Provider.CheckPassword(ctx, email, password)
}

// passwordWork is how many calls did password work so far.
func (c *countingIdentity) passwordWork() int64 { return c.authenticates.Load() + c.checks.Load() }

// env is a Service wired like the app wires it: local identity on SQLite, JWT
// tokens, an in-memory session store, API keys in the database, and a login
// throttle on the in-memory limiter.
type env struct {
	repo     *db.Repository
	ident    *countingIdentity
	tokens   *jwt.Service
	store    *memSessions
	sessions *auth.Sessions
	keys     *auth.APIKeys
	users    *auth.UserManager
	limiter  *memory.Limiter
	svc      *auth.Service
}

type envConfig struct {
	mode              auth.Mode
	perIP, perAccount int
}

func newEnv(t *testing.T, opts ...func(*envConfig)) *env {
	t.Helper()
	ec := envConfig{mode: auth.ModeLocal, perIP: 1000, perAccount: 1000}
	for _, o := range opts {
		o(&ec)
	}
	ctx := context.Background()
	cfg := fmtest.Config(t, fmtest.SQLite)
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	require.NoError(t, doctypes.RegisterIdentity(reg, true))
	gdb, err := db.Open(ctx, cfg.Database, cfg.App.DataDir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
	repo := db.New(gdb, reg)
	require.NoError(t, repo.Migrate(ctx))

	tokens, err := jwt.New(cfg.Auth.JWT, []byte(strings.Repeat("k", 40)))
	require.NoError(t, err)
	hasher, err := local.NewHasher(config.Password{
		MinLength: 10, MaxLength: 256,
		Argon2MemoryKiB: 1024, Argon2Iterations: 1, Argon2Parallelism: 1,
		MaxConcurrentHashes: 2,
	})
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	ident := &countingIdentity{Provider: local.New(repo, tokens, hasher, log)}
	store := newMemSessions()
	sessions := auth.NewSessions(store, time.Hour)
	keys := auth.NewAPIKeys(local.NewAPIKeyStore(repo), log)
	users := auth.NewUserManager(ident, ec.mode, auth.PasswordPolicy{MinLength: 10, MaxLength: 256}, sessions, keys)
	limiter := memory.New()
	e := &env{
		repo: repo, ident: ident, tokens: tokens, store: store, sessions: sessions, keys: keys, users: users, limiter: limiter,
		svc: &auth.Service{
			Users: users, Tokens: tokens, Revocations: local.NewRevocations(repo),
			Sessions: sessions, APIKeys: keys,
			Throttle: auth.NewThrottle(limiter, ec.perIP, ec.perAccount, time.Minute),
			Log:      log,
		},
	}
	return e
}

func withMode(m auth.Mode) func(*envConfig) { return func(c *envConfig) { c.mode = m } }

func withThrottle(perIP, perAccount int) func(*envConfig) {
	return func(c *envConfig) { c.perIP, c.perAccount = perIP, perAccount }
}

// user creates a local user (with the provider directly, whatever the mode).
func (e *env) user(t *testing.T, ctx context.Context, email string, roles ...string) *ports.User {
	t.Helper()
	u, err := e.ident.CreateUser(ctx, ports.NewUser{Email: email, Password: annPassword, DisplayName: "Test", Roles: roles})
	require.NoError(t, err)
	return u
}

func (e *env) setActive(t *testing.T, ctx context.Context, id string, active bool) {
	t.Helper()
	d, err := e.repo.Get(ctx, doctypes.LocalUserDocType, id)
	require.NoError(t, err)
	d.(*doctypes.LocalUser).IsActive = active
	require.NoError(t, e.repo.Update(ctx, doctypes.LocalUserDocType, d))
}

func (e *env) login(t *testing.T, ctx context.Context, email string, session bool) *auth.LoginResult {
	t.Helper()
	res, err := e.svc.Login(ctx, auth.LoginRequest{Email: email, Password: annPassword, IP: "192.0.2.1", UserAgent: "test", Session: session})
	require.NoError(t, err)
	return res
}

func TestLoginFailuresAreOneGeneric401(t *testing.T) {
	e := newEnv(t)
	ctx := tctx("default")
	e.user(t, ctx, annEmail)
	inactive := e.user(t, ctx, "ina@example.com")
	e.setActive(t, ctx, inactive.ID, false)

	var messages []string
	for _, tc := range []struct{ name, email, password string }{
		{"unknown email", "nobody@example.com", annPassword},
		{"wrong password", annEmail, "not the password"},
		{"empty password", annEmail, ""},
		{"inactive user", "ina@example.com", annPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.svc.Login(ctx, auth.LoginRequest{Email: tc.email, Password: tc.password, IP: "192.0.2.1"})
			assert.Nil(t, res)
			require.ErrorIs(t, err, core.ErrUnauthorized)
			var pub *core.PublicError
			require.ErrorAs(t, err, &pub)
			assert.Equal(t, "invalid email or password", pub.Msg)
			messages = append(messages, err.Error())
		})
	}
	require.Len(t, messages, 4)
	for _, m := range messages {
		assert.Equal(t, messages[0], m, "nothing tells which part was wrong")
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	ctx := tctx("default")
	u := e.user(t, ctx, annEmail, "Sales")

	res := e.login(t, ctx, "ANN@example.com", false)
	require.NotNil(t, res.Token)
	assert.NotEmpty(t, res.Token.AccessToken)
	assert.Equal(t, u.ID, res.User.ID)
	assert.Nil(t, res.Session, "no session unless asked")
	assert.Zero(t, e.store.count("default", u.ID))

	res = e.login(t, ctx, annEmail, true)
	require.NotNil(t, res.Session)
	assert.Equal(t, 1, e.store.count("default", u.ID))
	assert.Equal(t, auth.HashSecret(res.Session.Secret), res.Session.Session.ID)
	assert.Equal(t, "192.0.2.1", res.Session.Session.IPAddress)
	assert.Equal(t, "test", res.Session.Session.UserAgent)
	uc, err := e.svc.SessionUser(ctx, res.Session.Secret)
	require.NoError(t, err)
	assert.Equal(t, u.ID, uc.ID)

	again := e.login(t, ctx, annEmail, true)
	assert.NotEqual(t, res.Session.Session.ID, again.Session.Session.ID, "a new session at every login")
	assert.NotEqual(t, res.Token.ID, again.Token.ID)

	noSessions := *e.svc
	noSessions.Sessions = nil
	_, err = noSessions.Login(ctx, auth.LoginRequest{Email: annEmail, Password: annPassword, Session: true})
	assert.ErrorIs(t, err, core.ErrNotSupported)
}

func TestLoginOnlyInLocalMode(t *testing.T) {
	for _, mode := range []auth.Mode{auth.ModeSocialOnly, auth.ModePasswordless} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, withMode(mode))
			ctx := tctx("default")
			e.user(t, ctx, annEmail)
			_, err := e.svc.Login(ctx, auth.LoginRequest{Email: annEmail, Password: annPassword})
			assert.ErrorIs(t, err, core.ErrNotSupported)
			assert.Zero(t, e.ident.passwordWork(), "no password is checked")

			_, err = e.svc.BasicUser(ctx, annEmail, annPassword, "192.0.2.1")
			assert.ErrorIs(t, err, core.ErrUnauthorized, "no basic auth either")
			assert.Zero(t, e.ident.passwordWork())
		})
	}
}

func TestBearerUser(t *testing.T) {
	e := newEnv(t)
	ctx := tctx("default")
	ann := e.user(t, ctx, annEmail, "Sales")

	issue := func(u *ports.User) string {
		t.Helper()
		tok, err := e.tokens.Issue(ctx, u)
		require.NoError(t, err)
		return tok.AccessToken
	}

	t.Run("fresh token", func(t *testing.T) {
		res := e.login(t, ctx, annEmail, false)
		uc, err := e.svc.BearerUser(ctx, res.Token.AccessToken)
		require.NoError(t, err)
		assert.Equal(t, ann.ID, uc.ID)
		assert.Equal(t, annEmail, uc.Email)
		assert.Equal(t, "default", uc.TenantID)
		assert.Equal(t, "bearer", uc.Method)
		assert.Equal(t, res.Token.ID, uc.TokenID)
		assert.True(t, res.Token.ExpiresAt.Equal(uc.TokenExpiresAt))
		assert.True(t, uc.HasRole("Sales"))
		assert.Equal(t, []string{"Sales"}, uc.Attributes["roles"])
	})

	t.Run("garbage", func(t *testing.T) {
		_, err := e.svc.BearerUser(ctx, "not-a-token")
		assert.ErrorIs(t, err, core.ErrUnauthorized)
	})

	t.Run("token of another tenant", func(t *testing.T) {
		// Same user id and token version: only the tenant claim differs, so
		// only the tenant check can refuse it.
		control := issue(&ports.User{ID: ann.ID, TenantID: "default", TokenVersion: ann.TokenVersion})
		_, err := e.svc.BearerUser(ctx, control)
		require.NoError(t, err, "control: the same token for this tenant works")

		forged := issue(&ports.User{ID: ann.ID, TenantID: "other", TokenVersion: ann.TokenVersion})
		_, err = e.svc.BearerUser(ctx, forged)
		assert.ErrorIs(t, err, core.ErrUnauthorized)

		_, err = e.svc.BearerUser(tctx("other"), control)
		assert.ErrorIs(t, err, core.ErrUnauthorized, "this tenant's token presented to another tenant")
	})

	t.Run("revoked", func(t *testing.T) {
		res := e.login(t, ctx, annEmail, false)
		require.NoError(t, e.svc.Revocations.Revoke(ctx, res.Token.ID, ann.ID, res.Token.ExpiresAt))
		_, err := e.svc.BearerUser(ctx, res.Token.AccessToken)
		assert.ErrorIs(t, err, core.ErrUnauthorized)
	})

	t.Run("inactive user", func(t *testing.T) {
		res := e.login(t, ctx, annEmail, false)
		e.setActive(t, ctx, ann.ID, false)
		_, err := e.svc.BearerUser(ctx, res.Token.AccessToken)
		assert.ErrorIs(t, err, core.ErrUnauthorized)
		e.setActive(t, ctx, ann.ID, true)
		_, err = e.svc.BearerUser(ctx, res.Token.AccessToken)
		assert.NoError(t, err, "control: active again, accepted again")
	})

	t.Run("token version bumped", func(t *testing.T) {
		old := e.login(t, ctx, annEmail, false)
		require.NoError(t, e.users.LogoutEverywhere(ctx, ann.ID))
		_, err := e.svc.BearerUser(ctx, old.Token.AccessToken)
		assert.ErrorIs(t, err, core.ErrUnauthorized, "every older token stops working")

		fresh := e.login(t, ctx, annEmail, false)
		_, err = e.svc.BearerUser(ctx, fresh.Token.AccessToken)
		assert.NoError(t, err, "a token issued afterwards works")
	})

	t.Run("deleted user", func(t *testing.T) {
		bob := e.user(t, ctx, "bob@example.com")
		res := e.login(t, ctx, "bob@example.com", false)
		require.NoError(t, e.ident.DeleteUser(ctx, bob.ID, false))
		_, err := e.svc.BearerUser(ctx, res.Token.AccessToken)
		assert.ErrorIs(t, err, core.ErrUnauthorized)
	})

	t.Run("tokens not enabled", func(t *testing.T) {
		s := *e.svc
		s.Tokens = nil
		_, err := s.BearerUser(ctx, "anything")
		assert.ErrorIs(t, err, core.ErrUnauthorized)
	})
}

func TestAPIKeyUser(t *testing.T) {
	e := newEnv(t)
	ctx := tctx("default")
	ann := e.user(t, ctx, annEmail, "Sales")
	key, rec, err := e.keys.Create(ctx, ann.ID, auth.NewKey{Name: "ci", Scopes: []string{"Invoice:read", "*:create"}})
	require.NoError(t, err)

	uc, err := e.svc.APIKeyUser(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, ann.ID, uc.ID)
	assert.Equal(t, "api_key", uc.Method)
	assert.Equal(t, []string{"Invoice:read", "*:create"}, uc.Scopes, "the principal carries the key's scopes")
	assert.True(t, uc.ScopeAllows("Invoice", ports.Action("read")))
	assert.False(t, uc.ScopeAllows("Invoice", ports.Action("write")))
	assert.True(t, uc.HasRole("Sales"))

	_, err = e.svc.APIKeyUser(ctx, "fmk_"+rec.ID+"_"+auth.RandomToken(32))
	assert.ErrorIs(t, err, core.ErrUnauthorized)

	e.setActive(t, ctx, ann.ID, false)
	_, err = e.svc.APIKeyUser(ctx, key)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "an inactive user's keys fail")
	e.setActive(t, ctx, ann.ID, true)

	require.NoError(t, e.keys.Revoke(ctx, ann.ID, rec.ID))
	_, err = e.svc.APIKeyUser(ctx, key)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "a revoked key fails")

	s := *e.svc
	s.APIKeys = nil
	_, err = s.APIKeyUser(ctx, key)
	assert.ErrorIs(t, err, core.ErrUnauthorized)
}

func TestSessionUserAndLogout(t *testing.T) {
	e := newEnv(t)
	ctx := tctx("default")
	ann := e.user(t, ctx, annEmail)
	res := e.login(t, ctx, annEmail, true)

	uc, err := e.svc.SessionUser(ctx, res.Session.Secret)
	require.NoError(t, err)
	assert.Equal(t, ann.ID, uc.ID)
	assert.Equal(t, "session_cookie", uc.Method)
	assert.Equal(t, res.Session.Session.ID, uc.SessionID)
	assert.True(t, auth.CheckCSRF(uc.CSRFHash, res.Session.CSRFToken), "the principal carries the session's CSRF hash")

	_, err = e.svc.SessionUser(ctx, auth.RandomToken(32))
	assert.ErrorIs(t, err, core.ErrUnauthorized)

	e.setActive(t, ctx, ann.ID, false)
	_, err = e.svc.SessionUser(ctx, res.Session.Secret)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "an inactive user's sessions fail")
	e.setActive(t, ctx, ann.ID, true)

	require.NoError(t, e.svc.Logout(ctx, uc))
	_, err = e.svc.SessionUser(ctx, res.Session.Secret)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "logout ends the session")

	// Logout with a bearer token revokes it.
	tok := e.login(t, ctx, annEmail, false)
	buc, err := e.svc.BearerUser(ctx, tok.Token.AccessToken)
	require.NoError(t, err)
	require.NoError(t, e.svc.Logout(ctx, buc))
	_, err = e.svc.BearerUser(ctx, tok.Token.AccessToken)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "logout revokes the presented token")
	other := e.login(t, ctx, annEmail, false)
	_, err = e.svc.BearerUser(ctx, other.Token.AccessToken)
	assert.NoError(t, err, "only that token")

	s := *e.svc
	s.Sessions = nil
	_, err = s.SessionUser(ctx, res.Session.Secret)
	assert.ErrorIs(t, err, core.ErrUnauthorized)
}

func TestBasicUser(t *testing.T) {
	e := newEnv(t)
	ctx := tctx("default")
	ann := e.user(t, ctx, annEmail, "Sales")

	uc, err := e.svc.BasicUser(ctx, annEmail, annPassword, "192.0.2.1")
	require.NoError(t, err)
	assert.Equal(t, ann.ID, uc.ID)
	assert.Equal(t, "basic", uc.Method)
	assert.True(t, uc.HasRole("Sales"))

	for _, tc := range []struct{ email, password string }{
		{annEmail, "wrong password"},
		{"nobody@example.com", annPassword},
	} {
		_, err := e.svc.BasicUser(ctx, tc.email, tc.password, "192.0.2.1")
		require.ErrorIs(t, err, core.ErrUnauthorized)
		assert.Equal(t, "invalid email or password", err.Error())
	}
}

func TestBasicUserIsThrottled(t *testing.T) {
	t.Run("per address", func(t *testing.T) {
		e := newEnv(t, withThrottle(2, 100))
		ctx := tctx("default")
		e.user(t, ctx, annEmail)
		for range 2 {
			_, err := e.svc.BasicUser(ctx, annEmail, "wrong password", "192.0.2.1")
			require.ErrorIs(t, err, core.ErrUnauthorized)
		}
		work := e.ident.passwordWork()
		_, err := e.svc.BasicUser(ctx, annEmail, annPassword, "192.0.2.1")
		assert.ErrorIs(t, err, core.ErrTooMany, "even the right password is refused once throttled")
		assert.Equal(t, work, e.ident.passwordWork(), "refused before any password work")

		_, err = e.svc.BasicUser(ctx, annEmail, annPassword, "192.0.2.2")
		assert.NoError(t, err, "another address is not throttled")
	})

	t.Run("per account", func(t *testing.T) {
		e := newEnv(t, withThrottle(100, 2))
		ctx := tctx("default")
		e.user(t, ctx, annEmail)
		_, err := e.svc.BasicUser(ctx, annEmail, "wrong password", "192.0.2.1")
		require.ErrorIs(t, err, core.ErrUnauthorized)
		_, err = e.svc.BasicUser(ctx, annEmail, "wrong password", "192.0.2.2")
		require.ErrorIs(t, err, core.ErrUnauthorized)

		work := e.ident.passwordWork()
		_, err = e.svc.BasicUser(ctx, annEmail, annPassword, "192.0.2.3")
		assert.ErrorIs(t, err, core.ErrTooMany, "failures on the account from any address count")
		assert.Equal(t, work, e.ident.passwordWork())
	})
}
