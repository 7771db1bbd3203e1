package frameworkm_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/fmtest"
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

// A bootstrap admin whose password the policy refuses stops the server
// before it says it is listening, and the error names the rule.
func TestBootstrapAdminRefusedBeforeListening(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, "[app]\ndata_dir = \""+dir+"\"\naddress = \"127.0.0.1:0\"\n[auth.bootstrap_admin]\nemail = \"annabel@example.com\"\npassword = \"annabel-is-the-admin\"\n")
	var out bytes.Buffer
	err := frameworkm.Run(context.Background(), []string{"-config", path}, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "auth.bootstrap_admin")
	assert.Contains(t, err.Error(), `must not contain "annabel"`)
	assert.NotContains(t, out.String(), "listening")
}

// A configuration with an unknown key and a bad value reports both at once.
func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	path := writeConfig(t, "[app]\nadress = \"x\"\n[database]\ndriver = \"mysql\"\n")
	var out bytes.Buffer
	err := frameworkm.Run(context.Background(), []string{"config", "check", "-config", path}, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "app.adress: unknown key")
	assert.Contains(t, err.Error(), "database.driver: must be one of sqlite, postgres")
}

// The first-admin hint names the configuration file the server was started with.
func TestNoUsersHintNamesTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, "[app]\ndata_dir = \""+dir+"\"\naddress = \"127.0.0.1:0\"\nlog_format = \"text\"\n")
	logs := &fmtest.LogBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- frameworkm.Run(ctx, []string{"-config", path}, &out, frameworkm.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	}()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "listening") }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, logs.String(), "user create -config "+path)
}

// The user and role commands: list users, change a user's roles (refusing
// an unknown role by name), create a custom role and see it listed.
func TestUserAndRoleCommands(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, "[app]\ndata_dir = \""+dir+"\"\n[auth.password]\nargon2_memory_kib = 1024\nargon2_iterations = 1\n")
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := frameworkm.Run(context.Background(), append(args, "-config", path), &out)
		return out.String(), err
	}
	_, err := run("user", "create", "-email", "ann@example.com", "-password", "correct horse battery", "-roles", "Admin")
	require.NoError(t, err)
	_, err = run("user", "create", "-email", "bob@example.com", "-password", "correct horse battery")
	require.NoError(t, err)

	out, err := run("user", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "ann@example.com\tenabled\t[Admin]")
	assert.Contains(t, out, "2 user(s) in tenant default")

	_, err = run("user", "roles", "-email", "bob@example.com", "-add", "Helpdesk")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown role "Helpdesk"`)

	out, err = run("role", "create", "-name", "Helpdesk", "-description", "first-line support")
	require.NoError(t, err)
	assert.Contains(t, out, "created role Helpdesk")
	out, err = run("role", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "Helpdesk\tcustom")
	assert.Contains(t, out, "Admin\tbuiltin")

	out, err = run("user", "roles", "-email", "bob@example.com", "-add", "Helpdesk")
	require.NoError(t, err)
	assert.Contains(t, out, "roles of bob@example.com: [Helpdesk]")
	out, err = run("user", "list", "-role", "Helpdesk")
	require.NoError(t, err)
	assert.Contains(t, out, "bob@example.com")
	assert.NotContains(t, out, "ann@example.com")
}

// TestCLIRefusesArgumentsAfterFlags: a command after the flags is an error,
// not a server started with the command ignored.
func TestCLIRefusesArgumentsAfterFlags(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := frameworkm.Run(ctx, []string{"-config", "nope.toml", "user", "create", "-email", "a@b.c"}, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unexpected argument "user"`)
	assert.Empty(t, out.String(), "nothing served")
}
