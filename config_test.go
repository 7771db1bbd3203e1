package frameworkm_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
)

// configProblems asserts err is a *config.Error from source and returns its problems by key.
func loadConfigProblems(t *testing.T, err error, source string) map[string]string {
	t.Helper()
	require.Error(t, err)
	var cerr *config.Error
	require.True(t, errors.As(err, &cerr), "want *config.Error, got %T: %v", err, err)
	assert.Equal(t, source, cerr.Source)
	out := map[string]string{}
	for _, p := range cerr.Problems {
		out[p.Key] = p.Reason
	}
	return out
}

func loadConfigProblemKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func writeConfigAt(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func TestParseConfigEmptyIsDefaults(t *testing.T) {
	for _, body := range []string{"", "\n# only a comment\n", "[app]\n[database]\n"} {
		cfg, err := frameworkm.ParseConfig("f.toml", []byte(body))
		require.NoError(t, err, "%q", body)
		assert.Equal(t, config.Default(), cfg, "%q", body)
	}
}

func TestParseConfigDecodesOntoDefaults(t *testing.T) {
	cfg, err := frameworkm.ParseConfig("f.toml", []byte(`
[app]
address = "0.0.0.0:9000"
debug = true
max_body_bytes = 2048

[database]
driver = "postgres"
dsn = "postgres://u:p@db:5432/app"
max_open_conns = 0

[auth]
strategies = ["sessioncookie", "bearer"]

[permissions]
admin_roles = ["Admin", "System Manager"]
`))
	require.NoError(t, err)

	want := config.Default()
	want.App.Address = "0.0.0.0:9000"
	want.App.Debug = true
	want.App.MaxBodyBytes = 2048
	want.Database.Driver = "postgres"
	want.Database.DSN = "postgres://u:p@db:5432/app"
	want.Database.MaxOpenConns = 0
	want.Auth.Strategies = []string{"sessioncookie", "bearer"}
	want.Permissions.AdminRoles = []string{"Admin", "System Manager"}
	assert.Equal(t, want, cfg, "keys the file leaves out keep their defaults")
}

func TestParseConfigUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		body string
		keys []string
	}{
		{"misspelled key", "[app]\nnmae = \"x\"\n", []string{"app.nmae"}},
		{"key in wrong table", "[database]\naddress = \"x\"\n", []string{"database.address"}},
		{"top-level key", "debug = true\n", []string{"debug"}},
		{"unknown table reported once", "[cache]\nhost = \"x\"\nport = 1\n[cache.opts]\na = 1\n", []string{"cache"}},
		{"several", "[app]\nnmae = \"x\"\nlevel = \"debug\"\n[cache]\nhost = \"x\"\n", []string{"app.nmae", "app.level", "cache"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := frameworkm.ParseConfig("app.toml", []byte(tt.body))
			got := loadConfigProblems(t, err, "app.toml")
			assert.ElementsMatch(t, tt.keys, loadConfigProblemKeys(got))
			for _, reason := range got {
				assert.Equal(t, "unknown key", reason)
			}
			assert.Equal(t, config.Config{}, cfg)
			assert.Contains(t, err.Error(), "app.toml")
		})
	}
}

func TestParseConfigSyntaxErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"missing value", "[app]\nname = \"x\"\nlog_level = \n", []string{"f.toml", "line 3"}},
		{"unclosed string", "[app]\n\n\n\nname = \"x\n", []string{"f.toml", "line 5"}},
		{"bare word value", "[app]\nname = \"x\"\n\n[database]\ndriver = sqlite\n", []string{"f.toml", "line 5"}},
		{"duplicate key", "[app]\nname = \"a\"\nname = \"b\"\n", []string{"f.toml", "line 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := frameworkm.ParseConfig("f.toml", []byte(tt.body))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseConfigWrongTypesNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		body string
		key  string
		line string
	}{
		{"string for integer", "[app]\nname = \"x\"\nmax_body_bytes = \"big\"\n", "app.max_body_bytes", "line 3"},
		{"integer for string", "[app]\naddress = 8000\n", "app.address", "line 2"},
		{"string for bool", "[database]\nauto_migrate = \"yes\"\n", "database.auto_migrate", "line 2"},
		{"float for integer", "[database]\nmax_open_conns = 1.5\n", "database.max_open_conns", "line 2"},
		{"string for list", "[auth]\nstrategies = \"bearer\"\n", "auth.strategies", "line 2"},
		{"list of numbers", "[permissions]\nadmin_roles = [1, 2]\n", "permissions.admin_roles", "line 2"},
		{"value for table", "app = \"x\"\n", "app", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := frameworkm.ParseConfig("f.toml", []byte(tt.body))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.key)
			assert.Contains(t, err.Error(), tt.line)
			assert.Contains(t, err.Error(), "f.toml")
			assert.Equal(t, config.Config{}, cfg)
		})
	}
}

func TestParseConfigInterpolates(t *testing.T) {
	t.Setenv("FRAMEWORK_M_TEST_ADDR", "0.0.0.0:7000")
	t.Setenv("FRAMEWORK_M_TEST_EMPTY", "")
	t.Setenv("FRAMEWORK_M_TEST_STRATEGY", "apikey")
	cfg, err := frameworkm.ParseConfig("f.toml", []byte(`
[app]
address = "${FRAMEWORK_M_TEST_ADDR}"
name = "${FRAMEWORK_M_TEST_UNSET_7C1E:-Fallback App}"
data_dir = "${FRAMEWORK_M_TEST_EMPTY:-/srv/data}"

[auth]
strategies = ["bearer", "${FRAMEWORK_M_TEST_STRATEGY}"]
`))
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:7000", cfg.App.Address)
	assert.Equal(t, "Fallback App", cfg.App.Name)
	assert.Equal(t, "/srv/data", cfg.App.DataDir)
	assert.Equal(t, []string{"bearer", "apikey"}, cfg.Auth.Strategies)
}

func TestParseConfigUnsetVariable(t *testing.T) {
	cfg, err := frameworkm.ParseConfig("f.toml", []byte("[database]\ndriver = \"postgres\"\ndsn = \"${FRAMEWORK_M_TEST_UNSET_DSN_41AB}\"\n"))
	got := loadConfigProblems(t, err, "f.toml")
	assert.Equal(t, []string{"database.dsn"}, loadConfigProblemKeys(got))
	assert.Contains(t, got["database.dsn"], "FRAMEWORK_M_TEST_UNSET_DSN_41AB")
	assert.Equal(t, config.Config{}, cfg)
}

func TestParseConfigValidates(t *testing.T) {
	cfg, err := frameworkm.ParseConfig("f.toml", []byte("[app]\nlog_level = \"loud\"\n[database]\ndriver = \"mysql\"\n"))
	got := loadConfigProblems(t, err, "f.toml")
	assert.ElementsMatch(t, []string{"app.log_level", "database.driver"}, loadConfigProblemKeys(got))
	assert.Contains(t, err.Error(), "invalid configuration in f.toml")
	assert.Equal(t, config.Config{}, cfg)
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	envFile := writeConfigAt(t, dir, "env.toml", "[app]\nname = \"From Env\"\n")
	argFile := writeConfigAt(t, dir, "arg.toml", "[app]\nname = \"From Arg\"\n")

	t.Run("path argument", func(t *testing.T) {
		t.Setenv(config.EnvPath, envFile)
		cfg, err := frameworkm.LoadConfig(argFile)
		require.NoError(t, err)
		assert.Equal(t, "From Arg", cfg.App.Name)
		assert.Equal(t, config.Default().App.Address, cfg.App.Address)
	})
	t.Run("FRAMEWORK_M_CONFIG", func(t *testing.T) {
		t.Setenv(config.EnvPath, envFile)
		cfg, err := frameworkm.LoadConfig("")
		require.NoError(t, err)
		assert.Equal(t, "From Env", cfg.App.Name)
	})
	t.Run("framework_config.toml in the working directory", func(t *testing.T) {
		wd := t.TempDir()
		writeConfigAt(t, wd, config.DefaultPath, "[app]\nname = \"From Default Path\"\n")
		t.Chdir(wd)
		t.Setenv(config.EnvPath, "")
		cfg, err := frameworkm.LoadConfig("")
		require.NoError(t, err)
		assert.Equal(t, "From Default Path", cfg.App.Name)
	})
	t.Run("no file gives the defaults", func(t *testing.T) {
		t.Chdir(t.TempDir())
		t.Setenv(config.EnvPath, "")
		cfg, err := frameworkm.LoadConfig("")
		require.NoError(t, err)
		assert.Equal(t, config.Default(), cfg)
	})
	t.Run("missing explicit file is an error", func(t *testing.T) {
		_, err := frameworkm.LoadConfig(filepath.Join(dir, "missing.toml"))
		require.Error(t, err, "a typo in -config must not start production on the defaults")
		assert.Contains(t, err.Error(), "missing.toml")
		t.Setenv(config.EnvPath, filepath.Join(dir, "also-missing.toml"))
		_, err = frameworkm.LoadConfig("")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "also-missing.toml")
	})
	t.Run("missing implicit file gives the defaults", func(t *testing.T) {
		t.Chdir(t.TempDir())
		cfg, err := frameworkm.LoadConfig("")
		require.NoError(t, err)
		assert.Equal(t, config.Default(), cfg)
	})
	t.Run("errors name the file", func(t *testing.T) {
		bad := writeConfigAt(t, dir, "bad.toml", "[app]\nnmae = \"x\"\n")
		_, err := frameworkm.LoadConfig(bad)
		got := loadConfigProblems(t, err, bad)
		assert.Equal(t, []string{"app.nmae"}, loadConfigProblemKeys(got))
		assert.Contains(t, err.Error(), bad)
	})
	t.Run("unreadable path", func(t *testing.T) {
		_, err := frameworkm.LoadConfig(dir) // a directory
		require.Error(t, err)
		assert.Contains(t, err.Error(), "read config")
	})
}

func TestEncodeConfigRoundTrips(t *testing.T) {
	cfg := config.Default()
	cfg.App.Debug = true
	cfg.Auth.Strategies = []string{"bearer", "apikey"}
	cfg.Database.Driver = "postgres"
	cfg.Database.DSN = "postgres://u@h/db"

	text, err := frameworkm.EncodeConfig(cfg)
	require.NoError(t, err)
	assert.Contains(t, text, "[app]")
	assert.Contains(t, text, "strategies")

	back, err := frameworkm.ParseConfig("encoded.toml", []byte(text))
	require.NoError(t, err)
	assert.Equal(t, cfg, back)

	text, err = frameworkm.EncodeConfig(config.Default())
	require.NoError(t, err)
	back, err = frameworkm.ParseConfig("encoded.toml", []byte(text))
	require.NoError(t, err)
	assert.Equal(t, config.Default(), back)
}
