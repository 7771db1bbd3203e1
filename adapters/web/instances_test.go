package web_test

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	hubmemory "github.com/framework-m/framework-m/adapters/hub/memory"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
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

// TestRevocationReachesEveryInstance: two instances on one database, each
// answering credentials from memory; whatever ends a credential on one fails
// it on the other within a second — through the configured hub.
func TestRevocationReachesEveryInstance(t *testing.T) {
	type pair struct{ a, b *fmtest.App }
	variants := map[string]func(t *testing.T) pair{
		// Two instances on one SQLite file with an in-process hub: what
		// several apps in one process share.
		"sqlite+memory": func(t *testing.T) pair {
			cfg := fmtest.Config(t, fmtest.SQLite)
			cfg.Hub.Backend = "shared"
			h := hubmemory.New()
			opt := frameworkm.WithHubBackend("shared", frameworkm.Factory(func(frameworkm.Deps) (ports.Hub, error) { return h, nil }))
			return pair{fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta), opt), fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta), opt)}
		},
		// PostgreSQL's LISTEN/NOTIFY, the default hub on PostgreSQL.
		"postgres+listen": func(t *testing.T) pair {
			cfg := fmtest.Config(t, fmtest.Postgres)
			require.Equal(t, "auto", cfg.Hub.Backend)
			return pair{fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta)), fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))}
		},
		// Redis pub/sub, with sessions in Redis too (no repository events:
		// the session service announces what it ends).
		"postgres+redis": func(t *testing.T) pair {
			redisURL := fmtest.SkipUnlessServer(t, "FM_TEST_REDIS_URL", "Redis")
			cfg := fmtest.Config(t, fmtest.Postgres)
			prefix := fmt.Sprintf("fmtest:%d:", time.Now().UnixNano())
			cfg.Redis.URL = redisURL
			cfg.Hub.Backend = "redis"
			cfg.SetSection("hub.redis", map[string]any{"channel_prefix": prefix})
			cfg.Auth.Session.Backend = "redis"
			cfg.SetSection("auth.session.redis", map[string]any{"key_prefix": prefix + "s:"})
			return pair{fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta)), fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))}
		},
	}
	for name, mk := range variants {
		t.Run(name, func(t *testing.T) {
			p := mk(t)
			require.Eventually(t, func() bool { return p.a.Changes.Synced() && p.b.Changes.Synced() }, 5*time.Second, 5*time.Millisecond, "both instances hear the hub")
			ann := p.a.CreateUser(t, annEmail, annPass, "Writer")

			// failsOnB waits (at most a second) for cl's credential to fail on B.
			failsOnB := func(kind string, cl *fmtest.Client) {
				t.Helper()
				assert.Eventually(t, func() bool { st, _ := me(t, cl); return st == http.StatusUnauthorized },
					time.Second, 10*time.Millisecond, "%s: refused on B within a second", kind)
			}
			// warm makes B answer cl's credential from memory.
			warm := func(cl *fmtest.Client) *fmtest.Client {
				t.Helper()
				onB := cl.On(p.b)
				for range 2 {
					st, _ := me(t, onB)
					require.Equal(t, http.StatusOK, st)
				}
				return onB
			}

			onA := credentialed(t, p.a)
			onB := map[string]*fmtest.Client{}
			for kind, cl := range onA {
				onB[kind] = warm(cl)
			}
			onA["bearer"].Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
			failsOnB("logged-out token", onB["bearer"])
			onA["session_cookie"].Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
			failsOnB("ended session", onB["session_cookie"])
			keyID := strings.SplitN(strings.TrimPrefix(onA["api_key"].Header.Get("X-API-Key"), "fmk_"), "_", 2)[0]
			p.a.Bearer(p.a.Login(t, annEmail, annPass)).Delete("/api/v1/auth/api-keys/"+keyID).RequireStatus(t, http.StatusOK)
			failsOnB("revoked API key", onB["api_key"])

			// Disabling the user on A ends every credential on B.
			onA = credentialed(t, p.a)
			for kind, cl := range onA {
				onB[kind] = warm(cl)
			}
			p.a.As(fmtest.Admin()).Post("/api/v1/users/"+ann.ID+"/disable", nil).RequireStatus(t, http.StatusOK)
			for kind, cl := range onB {
				failsOnB(kind+" of a disabled user", cl)
			}

			// System Settings changed on A are B's within a second too.
			settingsOf := func(app *fmtest.App) map[string]any { return app.Anonymous().Get("/api/v1/settings").Data(t) }
			require.Equal(t, false, settingsOf(p.b)["maintenance_mode"]) // cached on B
			p.a.As(fmtest.Admin()).Patch("/api/v1/settings", map[string]any{"app_name": "Renamed on A"}).RequireStatus(t, http.StatusOK)
			assert.Eventually(t, func() bool { return settingsOf(p.b)["app_name"] == "Renamed on A" }, time.Second, 10*time.Millisecond, "settings changed on A reach B")
		})
	}
}
