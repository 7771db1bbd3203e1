package web_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
)

func limitedApp(t *testing.T, mutate func(*config.Config)) *fmtest.App {
	t.Helper()
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.RateLimit.Requests = 3
	if mutate != nil {
		mutate(&cfg)
	}
	return fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))
}

func TestRateLimitPerUserAndAddress(t *testing.T) {
	app := limitedApp(t, nil)
	ann := app.As(fmtest.User("ann", "Writer"))
	for i := range 3 {
		res := ann.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
		assert.Equal(t, "3", res.Header.Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(2-i), res.Header.Get("X-RateLimit-Remaining"))
		reset, err := strconv.ParseInt(res.Header.Get("X-RateLimit-Reset"), 10, 64)
		require.NoError(t, err)
		assert.InDelta(t, time.Now().Add(time.Minute).Unix(), reset, 5)
	}
	res := ann.Get("/api/v1/resource/Note")
	require.Equal(t, http.StatusTooManyRequests, res.Status)
	assert.Equal(t, "too_many_requests", res.Err(t).Error.Code)
	retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.Positive(t, retry)

	// Another user has a budget of their own; anonymous clients share one per address.
	app.As(fmtest.User("bob", "Writer")).Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
	anon := app.Anonymous()
	for range 3 {
		anon.Get("/api/v1/settings").RequireStatus(t, http.StatusOK)
	}
	anon.Get("/api/v1/settings").RequireStatus(t, http.StatusTooManyRequests)
	app.Anonymous().Get("/healthz").RequireStatus(t, http.StatusOK) // probes are never limited
}

// TestRateLimitAcrossInstances runs two app instances on one Redis: the limit
// holds for their sum, whichever instance a request reaches.
func TestRateLimitAcrossInstances(t *testing.T) {
	url := fmtest.SkipUnlessServer(t, "FM_TEST_REDIS_URL", "Redis")
	prefix := fmt.Sprintf("fmtest:rl:%d:", time.Now().UnixNano())
	shared := func(c *config.Config) {
		c.RateLimit.Backend = "redis"
		c.RateLimit.Requests = 5
		c.SetSection("rate_limit.redis", map[string]any{"key_prefix": prefix})
		c.Redis.URL = url
	}
	a, b := limitedApp(t, shared), limitedApp(t, shared)
	user := fmtest.User("ann", "Writer")
	ok := 0
	for i := range 8 {
		app := a
		if i%2 == 1 {
			app = b
		}
		if app.As(user).Get("/api/v1/resource/Note").Status == http.StatusOK {
			ok++
		}
	}
	assert.Equal(t, 5, ok, "5 requests in the window, across both instances")
}

func TestCORS(t *testing.T) {
	app := limitedApp(t, func(c *config.Config) {
		c.RateLimit.Requests = 1000
		c.CORS.AllowedOrigins = []string{"https://app.example.com"}
	})
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, app.URL+"/api/v1/resource/Note", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "Authorization, Content-Type")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}
	res := preflight("https://app.example.com")
	assert.Equal(t, http.StatusNoContent, res.StatusCode)
	assert.Equal(t, "https://app.example.com", res.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, res.Header.Get("Access-Control-Allow-Methods"), "POST")
	assert.Empty(t, res.Header.Get("Access-Control-Allow-Credentials"))

	res = preflight("https://evil.example")
	assert.Empty(t, res.Header.Get("Access-Control-Allow-Origin"), "other origins get no CORS grant")

	c := app.As(fmtest.User("ann", "Writer"))
	c.Header.Set("Origin", "https://app.example.com")
	got := c.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
	assert.Equal(t, "https://app.example.com", got.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, got.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID")

	// Without configured origins the API is same-origin only.
	plain := limitedApp(t, func(c *config.Config) { c.RateLimit.Requests = 1000 })
	req, _ := http.NewRequest(http.MethodGet, plain.URL+"/api/v1/settings", nil)
	req.Header.Set("Origin", "https://app.example.com")
	r2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r2.Body.Close()
	assert.Empty(t, r2.Header.Get("Access-Control-Allow-Origin"))
}

func TestCORSConfigRefusesWildcardWithCredentials(t *testing.T) {
	cfg := config.Default()
	cfg.CORS.AllowedOrigins = []string{"*"}
	cfg.CORS.AllowCredentials = true
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cors.allowed_origins[0]")
	cfg.CORS.AllowedOrigins = []string{"https://app.example.com/path"}
	assert.ErrorContains(t, cfg.Validate(), "must be an origin")
}
