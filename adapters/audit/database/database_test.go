package database_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	auditdb "github.com/framework-m/framework-m/adapters/audit/database"
	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/audittest"
	"github.com/framework-m/framework-m/fmtest/memrepo"
	"github.com/framework-m/framework-m/ports"
)

// store opens the app's repository on driver with the built-in DocTypes.
func store(t *testing.T, driver fmtest.Driver) *db.Repository {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	gdb, err := db.Open(context.Background(), cfg.Database, cfg.App.DataDir, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(gdb) })
	repo := db.New(gdb, reg)
	require.NoError(t, repo.Migrate(context.Background()))
	return repo
}

// TestContract runs the audit log contract on SQLite and PostgreSQL (batch
// inserts), and on a repository without them (one create each).
func TestContract(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			repo := store(t, driver)
			audittest.Run(t, func(*testing.T) ports.AuditLog { return auditdb.New(repo) })
		})
	}
	t.Run("without batch inserts", func(t *testing.T) {
		reg := doctype.NewRegistry()
		require.NoError(t, doctypes.Register(reg))
		repo := memrepo.New(reg)
		if _, ok := any(repo).(ports.BatchInserter); ok {
			t.Fatal("memrepo inserts batches: this case tests the other path")
		}
		audittest.Run(t, func(*testing.T) ports.AuditLog { return auditdb.New(repo) })
	})
}

// TestBatchSentAgainStoresNothingTwice: a batch logged twice (its commit
// unconfirmed the first time) leaves each entry once.
func TestBatchSentAgainStoresNothingTwice(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			log := auditdb.New(store(t, driver))
			ctx := context.Background()
			e := []ports.AuditEntry{
				{ID: doctype.NewUUIDv7(), TenantID: "t1", Action: ports.AuditLogin, Timestamp: time.Now().UTC().Truncate(time.Microsecond)},
				{ID: doctype.NewUUIDv7(), TenantID: "t2", Action: ports.AuditLogout, Timestamp: time.Now().UTC().Truncate(time.Microsecond)},
			}
			require.NoError(t, log.Log(ctx, e...))
			require.NoError(t, log.Log(ctx, e...))
			for _, tenant := range []string{"t1", "t2"} {
				res, err := log.Query(ctx, ports.AuditFilter{TenantID: tenant}, ports.AuditPage{Limit: 10})
				require.NoError(t, err)
				require.EqualValues(t, 1, res.Total, tenant)
			}
		})
	}
}
