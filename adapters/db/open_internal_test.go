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
