package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/config"
)

// problems returns the keys of the problems in err, which must be a *config.Error.
func problems(t *testing.T, err error) map[string]string {
	t.Helper()
	require.Error(t, err)
	var cerr *config.Error
	require.True(t, errors.As(err, &cerr), "want *config.Error, got %T: %v", err, err)
	out := map[string]string{}
	for _, p := range cerr.Problems {
		require.NotContains(t, out, p.Key, "key reported twice")
		out[p.Key] = p.Reason
	}
	return out
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDefaultIsValid(t *testing.T) {
	cfg := config.Default()
	require.NoError(t, cfg.Validate())

	assert.Equal(t, "sqlite", cfg.Database.Driver)
	assert.Equal(t, "default", cfg.Tenancy.DefaultTenantID)
	assert.Equal(t, "rbac", cfg.Permissions.Backend)
	assert.Equal(t, []string{"Admin"}, cfg.Permissions.AdminRoles)
	assert.NotNil(t, cfg.Auth.Strategies)
	assert.Positive(t, cfg.App.MaxBodyBytes)
}

func TestDefaultReturnsIndependentCopies(t *testing.T) {
	a := config.Default()
	a.Permissions.AdminRoles[0] = "Changed"
	a.Auth.Strategies[0] = "changed"
	b := config.Default()
	assert.Equal(t, []string{"Admin"}, b.Permissions.AdminRoles)
	assert.Equal(t, []string{"session_cookie", "bearer", "api_key", "basic"}, b.Auth.Strategies)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.Config)
		want   []string // problem keys; empty = valid
		reason string   // substring of the first key's reason
	}{
		{"defaults", func(*config.Config) {}, nil, ""},
		{"empty app name", func(c *config.Config) { c.App.Name = "  " }, []string{"app.name"}, "empty"},
		{"address without port", func(c *config.Config) { c.App.Address = "localhost" }, []string{"app.address"}, "host:port"},
		{"address with text port", func(c *config.Config) { c.App.Address = "localhost:http" }, []string{"app.address"}, "0 to 65535"},
		{"address port too big", func(c *config.Config) { c.App.Address = "127.0.0.1:65536" }, []string{"app.address"}, "0 to 65535"},
		{"address empty", func(c *config.Config) { c.App.Address = "" }, []string{"app.address"}, "host:port"},
		{"address any host", func(c *config.Config) { c.App.Address = ":8080" }, nil, ""},
		{"address ipv6", func(c *config.Config) { c.App.Address = "[::1]:8080" }, nil, ""},
		{"address port 0", func(c *config.Config) { c.App.Address = "127.0.0.1:0" }, nil, ""},
		{"empty data dir", func(c *config.Config) { c.App.DataDir = "" }, []string{"app.data_dir"}, "empty"},
		{"bad log level", func(c *config.Config) { c.App.LogLevel = "verbose" }, []string{"app.log_level"}, `"verbose"`},
		{"log level debug", func(c *config.Config) { c.App.LogLevel = "debug" }, nil, ""},
		{"log level warn", func(c *config.Config) { c.App.LogLevel = "warn" }, nil, ""},
		{"log level error", func(c *config.Config) { c.App.LogLevel = "error" }, nil, ""},
		{"log level is case sensitive", func(c *config.Config) { c.App.LogLevel = "INFO" }, []string{"app.log_level"}, "debug, info, warn, error"},
		{"bad log format", func(c *config.Config) { c.App.LogFormat = "xml" }, []string{"app.log_format"}, "text, json"},
		{"json log format", func(c *config.Config) { c.App.LogFormat = "json" }, nil, ""},
		{"zero body limit", func(c *config.Config) { c.App.MaxBodyBytes = 0 }, []string{"app.max_body_bytes"}, "positive"},
		{"negative body limit", func(c *config.Config) { c.App.MaxBodyBytes = -1 }, []string{"app.max_body_bytes"}, "positive"},
		{"negative shutdown timeout", func(c *config.Config) { c.App.ShutdownTimeoutSeconds = -1 }, []string{"app.shutdown_timeout_seconds"}, "between 1 and 3600"},
		{"zero shutdown timeout means no drain", func(c *config.Config) { c.App.ShutdownTimeoutSeconds = 0 }, []string{"app.shutdown_timeout_seconds"}, "between 1 and 3600"},
		{"zero read timeout", func(c *config.Config) { c.App.ReadTimeoutSeconds = 0 }, []string{"app.read_timeout_seconds"}, "between 1"},
		{"unknown driver", func(c *config.Config) { c.Database.Driver = "mysql" }, []string{"database.driver"}, "sqlite, postgres"},
		{"postgres without dsn", func(c *config.Config) { c.Database.Driver = "postgres" }, []string{"database.dsn"}, "postgres"},
		{"postgres with blank dsn", func(c *config.Config) { c.Database.Driver = "postgres"; c.Database.DSN = "  " }, []string{"database.dsn"}, "required"},
		{"postgres with dsn", func(c *config.Config) {
			c.Database.Driver = "postgres"
			c.Database.DSN = "postgres://u:p@127.0.0.1:5432/app"
		}, nil, ""},
		{"sqlite without dsn", func(c *config.Config) { c.Database.DSN = "" }, nil, ""},
		{"negative max open", func(c *config.Config) { c.Database.MaxOpenConns = -1 }, []string{"database.max_open_conns"}, "negative"},
		{"negative max idle", func(c *config.Config) { c.Database.MaxIdleConns = -1 }, []string{"database.max_idle_conns"}, "negative"},
		{"strategies ok", func(c *config.Config) { c.Auth.Strategies = []string{"sessioncookie", "bearer", "apikey"} }, nil, ""},
		{"duplicate strategy", func(c *config.Config) { c.Auth.Strategies = []string{"bearer", "apikey", "bearer"} }, []string{"auth.strategies[2]"}, `"bearer" is listed twice`},
		{"empty strategy", func(c *config.Config) { c.Auth.Strategies = []string{"bearer", " "} }, []string{"auth.strategies[1]"}, "empty"},
		{"empty tenant", func(c *config.Config) { c.Tenancy.DefaultTenantID = "" }, []string{"tenancy.default_tenant_id"}, "1-64"},
		{"tenant with slash", func(c *config.Config) { c.Tenancy.DefaultTenantID = "a/b" }, []string{"tenancy.default_tenant_id"}, `"a/b"`},
		{"tenant too long", func(c *config.Config) { c.Tenancy.DefaultTenantID = strings.Repeat("t", 65) }, []string{"tenancy.default_tenant_id"}, "1-64"},
		{"tenant 64 chars", func(c *config.Config) { c.Tenancy.DefaultTenantID = strings.Repeat("t", 64) }, nil, ""},
		{"empty permissions backend", func(c *config.Config) { c.Permissions.Backend = "" }, []string{"permissions.backend"}, "empty"},
		{"empty admin role", func(c *config.Config) { c.Permissions.AdminRoles = []string{"Admin", ""} }, []string{"permissions.admin_roles[1]"}, "empty"},
		{"no admin roles", func(c *config.Config) { c.Permissions.AdminRoles = nil }, nil, ""},
		{"print: no renderer", func(c *config.Config) { c.Print.Renderer = " " }, []string{"print.renderer"}, "empty"},
		{"print: no pdf backend", func(c *config.Config) { c.Print.PDFBackend = "" }, []string{"print.pdf_backend"}, "none"},
		{"print: timeout too short", func(c *config.Config) { c.Print.TimeoutMS = 50 }, []string{"print.timeout_ms"}, "between 100"},
		{"print: retries", func(c *config.Config) { c.Print.Retries = 11 }, []string{"print.retries"}, "between 0 and 10"},
		{"print: no retries", func(c *config.Config) { c.Print.Retries = 0 }, nil, ""},
		{"print: page size", func(c *config.Config) { c.Print.DefaultPageSize = "a4" }, []string{"print.default_page_size"}, "A4, Letter"},
		{"print: margin without unit", func(c *config.Config) { c.Print.MarginLeft = "10" }, []string{"print.margin_left"}, "unit"},
		{"print: margin in inches", func(c *config.Config) { c.Print.MarginTop = "0.75in" }, nil, ""},
		{"print: no margin", func(c *config.Config) { c.Print.MarginBottom = "" }, nil, ""},
		{"print: render timeout", func(c *config.Config) { c.Print.RenderTimeoutMS = 0 }, []string{"print.render_timeout_ms"}, "between 10"},
		{"print: output size", func(c *config.Config) { c.Print.MaxOutputSize = "8 parsecs" }, []string{"print.max_output_size"}, "size"},
		{"print: output too small", func(c *config.Config) { c.Print.MaxOutputSize = "100B" }, []string{"print.max_output_size"}, "1KB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				require.NoError(t, err)
				return
			}
			got := problems(t, err)
			assert.ElementsMatch(t, tt.want, keys(got))
			assert.Contains(t, got[tt.want[0]], tt.reason)
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	cfg := config.Default()
	cfg.App.Address = "nope"
	cfg.App.LogLevel = "loud"
	cfg.App.LogFormat = "yaml"
	cfg.App.MaxBodyBytes = 0
	cfg.Database.Driver = "postgres"
	cfg.Auth.Strategies = []string{"bearer", "", "bearer"}
	cfg.Tenancy.DefaultTenantID = "bad tenant"
	cfg.Permissions.Backend = " "

	err := cfg.Validate()
	got := problems(t, err)
	assert.ElementsMatch(t, []string{
		"app.address", "app.log_level", "app.log_format", "app.max_body_bytes",
		"database.dsn", "auth.strategies[1]", "auth.strategies[2]",
		"tenancy.default_tenant_id", "permissions.backend",
	}, keys(got))

	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "invalid configuration\n"), msg)
	for _, k := range keys(got) {
		assert.Contains(t, msg, "\n  - "+k+": ", "message lists %s", k)
	}
}

func TestErrorMessage(t *testing.T) {
	e := &config.Error{Source: "app.toml", Problems: []config.Problem{
		{Key: "app.address", Reason: "must be host:port"},
		{Key: "database.driver", Reason: "must be one of sqlite, postgres"},
	}}
	assert.Equal(t, "invalid configuration in app.toml\n  - app.address: must be host:port\n  - database.driver: must be one of sqlite, postgres", e.Error())
	assert.Equal(t, "app.address: must be host:port", e.Problems[0].String())
}

func TestTenantIDValid(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"default", true},
		{"acme-corp_1.eu", true},
		{"A", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"with space", false},
		{"a/b", false},
		{"ünï", false},
		{"a\n", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, config.TenantIDValid(tt.id), "%q", tt.id)
	}
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestInterpolate(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		vars  map[string]string
		want  string
		fails bool
	}{
		{"no variables", "plain text", nil, "plain text", false},
		{"dollar without braces is literal", "$HOME and $", map[string]string{"HOME": "/root"}, "$HOME and $", false},
		{"set variable", "${HOST}", map[string]string{"HOST": "db.local"}, "db.local", false},
		{"inside text", "postgres://${USER}@${HOST}:5432/app", map[string]string{"USER": "u", "HOST": "h"}, "postgres://u@h:5432/app", false},
		{"default unused when set", "${PORT:-8000}", map[string]string{"PORT": "9000"}, "9000", false},
		{"default when unset", "${PORT:-8000}", nil, "8000", false},
		{"default when empty", "${PORT:-8000}", map[string]string{"PORT": ""}, "8000", false},
		{"empty default", "a${X:-}b", nil, "ab", false},
		{"default with punctuation", "${DSN:-postgres://u:p@h:5432/db?sslmode=disable}", nil, "postgres://u:p@h:5432/db?sslmode=disable", false},
		{"set but empty without default", "a${X}b", map[string]string{"X": ""}, "ab", false},
		{"unset without default", "${NOPE}", nil, "${NOPE}", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.App.DataDir = tt.in
			err := cfg.Interpolate(env(tt.vars))
			assert.Equal(t, tt.want, cfg.App.DataDir)
			if !tt.fails {
				require.NoError(t, err)
				return
			}
			got := problems(t, err)
			assert.Equal(t, []string{"app.data_dir"}, keys(got))
			assert.Contains(t, got["app.data_dir"], "NOPE")
		})
	}
}

func TestInterpolateEveryStringAndListItem(t *testing.T) {
	cfg := config.Default()
	cfg.App.Name = "${APP_NAME}"
	cfg.App.Address = "${HOST:-127.0.0.1}:${PORT}"
	cfg.Database.DSN = "postgres://${DB_USER:-app}:${DB_PASS}@db/app"
	cfg.Auth.Strategies = []string{"${FIRST}", "bearer", "${SECOND:-apikey}"}
	cfg.Permissions.AdminRoles = []string{"${ROLE:-Admin}"}
	cfg.Tenancy.DefaultTenantID = "${TENANT:-default}"

	vars := map[string]string{"APP_NAME": "Shop", "PORT": "9000", "DB_PASS": "s3cret", "FIRST": "sessioncookie", "TENANT": "acme"}
	require.NoError(t, cfg.Interpolate(env(vars)))

	assert.Equal(t, "Shop", cfg.App.Name)
	assert.Equal(t, "127.0.0.1:9000", cfg.App.Address)
	assert.Equal(t, "postgres://app:s3cret@db/app", cfg.Database.DSN)
	assert.Equal(t, []string{"sessioncookie", "bearer", "apikey"}, cfg.Auth.Strategies)
	assert.Equal(t, []string{"Admin"}, cfg.Permissions.AdminRoles)
	assert.Equal(t, "acme", cfg.Tenancy.DefaultTenantID)
	// Non-string values are untouched.
	assert.Equal(t, config.Default().App.MaxBodyBytes, cfg.App.MaxBodyBytes)
}

func TestInterpolateReportsEveryUnsetVariable(t *testing.T) {
	cfg := config.Default()
	cfg.App.Name = "${MISSING_NAME}"
	cfg.Database.DSN = "postgres://${MISSING_USER}@db"
	cfg.Auth.Strategies = []string{"bearer", "${MISSING_STRATEGY}"}
	cfg.App.DataDir = "${DATA:-./data}"

	err := cfg.Interpolate(env(nil))
	got := problems(t, err)
	assert.ElementsMatch(t, []string{"app.name", "database.dsn", "auth.strategies[1]"}, keys(got))
	assert.Contains(t, got["app.name"], "MISSING_NAME")
	assert.Contains(t, got["database.dsn"], "MISSING_USER")
	assert.Contains(t, got["auth.strategies[1]"], "MISSING_STRATEGY")
	assert.Contains(t, got["app.name"], "${MISSING_NAME:-default}", "the reason shows how to give a default")
	// Defaults still apply next to the problems.
	assert.Equal(t, "./data", cfg.App.DataDir)
}

func TestInterpolateUsesProcessEnvironmentByDefault(t *testing.T) {
	t.Setenv("FRAMEWORK_M_TEST_INTERP_NAME", "From Env")
	cfg := config.Default()
	cfg.App.Name = "${FRAMEWORK_M_TEST_INTERP_NAME}"
	cfg.App.DataDir = "${FRAMEWORK_M_TEST_INTERP_UNSET_9F3A:-/var/lib/app}"
	require.NoError(t, cfg.Interpolate(nil))
	assert.Equal(t, "From Env", cfg.App.Name)
	assert.Equal(t, "/var/lib/app", cfg.App.DataDir)
}

func TestResolvePath(t *testing.T) {
	t.Run("argument wins", func(t *testing.T) {
		t.Setenv(config.EnvPath, "/etc/from-env.toml")
		assert.Equal(t, "given.toml", config.ResolvePath("given.toml"))
	})
	t.Run("environment when no argument", func(t *testing.T) {
		t.Setenv(config.EnvPath, "/etc/from-env.toml")
		assert.Equal(t, "/etc/from-env.toml", config.ResolvePath(""))
	})
	t.Run("default when neither", func(t *testing.T) {
		t.Setenv(config.EnvPath, "")
		assert.Equal(t, config.DefaultPath, config.ResolvePath(""))
		assert.Equal(t, "framework_config.toml", config.DefaultPath)
	})
	assert.Equal(t, "FRAMEWORK_M_CONFIG", config.EnvPath)
}

// ${VAR}s in an adapter's section are interpolated on a copy: a section set
// in code keeps the caller's own values untouched.
func TestInterpolateSectionsOnACopy(t *testing.T) {
	type settings struct {
		URL   string   `toml:"url"`
		Hosts []string `toml:"hosts"`
	}
	mine := &settings{URL: "http://${FM_HOST}/x", Hosts: []string{"${FM_HOST}"}}
	cfg := config.Default()
	cfg.SetSection("permissions.thing", mine)
	cfg.SetSection("rate_limit.other", map[string]any{"addr": "${FM_HOST:-y}", "list": []any{"${FM_HOST}"}})
	lookup := func(k string) (string, bool) { return "policy.local", k == "FM_HOST" }
	require.NoError(t, cfg.Interpolate(lookup))
	got := cfg.Sections["permissions.thing"].(*settings)
	assert.Equal(t, "http://policy.local/x", got.URL)
	assert.Equal(t, []string{"policy.local"}, got.Hosts)
	assert.Equal(t, "http://${FM_HOST}/x", mine.URL, "the caller's settings are untouched")
	assert.Equal(t, []string{"${FM_HOST}"}, mine.Hosts)
	other := cfg.Sections["rate_limit.other"].(map[string]any)
	assert.Equal(t, "policy.local", other["addr"])
	assert.Equal(t, []any{"policy.local"}, other["list"])

	cfg.SetSection("auth.session.x", map[string]any{"k": "${FM_SURELY_UNSET}"})
	err := cfg.Interpolate(func(string) (string, bool) { return "", false })
	var cerr *config.Error
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "auth.session.x.k", cerr.Problems[0].Key)
}
