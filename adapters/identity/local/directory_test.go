package local_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/adapters/identity/local"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/memrepo"
	"github.com/framework-m/framework-m/fmtest/usertest"
	"github.com/framework-m/framework-m/ports"
)

// directoryRepos are the repositories the user directory is proved on:
// SQLite (LIKE ignores ASCII case), PostgreSQL (ILIKE) and the in-memory
// one (no LIKE on a list column: roles are matched in memory).
func directoryRepos(t *testing.T) map[string]func(t *testing.T) ports.Repository {
	t.Helper()
	reg := func(t *testing.T) *doctype.Registry {
		reg := doctype.NewRegistry()
		require.NoError(t, doctypes.Register(reg))
		require.NoError(t, doctypes.RegisterIdentity(reg, true))
		return reg
	}
	sql := func(driver fmtest.Driver) func(t *testing.T) ports.Repository {
		return func(t *testing.T) ports.Repository {
			cfg := fmtest.Config(t, driver)
			gdb, err := db.Open(context.Background(), cfg.Database, cfg.App.DataDir, nil)
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
			repo := db.New(gdb, reg(t))
			require.NoError(t, repo.Migrate(context.Background()))
			return repo
		}
	}
	return map[string]func(t *testing.T) ports.Repository{
		"sqlite":   sql(fmtest.SQLite),
		"postgres": sql(fmtest.Postgres),
		"memory":   func(t *testing.T) ports.Repository { return memrepo.New(reg(t)) },
	}
}

func TestDirectoryContract(t *testing.T) {
	for name, newRepo := range directoryRepos(t) {
		t.Run(name, func(t *testing.T) {
			usertest.Run(t, func(t *testing.T) usertest.Fixture {
				p := local.New(newRepo(t), nil, newHasher(t, nil), nil)
				return usertest.Fixture{Lister: p, Add: func(ctx context.Context, u ports.User) string {
					made, err := p.CreateUser(ctx, ports.NewUser{Email: u.Email, DisplayName: u.DisplayName, Roles: u.Roles})
					require.NoError(t, err)
					_, err = p.UpdateUser(ctx, made.ID, ports.UserChanges{IsActive: &u.IsActive})
					require.NoError(t, err)
					return made.ID
				}}
			})
		})
	}
}

func TestUpdateUser(t *testing.T) {
	f := newFixture(t)
	ctx := tctx("default")
	ann := f.create(t, ctx, "ann@example.com")
	name, off := "Ann A.", false
	u, err := f.p.UpdateUser(ctx, ann.ID, ports.UserChanges{DisplayName: &name, Roles: []string{"Support"}})
	require.NoError(t, err)
	assert.Equal(t, "Ann A.", u.DisplayName)
	assert.Equal(t, []string{"Support"}, u.Roles)
	assert.True(t, u.IsActive, "unchanged fields stay")
	u, err = f.p.UpdateUser(ctx, ann.ID, ports.UserChanges{IsActive: &off})
	require.NoError(t, err)
	assert.False(t, u.IsActive)
	assert.Equal(t, "Ann A.", f.doc(t, ctx, ann.ID).DisplayName, "stored")
	_, err = f.p.UpdateUser(tctx("other"), ann.ID, ports.UserChanges{DisplayName: &name})
	assert.ErrorIs(t, err, core.ErrNotFound, "another tenant's user")
}

func TestTemporaryPassword(t *testing.T) {
	f := newFixture(t)
	ctx := tctx("default")
	ann := f.create(t, ctx, "ann@example.com")
	require.NoError(t, f.p.SetTemporaryPassword(ctx, ann.ID, "temporary passphrase"))
	u, err := f.p.CheckPassword(ctx, "ann@example.com", "temporary passphrase")
	require.NoError(t, err, "the temporary password logs in")
	assert.True(t, u.PasswordChangeRequired)
	assert.Equal(t, ann.TokenVersion+1, u.TokenVersion, "older tokens end")
	_, err = f.p.CheckPassword(ctx, "ann@example.com", goodPassword)
	assert.Error(t, err, "the old password is gone")
	assert.True(t, f.doc(t, ctx, ann.ID).PasswordChangeRequired)

	require.NoError(t, f.p.SetPassword(ctx, ann.ID, "my own new passphrase"))
	u, err = f.p.GetUser(ctx, ann.ID)
	require.NoError(t, err)
	assert.False(t, u.PasswordChangeRequired, "a new password clears it")

	require.NoError(t, f.p.SetTemporaryPassword(ctx, ann.ID, "temporary passphrase"))
	require.NoError(t, f.p.DeleteUser(ctx, ann.ID, true))
	assert.False(t, f.doc(t, ctx, ann.ID).PasswordChangeRequired, "anonymized")
}
