package frameworkm_test

import (
	"os"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// assertEveryKeyDocumented checks every key of the encoded defaults appears in the sample.
func assertEveryKeyDocumented(t *testing.T, path string) {
	t.Helper()
	enc, err := frameworkm.EncodeConfig(frameworkm.DefaultConfig())
	require.NoError(t, err)
	var all map[string]any
	_, err = toml.Decode(enc, &all)
	require.NoError(t, err)
	var sample map[string]any
	_, err = toml.Decode(string(mustRead(t, path)), &sample)
	require.NoError(t, err)
	var missing []string
	var walk func(prefix string, want, got map[string]any)
	walk = func(prefix string, want, got map[string]any) {
		for k, v := range want {
			g, ok := got[k]
			if !ok {
				missing = append(missing, prefix+k)
				continue
			}
			if sub, isMap := v.(map[string]any); isMap {
				gs, _ := g.(map[string]any)
				walk(prefix+k+".", sub, gs)
			}
		}
	}
	walk("", all, sample)
	require.Empty(t, missing, "keys missing from %s: %s", path, strings.Join(missing, ", "))
}

// assertSameConfig compares two configurations as TOML documents, so a
// backend's section read from a file (a map) equals its settings struct.
func assertSameConfig(t *testing.T, want, got config.Config) {
	t.Helper()
	decode := func(c config.Config) map[string]any {
		enc, err := frameworkm.EncodeConfig(c)
		require.NoError(t, err)
		var m map[string]any
		_, err = toml.Decode(enc, &m)
		require.NoError(t, err)
		return m
	}
	require.Equal(t, decode(want), decode(got))
}
