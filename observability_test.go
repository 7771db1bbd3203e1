package frameworkm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
)

// TestObservabilityConfig: [openapi], [metrics] and [tracing] decode from
// TOML (headers included) and bad values are refused naming their keys.
func TestObservabilityConfig(t *testing.T) {
	cfg, err := frameworkm.ParseConfig("t.toml", []byte(`
[openapi]
expose = "public"
servers = ["https://api.example.com"]
[metrics]
enabled = true
address = "127.0.0.1:9090"
token = "0123456789abcdef"
[tracing]
enabled = true
endpoint = "http://127.0.0.1:4318"
sample_ratio = 0.25
[tracing.headers]
authorization = "Bearer x"
`))
	require.NoError(t, err)
	assert.Equal(t, "public", cfg.OpenAPI.Expose)
	assert.Equal(t, []string{"https://api.example.com"}, cfg.OpenAPI.Servers)
	assert.True(t, cfg.Metrics.Enabled)
	assert.Equal(t, "127.0.0.1:9090", cfg.Metrics.Address)
	assert.InDelta(t, 0.25, cfg.Tracing.SampleRatio, 1e-9)
	assert.Equal(t, map[string]string{"authorization": "Bearer x"}, cfg.Tracing.Headers)

	cases := map[string]struct {
		tune func(c *config.Config)
		key  string
	}{
		"expose":        {func(c *config.Config) { c.OpenAPI.Expose = "everyone" }, "openapi.expose"},
		"server":        {func(c *config.Config) { c.OpenAPI.Servers = []string{"api.example.com"} }, "openapi.servers[0]"},
		"metrics addr":  {func(c *config.Config) { c.Metrics.Address = "9090" }, "metrics.address"},
		"metrics token": {func(c *config.Config) { c.Metrics.Token = "short" }, "metrics.token"},
		"ratio":         {func(c *config.Config) { c.Tracing.SampleRatio = 1.5 }, "tracing.sample_ratio"},
		"endpoint":      {func(c *config.Config) { c.Tracing.Enabled, c.Tracing.Endpoint = true, "127.0.0.1:4318" }, "tracing.endpoint"},
		"header":        {func(c *config.Config) { c.Tracing.Headers = map[string]string{"bad name": "x"} }, "tracing.headers"},
	}
	for name, tc := range cases {
		cfg := config.Default()
		tc.tune(&cfg)
		err := cfg.Validate()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.key, name)
	}
}
