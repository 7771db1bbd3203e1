package web_test

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/fmtest"
)

// TestTwoInstancesBehaveAsOne starts two app instances on one PostgreSQL
// database and one Redis: a session, a token and an API key made on A work
// on B; a logout on B ends the session for A; limits and settings are shared.
func TestTwoInstancesBehaveAsOne(t *testing.T) {
	redisURL := fmtest.SkipUnlessServer(t, "FM_TEST_REDIS_URL", "Redis")
	cfg := fmtest.Config(t, fmtest.Postgres) // one schema, one JWT secret
	cfg.Auth.Session.Backend = "redis"
	cfg.RateLimit.Backend = "redis"
	cfg.SetSection("rate_limit.redis", map[string]any{"key_prefix": fmt.Sprintf("fmtest:two:%d:", time.Now().UnixNano())})
	cfg.Redis.URL = redisURL
	a := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))
	b := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))
	a.CreateUser(t, annEmail, annPass, "Writer")

	// A session started on A is valid on B.
	onA := a.Browser().UseCSRF()
	onA.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	onB := b.Browser().UseCSRF()
	jar, _ := cookiejar.New(nil)
	bURL, _ := url.Parse(b.URL)
	aURL, _ := url.Parse(a.URL)
	jar.SetCookies(bURL, onA.HTTP.Jar.Cookies(aURL))
	onB.HTTP.Jar = jar
	st, u := me(t, onB)
	require.Equal(t, http.StatusOK, st, "the session lives in Redis, not in instance A")
	assert.Equal(t, annEmail, u.Email)
	onB.Post("/api/v1/resource/Note", map[string]any{"title": "written on B"}).RequireStatus(t, http.StatusCreated)

	// A token from A works on B; its logout on B holds on A.
	tok := a.Login(t, annEmail, annPass)
	st, _ = me(t, b.Bearer(tok))
	assert.Equal(t, http.StatusOK, st)
	b.Bearer(tok).Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
	st, _ = me(t, a.Bearer(tok))
	assert.Equal(t, http.StatusUnauthorized, st, "revoked everywhere")

	// Logging the session out on B ends it on A.
	onB.Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
	st, _ = me(t, onA)
	assert.Equal(t, http.StatusUnauthorized, st)

	// Both see the same documents and settings.
	tok = a.Login(t, annEmail, annPass)
	_, total := b.Bearer(tok).Get("/api/v1/resource/Note").List(t)
	assert.Equal(t, 1, total)
}
