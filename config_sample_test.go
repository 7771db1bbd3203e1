package frameworkm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
)

// TestSampleConfigIsTheDefaults keeps framework_config.toml, which documents
// every key, equal to the built-in defaults.
func TestSampleConfigIsTheDefaults(t *testing.T) {
	cfg, err := frameworkm.LoadConfig("framework_config.toml")
	require.NoError(t, err)
	assert.Equal(t, config.Default(), cfg)

	// And it names every key: encoding the defaults yields no key the sample lacks.
	sample, err := frameworkm.ParseConfig("framework_config.toml", mustRead(t, "framework_config.toml"))
	require.NoError(t, err)
	assert.Equal(t, cfg, sample)
	assertEveryKeyDocumented(t, "framework_config.toml")
}
