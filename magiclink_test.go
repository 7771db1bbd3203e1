package frameworkm_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/doctypes"
)

// TestPasswordlessUserCommands: in passwordless mode `user create` makes a
// user without a password hash, and no command stores a password.
func TestPasswordlessUserCommands(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, "[app]\ndata_dir = \""+dir+"\"\n[auth]\nmode = \"passwordless\"\n"+
		"strategies = [\"session_cookie\", \"bearer\", \"api_key\"]\n[auth.magic_link]\nbase_url = \"https://app.example.com\"\n")
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := frameworkm.Run(context.Background(), append(args, "-config", path), &out)
		return out.String(), err
	}
	out, err := run("user", "create", "-email", "ann@example.com", "-roles", "Admin")
	require.NoError(t, err)
	assert.Contains(t, out, "(ann@example.com)")
	_, err = run("user", "create", "-email", "bob@example.com", "-password", "correct horse battery")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stores no passwords")
	_, err = run("user", "set-password", "-email", "ann@example.com", "-password", "correct horse battery")
	require.Error(t, err)

	cfg, err := frameworkm.LoadConfig(path)
	require.NoError(t, err)
	app, err := frameworkm.New(cfg)
	require.NoError(t, err)
	defer app.Shutdown(context.Background())
	require.NotNil(t, app.MagicLinks, "passwordless mode serves magic links")
	ctx := app.SystemContext(context.Background(), "")
	local, err := app.Users.Local()
	require.NoError(t, err)
	u, err := local.FindByEmail(ctx, "ann@example.com")
	require.NoError(t, err)
	doc, err := app.Repository.Get(ctx, doctypes.LocalUserDocType, u.ID)
	require.NoError(t, err)
	assert.Empty(t, doc.(*doctypes.LocalUser).PasswordHash)
	_, err = local.FindByEmail(ctx, "bob@example.com")
	assert.Error(t, err, "bob was not created")

	// Local mode still wants a password.
	localPath := writeConfig(t, "[app]\ndata_dir = \""+t.TempDir()+"\"\n")
	var buf bytes.Buffer
	err = frameworkm.Run(context.Background(), []string{"user", "create", "-email", "carl@example.com", "-config", localPath}, &buf)
	require.Error(t, err)
}

// TestMagicLinkConfig: [auth.magic_link] keys are checked with messages
// naming them.
func TestMagicLinkConfig(t *testing.T) {
	cases := map[string]struct {
		tune func(c *config.Config)
		key  string
	}{
		"ttl":              {func(c *config.Config) { c.Auth.MagicLink.TTLSeconds = 10 }, "auth.magic_link.ttl_seconds"},
		"base url":         {func(c *config.Config) { c.Auth.MagicLink.BaseURL = "app.example.com" }, "auth.magic_link.base_url"},
		"base url query":   {func(c *config.Config) { c.Auth.MagicLink.BaseURL = "https://a.example.com/?x=1" }, "auth.magic_link.base_url"},
		"short secret":     {func(c *config.Config) { c.Auth.MagicLink.Secret = "short" }, "auth.magic_link.secret"},
		"redirect":         {func(c *config.Config) { c.Auth.MagicLink.AllowedRedirects = []string{"//evil.com"} }, "auth.magic_link.allowed_redirects[0]"},
		"per email":        {func(c *config.Config) { c.Auth.MagicLink.RequestsPerEmail = 0 }, "auth.magic_link.requests_per_email"},
		"per ip":           {func(c *config.Config) { c.Auth.MagicLink.RequestsPerIP = 0 }, "auth.magic_link.requests_per_ip"},
		"window":           {func(c *config.Config) { c.Auth.MagicLink.WindowSeconds = 0 }, "auth.magic_link.window_seconds"},
		"signup in local":  {func(c *config.Config) { c.Auth.MagicLink.Enabled, c.Auth.MagicLink.EnableSignup = true, true }, "auth.magic_link.enable_signup"},
		"no shared secret": {func(c *config.Config) { c.Auth.Mode = "passwordless"; c.Auth.JWT.Algorithm = "EdDSA" }, "auth.magic_link.secret"},
		"federated": {func(c *config.Config) {
			c.Auth.Mode, c.Auth.Strategies, c.Auth.TrustedProxies = "federated", []string{"header"}, []string{"10.0.0.0/8"}
			c.Auth.MagicLink.Enabled = true
		}, "auth.magic_link.enabled"},
	}
	for name, tc := range cases {
		cfg := config.Default()
		tc.tune(&cfg)
		err := cfg.Validate()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.key, name)
	}
	cfg := config.Default()
	cfg.Auth.Mode = "passwordless"
	cfg.Auth.MagicLink.EnableSignup = true
	cfg.Auth.MagicLink.AllowedRedirects = []string{"https://app.example.com/"}
	cfg.Auth.Strategies = []string{"session_cookie", "bearer", "api_key"}
	assert.NoError(t, cfg.Validate())
}
