package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/fmtest"
)

// EnvChromium names the environment variable holding the path of the
// Chromium the API reference page is rendered with (.ci/run sets it).
const EnvChromium = "FM_TEST_CHROMIUM"

// headless runs Chromium headless on url with extra flags and returns what
// it printed.
func headless(t *testing.T, chromium, url string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=20000", "--window-size=1280,2400",
	}, extra...)
	out, err := exec.CommandContext(ctx, chromium, append(args, url)...).Output()
	require.NoError(t, err, "chromium on %s", url)
	return string(out)
}

// TestAPIReferencePage: /api/docs renders the app's OpenAPI document in a
// real browser, with nothing from a CDN, and lists the Invoice operations.
// The screenshot is kept in FM_TEST_ARTIFACTS (or the temporary folder).
func TestAPIReferencePage(t *testing.T) {
	chromium := fmtest.SkipUnlessServer(t, EnvChromium, "headless Chromium")
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.OpenAPI.Expose = "public"
	app := fmtest.NewWithConfig(t, cfg, appOptions()...)

	dom := headless(t, chromium, app.URL+"/api/docs", "--dump-dom")
	assert.Contains(t, dom, "/api/v1/resource/Invoice", "the Invoice paths are listed")
	assert.Contains(t, dom, "Invoice", "the Invoice schemas are listed")
	assert.NotContains(t, strings.ToLower(dom), "something went wrong", "Redoc rendered the document")

	dir := os.Getenv("FM_TEST_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	shot := filepath.Join(dir, "api-docs.png")
	headless(t, chromium, app.URL+"/api/docs", "--screenshot="+shot)
	st, err := os.Stat(shot)
	require.NoError(t, err)
	assert.Greater(t, st.Size(), int64(10_000), "a rendered page, not a blank one")
	t.Logf("screenshot of /api/docs: %s", shot)
}
