package database_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	emailqueuedb "github.com/framework-m/framework-m/adapters/emailqueue/database"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/emailqueuetest"
	"github.com/framework-m/framework-m/ports"
)

// open returns a queue over a fresh, migrated database of driver.
func open(t *testing.T, driver fmtest.Driver) *emailqueuedb.Queue {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	gdb, err := db.Open(context.Background(), cfg.Database, cfg.App.DataDir, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(gdb) })
	repo := db.New(gdb, reg)
	require.NoError(t, repo.Migrate(context.Background()))
	dt, ok := reg.Get(doctypes.EmailQueueDocType)
	require.True(t, ok)
	q, err := emailqueuedb.New(context.Background(), repo, dt.TableName())
	require.NoError(t, err)
	return q
}

// TestContract runs the email queue contract on SQLite and PostgreSQL.
func TestContract(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			emailqueuetest.Run(t, func(t *testing.T) ports.EmailQueue { return open(t, driver) })
		})
	}
}
