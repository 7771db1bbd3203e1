package frameworkm_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
)

// TestSampleConfigIsTheDefaults keeps framework_config.toml, which documents
// every key, equal to the built-in defaults.
func TestSampleConfigIsTheDefaults(t *testing.T) {
	cfg, err := frameworkm.LoadConfig("framework_config.toml")
	require.NoError(t, err)
	assertSameConfig(t, frameworkm.DefaultConfig(), cfg)

	// And it names every key: encoding the defaults yields no key the sample lacks.
	sample, err := frameworkm.ParseConfig("framework_config.toml", mustRead(t, "framework_config.toml"))
	require.NoError(t, err)
	assertSameConfig(t, cfg, sample)
	assertEveryKeyDocumented(t, "framework_config.toml")
}
