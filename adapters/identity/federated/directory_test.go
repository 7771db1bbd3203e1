package federated_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/adapters/identity/federated"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/usertest"
	"github.com/framework-m/framework-m/ports"
)

func seenRepo(t *testing.T) *db.Repository {
	t.Helper()
	ctx := context.Background()
	cfg := fmtest.Config(t, fmtest.SQLite)
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	require.NoError(t, doctypes.RegisterIdentity(reg, false))
	gdb, err := db.Open(ctx, cfg.Database, cfg.App.DataDir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
	repo := db.New(gdb, reg)
	require.NoError(t, repo.Migrate(ctx))
	return repo
}

func seenCtx(tenant string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.SystemUser)
}

func TestDirectoryContract(t *testing.T) {
	usertest.Run(t, func(t *testing.T) usertest.Fixture {
		d := federated.NewDirectory(seenRepo(t))
		return usertest.Fixture{Lister: d, AlwaysEnabled: true, Add: func(ctx context.Context, u ports.User) string {
			now := time.Now()
			u.LastSeenAt = &now
			require.NoError(t, d.RecordSeen(ctx, []ports.User{u}))
			return u.ID
		}}
	})
}

func TestDirectoryRecordsSeenUsers(t *testing.T) {
	d := federated.NewDirectory(seenRepo(t))
	ctx := seenCtx("t1")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }

	require.NoError(t, d.RecordSeen(ctx, []ports.User{
		{ID: "kc-1", Email: "kim@corp.example", DisplayName: "Kim", Roles: []string{"Writer"}, LastSeenAt: at(0)},
		{ID: "kc-2", Email: "lee@corp.example", LastSeenAt: at(0)},
	}))
	require.NoError(t, d.RecordSeen(ctx, []ports.User{{ID: "kc-1", Email: "kim@corp.example", DisplayName: "Kim K.", Roles: []string{"Writer", "Auditor"}, LastSeenAt: at(time.Minute)}}))
	u, err := d.GetUser(ctx, "kc-1")
	require.NoError(t, err)
	assert.Equal(t, "Kim K.", u.DisplayName, "as last described")
	assert.Equal(t, []string{"Writer", "Auditor"}, u.Roles)
	assert.True(t, u.IsActive)
	assert.True(t, at(time.Minute).Equal(*u.LastSeenAt))

	// An older sighting (a slower instance flushing late) does not go back.
	require.NoError(t, d.RecordSeen(ctx, []ports.User{{ID: "kc-1", DisplayName: "Old", LastSeenAt: at(-time.Hour)}}))
	u, err = d.GetUser(ctx, "kc-1")
	require.NoError(t, err)
	assert.Equal(t, "Kim K.", u.DisplayName)

	page, err := d.ListUsers(ctx, ports.UserFilter{Role: "Auditor"})
	require.NoError(t, err)
	require.Len(t, page.Users, 1)
	assert.Equal(t, "kc-1", page.Users[0].ID)

	_, err = d.GetUser(seenCtx("t2"), "kc-1")
	assert.ErrorIs(t, err, core.ErrNotFound, "tenant-scoped")
}
