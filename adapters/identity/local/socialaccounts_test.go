package local_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/adapters/identity/local"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/authtest"
	"github.com/framework-m/framework-m/ports"
)

// migrated returns a repository of the built-in DocTypes on a fresh database of driver.
func migrated(t *testing.T, driver fmtest.Driver) *db.Repository {
	t.Helper()
	repo, _ := migratedWith(t, driver)
	return repo
}

// migratedWith is migrated, with the test configuration it used.
func migratedWith(t *testing.T, driver fmtest.Driver) (*db.Repository, config.Config) {
	t.Helper()
	ctx := context.Background()
	cfg := fmtest.Config(t, driver)
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	require.NoError(t, doctypes.RegisterIdentity(reg, true))
	gdb, err := db.Open(ctx, cfg.Database, cfg.App.DataDir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
	repo := db.New(gdb, reg)
	require.NoError(t, repo.Migrate(ctx))
	return repo, cfg
}

// TestSocialAccountsContract runs the social account contract on the
// Social Account DocType, on SQLite and PostgreSQL.
func TestSocialAccountsContract(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			authtest.RunSocialAccounts(t, func(t *testing.T) authtest.SocialFixture {
				repo := migrated(t, driver)
				p := local.New(repo, nil, newHasher(t, nil), nil)
				withPw, err := p.CreateUser(tctx("t1"), ports.NewUser{Email: "pw@example.com", Password: goodPassword})
				require.NoError(t, err)
				without, err := p.CreateUser(tctx("t1"), ports.NewUser{Email: "nopw@example.com"})
				require.NoError(t, err)
				return authtest.SocialFixture{Accounts: local.NewSocialAccounts(repo), Ctx: tctx,
					WithPassword: withPw.ID, WithoutPassword: without.ID}
			})
		})
	}
}

// TestMagicLinkUsesContract runs the used-link contract on the Magic Link
// Use DocType, on SQLite and PostgreSQL.
func TestMagicLinkUsesContract(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			authtest.RunMagicLinkUses(t, func(t *testing.T) (auth.MagicLinkUses, func(string) context.Context) {
				return local.NewMagicLinkUses(migrated(t, driver)), tctx
			})
		})
	}
}
