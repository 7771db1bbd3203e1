package frameworkm_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "framework_config.toml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// A config with an unknown key or a bad value refuses to start with a message naming it.
func TestRunRefusesBadConfig(t *testing.T) {
	cases := map[string]struct{ toml, want string }{
		"unknown key":      {"[app]\nadress = \"127.0.0.1:1\"\n", "app.adress: unknown key"},
		"unknown table":    {"[databse]\ndriver = \"sqlite\"\n", "databse: unknown key"},
		"bad value":        {"[database]\ndriver = \"mysql\"\n", "database.driver: must be one of sqlite, postgres"},
		"wrong type":       {"[app]\ndebug = \"yes\"\n", "app.debug"},
		"syntax error":     {"[app]\nname = \"unterminated\n", "line 2"},
		"unknown backend":  {"[permissions]\nbackend = \"zanzibar\"\n", "permissions.backend: unknown backend \"zanzibar\""},
		"unknown strategy": {"[auth]\nstrategies = [\"carrier_pigeon\"]\n", "auth.strategies[0]: unknown strategy \"carrier_pigeon\""},
		"unset variable":   {"[database]\ndriver = \"postgres\"\ndsn = \"${FM_SURELY_UNSET_VAR}\"\n", "database.dsn: environment variable FM_SURELY_UNSET_VAR is not set"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, tc.toml)
			var out bytes.Buffer
			err := frameworkm.Run(context.Background(), []string{"-config", path}, &out)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, out.String(), "listening", "the server never started")
		})
	}
}

func TestRunConfigCheckAndMigrate(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, "[app]\ndata_dir = \""+dir+"\"\n[database]\nauto_migrate = false\n")
	var out bytes.Buffer
	require.NoError(t, frameworkm.Run(context.Background(), []string{"config", "check", "-config", path}, &out))
	assert.Contains(t, out.String(), "configuration OK")

	out.Reset()
	require.NoError(t, frameworkm.Run(context.Background(), []string{"migrate", "-config", path}, &out))
	assert.Contains(t, out.String(), "migrated")
	assert.FileExists(t, filepath.Join(dir, "framework_m.db"))

	err := frameworkm.Run(context.Background(), []string{"frobnicate"}, &out)
	assert.ErrorContains(t, err, `unknown command "frobnicate"`)
}
