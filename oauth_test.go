package frameworkm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
)

func TestOAuthConfigDecodesProviderTables(t *testing.T) {
	t.Setenv("FM_TEST_GH_SECRET", "gh-secret")
	cfg, err := frameworkm.ParseConfig("test.toml", []byte(`
[auth.oauth]
enabled = true
providers = ["google", "github", "corp"]
allowed_redirects = ["https://app.example.com/"]
allowed_private_hosts = ["10.0.0.0/8", "idp.internal"]

[auth.oauth.google]
client_id = "g-id"
client_secret = "g-secret"

[auth.oauth.github]
client_id = "gh-id"
client_secret = "${FM_TEST_GH_SECRET}"

[auth.oauth.corp]
client_id = "c-id"
issuer = "https://idp.internal/realms/corp"
scope = "openid email"
`))
	require.NoError(t, err)
	o := cfg.Auth.OAuth
	assert.True(t, o.Enabled)
	assert.Equal(t, []string{"10.0.0.0/8", "idp.internal"}, o.AllowedPrivateHosts)
	g := o.Settings("google")
	assert.Equal(t, "https://accounts.google.com", g.Issuer)
	assert.Equal(t, "g-id", g.ClientID)
	gh := o.Settings("github")
	assert.Equal(t, "gh-secret", gh.ClientSecret, "${ENV} interpolated")
	assert.Equal(t, "https://api.github.com/user/emails", gh.EmailsURL)
	assert.Empty(t, gh.Issuer)
	corp := o.Settings("corp")
	assert.Equal(t, "https://idp.internal/realms/corp", corp.Issuer)
	assert.Equal(t, "openid email", corp.Scope)
}

func TestOAuthConfigProblems(t *testing.T) {
	cases := map[string]string{
		"unknown provider key":          "[auth.oauth]\nenabled = true\nproviders = [\"google\"]\n[auth.oauth.google]\nclient_id = \"x\"\nclient_sekret = \"y\"\n",
		"unlisted provider":             "[auth.oauth.google]\nclient_id = \"x\"\n",
		"no client id":                  "[auth.oauth]\nenabled = true\nproviders = [\"google\"]\n",
		"no endpoints":                  "[auth.oauth]\nenabled = true\nproviders = [\"corp\"]\n[auth.oauth.corp]\nclient_id = \"x\"\n",
		"social_only without providers": "[auth]\nmode = \"social_only\"\n",
		"bad private host":              "[auth.oauth]\nallowed_private_hosts = [\"http://x/\"]\n",
		"bad redirect":                  "[auth.oauth]\nallowed_redirects = [\"/relative\"]\n",
	}
	for name, toml := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := frameworkm.ParseConfig("test.toml", []byte(toml))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "auth.oauth")
		})
	}
}
