package local_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/adapters/identity/local"
	"github.com/framework-m/framework-m/adapters/token/jwt"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

const goodPassword = "correct horse battery staple"

func smallParams() config.Password {
	return config.Password{
		MinLength: 10, MaxLength: 256,
		Argon2MemoryKiB: 1024, Argon2Iterations: 1, Argon2Parallelism: 1,
		MaxConcurrentHashes: 2,
	}
}

// fixture is a Provider on a fresh migrated SQLite database.
type fixture struct {
	repo     *db.Repository
	cfg      config.Config
	hasher   *local.Hasher
	verifies *atomic.Int64
	p        *local.Provider
	tokens   *jwt.Service
}

func newRepo(t *testing.T) (*db.Repository, config.Config) {
	t.Helper()
	return migratedWith(t, fmtest.SQLite)
}

func newHasher(t *testing.T, mutate func(*config.Password)) *local.Hasher {
	t.Helper()
	pc := smallParams()
	if mutate != nil {
		mutate(&pc)
	}
	h, err := local.NewHasher(pc)
	require.NoError(t, err)
	return h
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	repo, cfg := newRepo(t)
	tokens, err := jwt.New(cfg.Auth.JWT, []byte(strings.Repeat("k", 40)))
	require.NoError(t, err)
	h := newHasher(t, nil)
	return &fixture{
		repo: repo, cfg: cfg, hasher: h, verifies: local.CountVerifications(h),
		p: local.New(repo, tokens, h, nil), tokens: tokens,
	}
}

func tctx(tenant string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.SystemUser)
}

func (f *fixture) create(t *testing.T, ctx context.Context, email string) *ports.User {
	t.Helper()
	u, err := f.p.CreateUser(ctx, ports.NewUser{Email: email, Password: goodPassword, DisplayName: "Ann", Roles: []string{"Sales"}})
	require.NoError(t, err)
	return u
}

func (f *fixture) doc(t *testing.T, ctx context.Context, id string) *doctypes.LocalUser {
	t.Helper()
	d, err := f.repo.Get(ctx, doctypes.LocalUserDocType, id)
	require.NoError(t, err)
	return d.(*doctypes.LocalUser)
}

func (f *fixture) setActive(t *testing.T, ctx context.Context, id string, active bool) {
	t.Helper()
	d := f.doc(t, ctx, id)
	d.IsActive = active
	require.NoError(t, f.repo.Update(ctx, doctypes.LocalUserDocType, d))
}

func TestCreateUser(t *testing.T) {
	f := newFixture(t)
	ctx := tctx("default")

	u, err := f.p.CreateUser(ctx, ports.NewUser{
		Email: "  Ann.Lee@Example.COM ", Password: goodPassword, DisplayName: "Ann Lee",
		Roles: []string{"Sales"}, Attributes: map[string]any{"department": "sales"},
	})
	require.NoError(t, err)
	assert.NotEmpty(t, u.ID)
	assert.Equal(t, "ann.lee@example.com", u.Email, "trimmed and lower-cased")
	assert.Equal(t, "Ann Lee", u.DisplayName)
	assert.Equal(t, "default", u.TenantID)
	assert.True(t, u.IsActive)
	assert.Equal(t, []string{"Sales"}, u.Roles)

	d := f.doc(t, ctx, u.ID)
	assert.Equal(t, "ann.lee@example.com", d.Email)
	assert.True(t, strings.HasPrefix(d.PasswordHash, "$argon2id$"), "a hash is stored: %q", d.PasswordHash)
	assert.NotContains(t, d.PasswordHash, goodPassword, "never the password")
	assert.Equal(t, u.ID, d.Owner, "users own their own record")
	assert.Equal(t, u.ID, d.Name)
	assert.Equal(t, "sales", d.Attributes["department"])

	got, err := f.p.GetUser(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, u.Email, got.Email)

	byEmail, err := f.p.FindByEmail(ctx, " ANN.LEE@example.com")
	require.NoError(t, err)
	assert.Equal(t, u.ID, byEmail.ID, "found case-insensitively")

	noPw, err := f.p.CreateUser(ctx, ports.NewUser{Email: "nopw@example.com"})
	require.NoError(t, err)
	assert.Empty(t, f.doc(t, ctx, noPw.ID).PasswordHash, "no password, no hash")
	assert.NotNil(t, noPw.Roles)
}

func TestCreateUserDuplicateEmail(t *testing.T) {
	f := newFixture(t)
	ctx := tctx("default")
	f.create(t, ctx, "ann@example.com")
	for _, email := range []string{"ann@example.com", "ANN@example.com", " Ann@Example.Com "} {
		_, err := f.p.CreateUser(ctx, ports.NewUser{Email: email, Password: goodPassword})
		assert.ErrorIs(t, err, core.ErrConflict, "email %q", email)
	}
	n, err := f.p.CountUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

func TestCheckPassword(t *testing.T) {
	f := newFixture(t)
	ctx := tctx("default")
	u := f.create(t, ctx, "ann@example.com")

	got, err := f.p.CheckPassword(ctx, "ANN@example.com", goodPassword)
	require.NoError(t, err)
	assert.Equal(t, u.ID, got.ID)

	for _, tc := range []struct{ name, email, password string }{
		{"wrong password", "ann@example.com", "correct horse battery stapler"},
		{"empty password", "ann@example.com", ""},
		{"unknown email", "bob@example.com", goodPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.p.CheckPassword(ctx, tc.email, tc.password)
			assert.ErrorIs(t, err, core.ErrUnauthorized)
			assert.Nil(t, got)
			assert.Equal(t, "invalid email or password", err.Error(), "one generic message")
		})
	}
}

// TestEveryLoginFailureCostsOneVerification is the timing-equivalence rule:
// an unknown email, a wrong password, an inactive user and a user without a
// password all take the same path — exactly one password verification.
func TestEveryLoginFailureCostsOneVerification(t *testing.T) {
	f := newFixture(t)
	ctx := tctx("default")
	f.create(t, ctx, "ann@example.com")
	inactive := f.create(t, ctx, "ina@example.com")
	f.setActive(t, ctx, inactive.ID, false)
	_, err := f.p.CreateUser(ctx, ports.NewUser{Email: "nopw@example.com"})
	require.NoError(t, err)

	count := func(email, password string) (int64, error) {
		before := f.verifies.Load()
		_, err := f.p.CheckPassword(ctx, email, password)
		return f.verifies.Load() - before, err
	}

	wrong, err := count("ann@example.com", "not the password")
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	assert.Equal(t, int64(1), wrong, "a wrong password is one verification")

	unknown, err := count("nobody@example.com", "not the password")
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	assert.Equal(t, int64(1), unknown, "an unknown email still spends one verification")
	assert.Equal(t, wrong, unknown, "unknown email and wrong password do the same work")

	inact, err := count("ina@example.com", goodPassword)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "an inactive user cannot log in, even with the right password")
	assert.Equal(t, int64(1), inact)

	noPw, err := count("nopw@example.com", "unknown user: spend the same work")
	assert.ErrorIs(t, err, core.ErrUnauthorized, "a user without a password cannot log in with one")
	assert.Equal(t, int64(1), noPw)

	ok, err := count("ann@example.com", goodPassword)
	require.NoError(t, err)
	assert.Equal(t, int64(1), ok)
}

func TestCheckPasswordRefusesOutOfBoundsStoredHash(t *testing.T) {
	f := newFixture(t)
	ctx := tctx("default")
	u := f.create(t, ctx, "ann@example.com")
	d := f.doc(t, ctx, u.ID)
	d.PasswordHash = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	require.NoError(t, f.repo.Update(ctx, doctypes.LocalUserDocType, d))

	_, err := f.p.CheckPassword(ctx, "ann@example.com", goodPassword)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "a forged hash is a failed login, not a 4 GiB allocation")
	assert.ErrorIs(t, f.p.VerifyPassword(ctx, u.ID, goodPassword), core.ErrUnauthorized)
}

func TestWeakHashIsUpgradedAtLogin(t *testing.T) {
	repo, cfg := newRepo(t)
	ctx := tctx("default")
	tokens, err := jwt.New(cfg.Auth.JWT, []byte(strings.Repeat("k", 40)))
	require.NoError(t, err)

	// The user was created when the server was configured with weaker parameters.
	weak := local.New(repo, tokens, newHasher(t, func(c *config.Password) { c.Argon2MemoryKiB = 512 }), nil)
	u, err := weak.CreateUser(ctx, ports.NewUser{Email: "ann@example.com", Password: goodPassword})
	require.NoError(t, err)
	load := func() *doctypes.LocalUser {
		d, err := repo.Get(ctx, doctypes.LocalUserDocType, u.ID)
		require.NoError(t, err)
		return d.(*doctypes.LocalUser)
	}
	oldHash := load().PasswordHash
	require.Contains(t, oldHash, "$m=512,t=1,p=1$")

	p := local.New(repo, tokens, newHasher(t, nil), nil) // now: m=1024

	_, err = p.CheckPassword(ctx, "ann@example.com", "a wrong password")
	require.ErrorIs(t, err, core.ErrUnauthorized)
	assert.Equal(t, oldHash, load().PasswordHash, "a failed login changes nothing")

	_, err = p.CheckPassword(ctx, "ann@example.com", goodPassword)
	require.NoError(t, err)
	newHash := load().PasswordHash
	assert.NotEqual(t, oldHash, newHash, "re-hashed after a successful login")
	assert.Contains(t, newHash, "$m=1024,t=1,p=1$", "with the configured parameters")
	assert.Equal(t, u.TokenVersion, load().TokenVersion, "an upgrade is not a password change")

	_, err = p.CheckPassword(ctx, "ann@example.com", goodPassword)
	require.NoError(t, err, "the upgraded hash verifies")
	assert.Equal(t, newHash, load().PasswordHash, "a hash with the configured parameters is left alone")
}

func TestAuthenticateIssuesTokenAndRecordsLogin(t *testing.T) {
	f := newFixture(t)
	ctx := tctx("default")
	u := f.create(t, ctx, "ann@example.com")
	require.Nil(t, f.doc(t, ctx, u.ID).LastLoginAt)

	tok, err := f.p.Authenticate(ctx, ports.PasswordCredentials{Email: "ann@example.com", Password: goodPassword})
	require.NoError(t, err)
	assert.Equal(t, u.ID, tok.UserID)
	assert.Equal(t, "Bearer", tok.TokenType)
	c, err := f.tokens.Verify(ctx, tok.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, u.ID, c.Subject)
	assert.Equal(t, "default", c.TenantID)
	assert.NotNil(t, f.doc(t, ctx, u.ID).LastLoginAt, "login time recorded")

	_, err = f.p.Authenticate(ctx, ports.PasswordCredentials{Email: "ann@example.com", Password: "wrong password!"})
	assert.ErrorIs(t, err, core.ErrUnauthorized)

	_, err = f.p.Authenticate(ctx, magicLink{})
	assert.ErrorIs(t, err, core.ErrNotSupported)

	noTokens := local.New(f.repo, nil, f.hasher, nil)
	_, err = noTokens.Authenticate(ctx, ports.PasswordCredentials{Email: "ann@example.com", Password: goodPassword})
	assert.ErrorIs(t, err, core.ErrNotSupported)
}

type magicLink struct{}

func (magicLink) CredentialKind() string { return "magic_link" }

func TestAttributesCarryRoles(t *testing.T) {
	f := newFixture(t)
	u := &ports.User{ID: "u", Roles: []string{"Sales"}, Attributes: map[string]any{"department": "sales"}}
	attrs := f.p.Attributes(tctx("default"), u)
	assert.Equal(t, "sales", attrs["department"])
	assert.Equal(t, []string{"Sales"}, attrs["roles"])
	assert.NotContains(t, u.Attributes, "roles", "the user's own map is not modified")
}

func TestSetPasswordAndTokenVersion(t *testing.T) {
	f := newFixture(t)
	ctx := tctx("default")
	u := f.create(t, ctx, "ann@example.com")
	v0 := f.doc(t, ctx, u.ID).TokenVersion

	const next = "another fine passphrase"
	require.NoError(t, f.p.SetPassword(ctx, u.ID, next))
	assert.Equal(t, v0+1, f.doc(t, ctx, u.ID).TokenVersion, "a new password invalidates older tokens")

	_, err := f.p.CheckPassword(ctx, "ann@example.com", goodPassword)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "the old password stops working")
	_, err = f.p.CheckPassword(ctx, "ann@example.com", next)
	assert.NoError(t, err)
	assert.NoError(t, f.p.VerifyPassword(ctx, u.ID, next))
	assert.ErrorIs(t, f.p.VerifyPassword(ctx, u.ID, goodPassword), core.ErrUnauthorized)

	require.NoError(t, f.p.BumpTokenVersion(ctx, u.ID))
	got, err := f.p.GetUser(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, v0+2, got.TokenVersion)
	_, err = f.p.CheckPassword(ctx, "ann@example.com", next)
	assert.NoError(t, err, "bumping the token version leaves the password alone")

	assert.ErrorIs(t, f.p.SetPassword(ctx, "no-such-user", next), core.ErrNotFound)
	assert.ErrorIs(t, f.p.BumpTokenVersion(ctx, "no-such-user"), core.ErrNotFound)
	assert.ErrorIs(t, f.p.VerifyPassword(ctx, "no-such-user", next), core.ErrNotFound)
}

func TestDeleteUser(t *testing.T) {
	f := newFixture(t)
	ctx := tctx("default")

	t.Run("hard", func(t *testing.T) {
		u := f.create(t, ctx, "hard@example.com")
		require.NoError(t, f.p.DeleteUser(ctx, u.ID, false))
		_, err := f.p.GetUser(ctx, u.ID)
		assert.ErrorIs(t, err, core.ErrNotFound)
		_, err = f.p.FindByEmail(ctx, "hard@example.com")
		assert.ErrorIs(t, err, core.ErrNotFound)
		assert.ErrorIs(t, f.p.DeleteUser(ctx, u.ID, false), core.ErrNotFound)
	})

	t.Run("anonymize", func(t *testing.T) {
		u, err := f.p.CreateUser(ctx, ports.NewUser{
			Email: "anon.person@example.com", Password: goodPassword, DisplayName: "Anon Person",
			Roles: []string{"Sales", "Admin"}, Attributes: map[string]any{"department": "sales"},
		})
		require.NoError(t, err)
		v0 := f.doc(t, ctx, u.ID).TokenVersion

		require.NoError(t, f.p.DeleteUser(ctx, u.ID, true))
		d := f.doc(t, ctx, u.ID) // the record stays, so references stay valid
		assert.NotEqual(t, "anon.person@example.com", d.Email)
		assert.NotContains(t, d.Email, "anon.person", "the email is replaced")
		assert.Equal(t, "Deleted user", d.DisplayName)
		assert.Empty(t, d.PasswordHash)
		assert.False(t, d.IsActive)
		assert.Empty(t, d.Roles)
		assert.Empty(t, d.Attributes)
		assert.Equal(t, v0+1, d.TokenVersion, "tokens of the deleted user stop working")

		_, err = f.p.FindByEmail(ctx, "anon.person@example.com")
		assert.ErrorIs(t, err, core.ErrNotFound)
		_, err = f.p.CheckPassword(ctx, "anon.person@example.com", goodPassword)
		assert.ErrorIs(t, err, core.ErrUnauthorized)
		_, err = f.p.CheckPassword(ctx, d.Email, goodPassword)
		assert.ErrorIs(t, err, core.ErrUnauthorized)

		// The address can be used again.
		f.create(t, ctx, "anon.person@example.com")
	})
}

func TestCountUsersAndTenantIsolation(t *testing.T) {
	f := newFixture(t)
	a, b := tctx("tenant-a"), tctx("tenant-b")

	for _, e := range []string{"ann@example.com", "bob@example.com", "cy@example.com"} {
		f.create(t, a, e)
	}
	n, err := f.p.CountUsers(a)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	n, err = f.p.CountUsers(b)
	require.NoError(t, err)
	assert.Zero(t, n)

	ann, err := f.p.FindByEmail(a, "ann@example.com")
	require.NoError(t, err)
	_, err = f.p.FindByEmail(b, "ann@example.com")
	assert.ErrorIs(t, err, core.ErrNotFound, "a user of tenant A is not found in tenant B")
	_, err = f.p.GetUser(b, ann.ID)
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, err = f.p.CheckPassword(b, "ann@example.com", goodPassword)
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	assert.ErrorIs(t, f.p.SetPassword(b, ann.ID, "hijacked password"), core.ErrNotFound)

	// Emails are unique per tenant, not globally.
	annB := f.create(t, b, "ann@example.com")
	assert.NotEqual(t, ann.ID, annB.ID)
	assert.Equal(t, "tenant-b", annB.TenantID)
	got, err := f.p.CheckPassword(a, "ann@example.com", goodPassword)
	require.NoError(t, err)
	assert.Equal(t, ann.ID, got.ID)
}

func TestRevocations(t *testing.T) {
	repo, _ := newRepo(t)
	r := local.NewRevocations(repo)
	ctx := tctx("default")
	exp := time.Now().Add(time.Hour)

	revoked, err := r.IsRevoked(ctx, "jti-1")
	require.NoError(t, err)
	assert.False(t, revoked)

	require.NoError(t, r.Revoke(ctx, "jti-1", "u-1", exp))
	revoked, err = r.IsRevoked(ctx, "jti-1")
	require.NoError(t, err)
	assert.True(t, revoked)

	require.NoError(t, r.Revoke(ctx, "jti-1", "u-1", exp), "revoking twice is fine")

	revoked, err = r.IsRevoked(ctx, "jti-2")
	require.NoError(t, err)
	assert.False(t, revoked, "only the revoked token")
	revoked, err = r.IsRevoked(tctx("other"), "jti-1")
	require.NoError(t, err)
	assert.False(t, revoked, "revocations are per tenant")
}

func TestAPIKeyStore(t *testing.T) {
	repo, _ := newRepo(t)
	s := local.NewAPIKeyStore(repo)
	ctx := tctx("default")
	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond)

	mk := func(id, user string) *ports.APIKey {
		k := &ports.APIKey{ID: id, UserID: user, Name: "key " + id, Scopes: []string{"Invoice:read"}, ExpiresAt: &exp, Hash: strings.Repeat("ab", 32)}
		require.NoError(t, s.CreateKey(ctx, k))
		return k
	}
	k1 := mk("aaaaaaaaaaaaaaa1", "u-1")
	assert.Equal(t, "default", k1.TenantID, "the store stamps the tenant")
	assert.False(t, k1.CreatedAt.IsZero(), "and the creation time")
	k2 := mk("aaaaaaaaaaaaaaa2", "u-1")
	k3 := mk("aaaaaaaaaaaaaaa3", "u-1")
	mk("bbbbbbbbbbbbbbb1", "u-2")

	t.Run("get", func(t *testing.T) {
		got, err := s.GetKey(ctx, k1.ID)
		require.NoError(t, err)
		assert.Equal(t, "u-1", got.UserID)
		assert.Equal(t, "key "+k1.ID, got.Name)
		assert.Equal(t, []string{"Invoice:read"}, got.Scopes)
		assert.Equal(t, strings.Repeat("ab", 32), got.Hash)
		require.NotNil(t, got.ExpiresAt)
		assert.True(t, exp.Equal(*got.ExpiresAt))
		assert.Nil(t, got.LastUsedAt)

		_, err = s.GetKey(ctx, "nope")
		assert.ErrorIs(t, err, core.ErrNotFound)
		_, err = s.GetKey(tctx("other"), k1.ID)
		assert.ErrorIs(t, err, core.ErrNotFound, "keys are per tenant")
	})

	t.Run("list newest first", func(t *testing.T) {
		keys, err := s.ListKeys(ctx, "u-1")
		require.NoError(t, err)
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		assert.Equal(t, []string{k3.ID, k2.ID, k1.ID}, ids)
		keys, err = s.ListKeys(ctx, "nobody")
		require.NoError(t, err)
		assert.Empty(t, keys)
	})

	t.Run("touch", func(t *testing.T) {
		t1 := time.Now().UTC().Truncate(time.Microsecond)
		require.NoError(t, s.TouchKeys(ctx, map[string]time.Time{k1.ID: t1, k2.ID: t1, "revoked-meanwhile": t1}),
			"a key revoked meanwhile is skipped")
		for _, id := range []string{k1.ID, k2.ID} {
			got, err := s.GetKey(ctx, id)
			require.NoError(t, err)
			require.NotNil(t, got.LastUsedAt, id)
			assert.True(t, t1.Equal(*got.LastUsedAt), "%s: %v", id, got.LastUsedAt)
		}
		got, err := s.GetKey(ctx, k3.ID)
		require.NoError(t, err)
		assert.Nil(t, got.LastUsedAt, "untouched key")

		require.NoError(t, s.TouchKeys(ctx, map[string]time.Time{k1.ID: t1.Add(-time.Hour)}))
		got, err = s.GetKey(ctx, k1.ID)
		require.NoError(t, err)
		assert.True(t, t1.Equal(*got.LastUsedAt), "an older time never moves last use back")

		t2 := t1.Add(time.Minute)
		require.NoError(t, s.TouchKeys(ctx, map[string]time.Time{k1.ID: t2}))
		got, err = s.GetKey(ctx, k1.ID)
		require.NoError(t, err)
		assert.True(t, t2.Equal(*got.LastUsedAt), "a later time moves it forward")
	})

	t.Run("delete", func(t *testing.T) {
		require.NoError(t, s.DeleteKey(ctx, k2.ID))
		_, err := s.GetKey(ctx, k2.ID)
		assert.ErrorIs(t, err, core.ErrNotFound)
		assert.ErrorIs(t, s.DeleteKey(ctx, k2.ID), core.ErrNotFound)

		// Its last use, noted before the revocation, is dropped on flush.
		require.NoError(t, s.TouchKeys(ctx, map[string]time.Time{k2.ID: time.Now(), k1.ID: time.Now()}))
		_, err = s.GetKey(ctx, k2.ID)
		assert.ErrorIs(t, err, core.ErrNotFound, "touching a revoked key does not bring it back")

		n, err := s.DeleteKeysForUser(ctx, "u-1")
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		keys, err := s.ListKeys(ctx, "u-1")
		require.NoError(t, err)
		assert.Empty(t, keys)
		keys, err = s.ListKeys(ctx, "u-2")
		require.NoError(t, err)
		assert.Len(t, keys, 1, "other users' keys stay")
	})
}
