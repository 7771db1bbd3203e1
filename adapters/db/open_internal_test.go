package db

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/config"
)

const defaultPragmas = "_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate&_foreign_keys=on&_synchronous=NORMAL"

func TestSQLiteDSN(t *testing.T) {
	t.Run("default file under data_dir", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data", "sub")
		dsn, memory, err := sqliteDSN("", dataDir)
		require.NoError(t, err)
		assert.False(t, memory)
		assert.Equal(t, "file:"+filepath.Join(dataDir, DefaultSQLiteFile)+"?"+defaultPragmas, dsn)
		info, err := os.Stat(dataDir)
		if assert.NoError(t, err, "data_dir is created") {
			assert.True(t, info.IsDir())
		}
	})

	t.Run("user params are kept and not duplicated", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "x")
		user := "file:" + filepath.Join(dir, "app.db") + "?cache=shared&_busy_timeout=100&_txlock=deferred"
		unused := filepath.Join(t.TempDir(), "unused")
		dsn, memory, err := sqliteDSN(user, unused)
		require.NoError(t, err)
		assert.False(t, memory)
		assert.True(t, strings.HasPrefix(dsn, user), "the user's DSN comes first, unchanged: %s", dsn)
		assert.Equal(t, 1, strings.Count(dsn, "?"), dsn)
		assert.Equal(t, 1, strings.Count(dsn, "_busy_timeout="), dsn)
		assert.Contains(t, dsn, "_busy_timeout=100")
		assert.NotContains(t, dsn, "_busy_timeout=5000")
		assert.Equal(t, 1, strings.Count(dsn, "_txlock="), dsn)
		assert.NotContains(t, dsn, "_txlock=immediate")
		for _, p := range []string{"_journal_mode=WAL", "_foreign_keys=on", "_synchronous=NORMAL"} {
			assert.Equal(t, 1, strings.Count(dsn, p), "%s appended once: %s", p, dsn)
		}
		_, err = os.Stat(dir)
		assert.NoError(t, err, "the DSN's directory is created")
		_, err = os.Stat(unused)
		assert.True(t, os.IsNotExist(err), "data_dir is not used when a DSN is set")
	})

	t.Run("plain path gets a query string", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "plain", "x.db")
		dsn, _, err := sqliteDSN(path, "")
		require.NoError(t, err)
		assert.Equal(t, path+"?"+defaultPragmas, dsn)
		_, err = os.Stat(filepath.Dir(path))
		assert.NoError(t, err)
	})

	t.Run("every pragma already set", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "all.db")
		user := "file:" + path + "?_journal_mode=DELETE&_busy_timeout=1&_txlock=exclusive&_foreign_keys=off&_synchronous=FULL"
		dsn, _, err := sqliteDSN(user, "")
		require.NoError(t, err)
		assert.Equal(t, user, dsn)
	})

	for _, c := range []struct{ dsn, want string }{
		{":memory:", ":memory:?_busy_timeout=5000&_txlock=immediate&_foreign_keys=on&_synchronous=NORMAL"},
		{"file::memory:?cache=shared", "file::memory:?cache=shared&_busy_timeout=5000&_txlock=immediate&_foreign_keys=on&_synchronous=NORMAL"},
		{"file:mem.db?mode=memory", "file:mem.db?mode=memory&_busy_timeout=5000&_txlock=immediate&_foreign_keys=on&_synchronous=NORMAL"},
	} {
		t.Run("memory "+c.dsn, func(t *testing.T) {
			dsn, memory, err := sqliteDSN(c.dsn, "")
			require.NoError(t, err)
			assert.True(t, memory)
			assert.Equal(t, c.want, dsn, "no WAL for a memory database")
		})
	}

	t.Run("data_dir not creatable", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "a-file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		_, _, err := sqliteDSN("", filepath.Join(file, "sub"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "data_dir")
	})
}

func TestSQLiteFileIsOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	gdb, err := Open(context.Background(), config.Database{Driver: "sqlite"}, dir, nil)
	require.NoError(t, err)
	defer Close(gdb)
	fi, err := os.Stat(filepath.Join(dir, DefaultSQLiteFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the database holds password and key hashes")
}

// TestPostgresSessions: every PostgreSQL connection gets the framework's
// session settings (lock and idle-in-transaction timeouts, server-side TCP
// keepalives) unless the DSN sets them; reads outside transactions use a
// pool of their own whose sessions cannot write.
func TestPostgresSessions(t *testing.T) {
	base := os.Getenv("FM_TEST_POSTGRES_DSN")
	if base == "" {
		if os.Getenv("FM_REQUIRE_SERVERS") != "" {
			t.Fatal("FM_TEST_POSTGRES_DSN is not set")
		}
		t.Skip("FM_TEST_POSTGRES_DSN is not set; PostgreSQL tests skipped")
	}
	cfg := config.Default().Database
	cfg.Driver, cfg.DSN = "postgres", withRuntimeParam(base, "tcp_keepalives_count", "7")
	cfg.LockTimeoutMS = 1234
	gdb, err := Open(t.Context(), cfg, "", nil)
	require.NoError(t, err)
	defer Close(gdb)
	sp := splitOf(gdb)
	require.NotNil(t, sp, "a read pool beside the write pool")
	for _, c := range []struct {
		handle   string
		setting  string
		want     string
		readOnly bool
	}{
		{"write", "lock_timeout", "1234ms", false},
		{"read", "lock_timeout", "1234ms", true},
		{"write", "idle_in_transaction_session_timeout", "1min", false},
		{"write", "tcp_keepalives_idle", "15", false},
		{"read", "tcp_keepalives_interval", "5", true},
		{"write", "tcp_keepalives_count", "7", false}, // the DSN's own value wins
		{"write", "default_transaction_read_only", "off", false},
		{"read", "default_transaction_read_only", "on", true},
	} {
		h := gdb
		if c.handle == "read" {
			h = sp.read
		}
		var got string
		require.NoError(t, h.WithContext(t.Context()).Raw("SHOW "+c.setting).Scan(&got).Error)
		assert.Equal(t, c.want, got, "%s pool: %s", c.handle, c.setting)
	}
	err = sp.read.WithContext(t.Context()).Exec("CREATE TEMP TABLE nope (x int)").Error
	assert.ErrorContains(t, err, "read-only", "the read pool cannot write")
}

func TestPostgresDSN(t *testing.T) {
	cfg := config.Database{DSN: "postgres://u@h/db?sslmode=disable&lock_timeout=9", LockTimeoutMS: 5000, IdleInTransactionTimeoutMS: 0, StatementTimeoutMS: 250}
	got := postgresDSN(cfg)
	assert.Equal(t, "postgres://u@h/db?sslmode=disable&lock_timeout=9&statement_timeout=250&tcp_keepalives_idle=15&tcp_keepalives_interval=5&tcp_keepalives_count=3", got)
	cfg.DSN = "host=h user=u"
	assert.Equal(t, "host=h user=u lock_timeout=5000 statement_timeout=250 tcp_keepalives_idle=15 tcp_keepalives_interval=5 tcp_keepalives_count=3", postgresDSN(cfg))
}
