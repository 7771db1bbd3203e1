package auth_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/identity/federated"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

func TestUserManagerCreate(t *testing.T) {
	e := newEnv(t)
	ctx := tctx("default")

	u, err := e.users.Create(ctx, ports.NewUser{Email: " Ann@Example.com ", Password: annPassword, DisplayName: "Ann", Roles: []string{"Admin"}})
	require.NoError(t, err)
	assert.Equal(t, annEmail, u.Email)
	assert.True(t, u.IsActive)
	assert.Equal(t, []string{"Admin"}, u.Roles)
	_, err = e.ident.CheckPassword(ctx, annEmail, annPassword)
	assert.NoError(t, err, "the password was hashed and stored")

	_, err = e.users.Create(ctx, ports.NewUser{Email: "ANN@example.com", Password: annPassword})
	assert.ErrorIs(t, err, core.ErrConflict)

	got, err := e.users.Get(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, u.ID, got.ID)
}

func TestUserManagerCreateValidation(t *testing.T) {
	e := newEnv(t)
	ctx := tctx("default")
	for _, tc := range []struct {
		name   string
		nu     ports.NewUser
		fields []string
	}{
		{"bad email", ports.NewUser{Email: "not an email", Password: annPassword}, []string{"email"}},
		{"display-name email", ports.NewUser{Email: "Ann <ann@example.com>", Password: annPassword}, []string{"email"}},
		{"missing email", ports.NewUser{Password: annPassword}, []string{"email"}},
		{"short password", ports.NewUser{Email: annEmail, Password: "short"}, []string{"password"}},
		{"missing password", ports.NewUser{Email: annEmail}, []string{"password"}},
		{"common password", ports.NewUser{Email: annEmail, Password: "password1234"}, []string{"password"}},
		{"password contains the email", ports.NewUser{Email: "annabel@example.com", Password: "annabel-rocks-2024"}, []string{"password"}},
		{"bad email and password", ports.NewUser{Email: "nope", Password: "x"}, []string{"email", "password"}},
		{"System role", ports.NewUser{Email: annEmail, Password: annPassword, Roles: []string{"Sales", ports.RoleSystem}}, []string{"roles"}},
		{"empty role", ports.NewUser{Email: annEmail, Password: annPassword, Roles: []string{""}}, []string{"roles"}},
		{"display name too long", ports.NewUser{Email: annEmail, Password: annPassword, DisplayName: strings.Repeat("n", 141)}, []string{"display_name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := e.users.Create(ctx, tc.nu)
			assert.Nil(t, u)
			fields := fieldsOf(t, err)
			for _, f := range tc.fields {
				assert.Contains(t, fields, f)
			}
			assert.Len(t, fields, len(tc.fields), "%v", fields)
		})
	}
	n, err := e.ident.CountUsers(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing was created")
}

func TestUserManagerPasswordlessModesCreateWithoutPassword(t *testing.T) {
	e := newEnv(t, withMode(auth.ModeSocialOnly))
	ctx := tctx("default")
	u, err := e.users.Create(ctx, ports.NewUser{Email: annEmail})
	require.NoError(t, err, "no password needed where users have none")
	assert.Equal(t, annEmail, u.Email)

	_, err = e.users.Create(ctx, ports.NewUser{Email: "bob@example.com", Password: "short"})
	assert.Contains(t, fieldsOf(t, err), "password", "a password given is still checked")
}

func TestUserManagerWithoutLocalUsers(t *testing.T) {
	m := auth.NewUserManager(federated.New(config.Default().Auth.Headers), auth.ModeFederated, auth.PasswordPolicy{MinLength: 10, MaxLength: 256}, nil, nil)
	ctx := tctx("default")

	_, err := m.Local()
	assert.ErrorIs(t, err, core.ErrNotSupported)
	_, err = m.Create(ctx, ports.NewUser{Email: annEmail, Password: annPassword})
	assert.ErrorIs(t, err, core.ErrNotSupported)
	assert.ErrorIs(t, m.ChangePassword(ctx, "u", annPassword, "another fine password"), core.ErrNotSupported)
	assert.ErrorIs(t, m.SetPassword(ctx, "u", "another fine password"), core.ErrNotSupported)
	assert.NoError(t, m.LogoutEverywhere(ctx, "u"), "nothing to invalidate, nothing to fail")
	_, err = m.Authenticate(ctx, ports.PasswordCredentials{Email: annEmail, Password: annPassword})
	assert.ErrorIs(t, err, core.ErrNotSupported)
}

func TestUserManagerAuthenticate(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		e := newEnv(t)
		ctx := tctx("default")
		u := e.user(t, ctx, annEmail)
		tok, err := e.users.Authenticate(ctx, ports.PasswordCredentials{Email: annEmail, Password: annPassword})
		require.NoError(t, err)
		assert.Equal(t, u.ID, tok.UserID)
		_, err = e.users.Authenticate(ctx, ports.PasswordCredentials{Email: annEmail, Password: "wrong password"})
		assert.ErrorIs(t, err, core.ErrUnauthorized)
	})

	for _, mode := range []auth.Mode{auth.ModeSocialOnly, auth.ModePasswordless} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, withMode(mode))
			ctx := tctx("default")
			e.user(t, ctx, annEmail) // a user with a password, e.g. from before the mode changed
			_, err := e.users.Authenticate(ctx, ports.PasswordCredentials{Email: annEmail, Password: annPassword})
			assert.ErrorIs(t, err, core.ErrNotSupported, "no password login in %s mode", mode)
			assert.Zero(t, e.ident.passwordWork(), "the provider is not asked")
		})
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	ctx := tctx("default")
	u := e.user(t, ctx, annEmail)
	other := e.user(t, ctx, "bob@example.com")
	tokenVersion := func(id string) int64 {
		got, err := e.users.Get(ctx, id)
		require.NoError(t, err)
		return got.TokenVersion
	}
	for range 2 {
		_, err := e.sessions.Start(ctx, u, "", "")
		require.NoError(t, err)
	}
	_, err := e.sessions.Start(ctx, other, "", "")
	require.NoError(t, err)
	v0 := tokenVersion(u.ID)
	const next = "an entirely new passphrase"

	t.Run("wrong current password", func(t *testing.T) {
		err := e.users.ChangePassword(ctx, u.ID, "not the password", next)
		assert.Contains(t, fieldsOf(t, err), "current_password")
		assert.NotErrorIs(t, err, core.ErrUnauthorized, "a form error, not a 401 that would log the user out")
		assert.Equal(t, v0, tokenVersion(u.ID), "nothing changed")
		assert.Equal(t, 2, e.store.count("default", u.ID))
		_, err = e.ident.CheckPassword(ctx, annEmail, annPassword)
		assert.NoError(t, err)
	})

	t.Run("new password against the policy", func(t *testing.T) {
		err := e.users.ChangePassword(ctx, u.ID, annPassword, "short")
		assert.Contains(t, fieldsOf(t, err), "password")
		assert.Equal(t, v0, tokenVersion(u.ID), "nothing changed")
		assert.Equal(t, 2, e.store.count("default", u.ID))
	})

	t.Run("new password equal to the current one", func(t *testing.T) {
		err := e.users.ChangePassword(ctx, u.ID, annPassword, annPassword)
		assert.Contains(t, fieldsOf(t, err), "new_password")
		assert.Equal(t, v0, tokenVersion(u.ID), "nothing changed")
		assert.Equal(t, 2, e.store.count("default", u.ID), "no session ended")
	})

	t.Run("success", func(t *testing.T) {
		old := e.login(t, ctx, annEmail, false)
		require.NoError(t, e.users.ChangePassword(ctx, u.ID, annPassword, next))
		assert.Equal(t, v0+1, tokenVersion(u.ID), "the token version is bumped")
		assert.Zero(t, e.store.count("default", u.ID), "every session ends")
		assert.Equal(t, 1, e.store.count("default", other.ID), "other users keep theirs")

		_, err := e.svc.BearerUser(ctx, old.Token.AccessToken)
		assert.ErrorIs(t, err, core.ErrUnauthorized, "older tokens stop working")
		_, err = e.ident.CheckPassword(ctx, annEmail, annPassword)
		assert.ErrorIs(t, err, core.ErrUnauthorized, "the old password stops working")
		_, err = e.ident.CheckPassword(ctx, annEmail, next)
		assert.NoError(t, err)
	})

	t.Run("unknown user", func(t *testing.T) {
		assert.ErrorIs(t, e.users.ChangePassword(ctx, "no-such-user", next, "yet another passphrase"), core.ErrNotFound)
	})
}

func TestChangePasswordNeedsPasswordMode(t *testing.T) {
	e := newEnv(t, withMode(auth.ModeSocialOnly))
	ctx := tctx("default")
	u := e.user(t, ctx, annEmail)
	err := e.users.ChangePassword(ctx, u.ID, annPassword, "an entirely new passphrase")
	assert.ErrorIs(t, err, core.ErrNotSupported)
}

func TestSetPasswordAndLogoutEverywhere(t *testing.T) {
	e := newEnv(t)
	ctx := tctx("default")
	u := e.user(t, ctx, annEmail)
	version := func() int64 {
		d, err := e.repo.Get(ctx, doctypes.LocalUserDocType, u.ID)
		require.NoError(t, err)
		return d.(*doctypes.LocalUser).TokenVersion
	}
	v0 := version()

	_, err := e.sessions.Start(ctx, u, "", "")
	require.NoError(t, err)
	assert.Contains(t, fieldsOf(t, e.users.SetPassword(ctx, u.ID, "aaaaaaaaaaaa")), "password")
	assert.Equal(t, 1, e.store.count("default", u.ID), "a refused password changes nothing")

	require.NoError(t, e.users.SetPassword(ctx, u.ID, "set by an administrator"))
	assert.Equal(t, v0+1, version())
	assert.Zero(t, e.store.count("default", u.ID), "sessions end")
	_, err = e.ident.CheckPassword(ctx, annEmail, "set by an administrator")
	assert.NoError(t, err)

	_, err = e.sessions.Start(ctx, u, "", "")
	require.NoError(t, err)
	require.NoError(t, e.users.LogoutEverywhere(ctx, u.ID))
	assert.Equal(t, v0+2, version(), "every token issued so far is invalid")
	assert.Zero(t, e.store.count("default", u.ID), "every session ends")

	list, err := e.sessions.List(ctx, u.ID)
	require.NoError(t, err)
	assert.Empty(t, list)
}
