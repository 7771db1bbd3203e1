package web_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/hub/memory"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// TestNotificationsReachEveryInstance is the acceptance of the stream across
// instances: two instances sharing a database and a hub; a WebSocket client
// on B receives within a second a notification created through A's
// resource API; clients of another user or tenant receive nothing; ending
// the session on A closes the socket on B.
func TestNotificationsReachEveryInstance(t *testing.T) {
	variants := map[string]func(t *testing.T) config.Config{
		// LISTEN/NOTIFY, the default hub on PostgreSQL ([hub] auto, [notifications] hub "").
		"postgres+listen": func(t *testing.T) config.Config {
			cfg := notifyConfig(t, fmtest.Postgres)
			require.Equal(t, "auto", cfg.Hub.Backend)
			return cfg
		},
		// Redis pub/sub, with sessions in Redis.
		"postgres+redis": func(t *testing.T) config.Config {
			redisURL := fmtest.SkipUnlessServer(t, "FM_TEST_REDIS_URL", "Redis")
			cfg := notifyConfig(t, fmtest.Postgres)
			prefix := fmt.Sprintf("fmtest:n%d:", time.Now().UnixNano())
			cfg.Redis.URL = redisURL
			cfg.Hub.Backend = "redis"
			cfg.SetSection("hub.redis", map[string]any{"channel_prefix": prefix})
			cfg.Auth.Session.Backend = "redis"
			cfg.SetSection("auth.session.redis", map[string]any{"key_prefix": prefix + "s:"})
			return cfg
		},
		// [hub] on LISTEN/NOTIFY for caches, [notifications] hub on Redis.
		"postgres+notifications-on-redis": func(t *testing.T) config.Config {
			redisURL := fmtest.SkipUnlessServer(t, "FM_TEST_REDIS_URL", "Redis")
			cfg := notifyConfig(t, fmtest.Postgres)
			cfg.Redis.URL = redisURL
			cfg.Notifications.Hub = "redis"
			cfg.SetSection("hub.redis", map[string]any{"channel_prefix": fmt.Sprintf("fmtest:n%d:", time.Now().UnixNano())})
			return cfg
		},
	}
	for name, mk := range variants {
		t.Run(name, func(t *testing.T) {
			cfg := mk(t)
			fmtest.MultiTenant(&cfg)
			a, b := notifyApp(t, cfg), notifyApp(t, cfg)
			require.Eventually(t, func() bool {
				return a.Changes.Synced() && b.Changes.Synced() && a.Notifications.Synced() && b.Notifications.Synced()
			}, 10*time.Second, 5*time.Millisecond, "both instances hear the hubs")
			crossInstance(t, a, b)
		})
	}
}

// TestNotificationsInOneProcess: instances in one process sharing an
// in-process memory hub, on one SQLite file.
func TestNotificationsInOneProcess(t *testing.T) {
	cfg := notifyConfig(t, fmtest.SQLite)
	fmtest.MultiTenant(&cfg)
	cfg.Hub.Backend = "shared"
	h := memory.New()
	opt := frameworkm.WithHubBackend("shared", frameworkm.Factory(func(frameworkm.Deps) (ports.Hub, error) { return h, nil }))
	a, b := notifyApp(t, cfg, opt), notifyApp(t, cfg, opt)
	require.Eventually(t, func() bool { return a.Notifications.Synced() && b.Notifications.Synced() }, 5*time.Second, 5*time.Millisecond)
	crossInstance(t, a, b)
}

func crossInstance(t *testing.T, a, b *fmtest.App) {
	t.Helper()
	const tenant = "acme"
	ann := a.CreateUser(t, annEmail, annPass, "Writer", "tenant:"+tenant)
	other := a.CreateUser(t, "olga@example.com", annPass, "Writer", "tenant:"+tenant)
	// A browser session started on A, its stream on B.
	onA := a.Browser().UseCSRF().Tenant(tenant)
	onA.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	h := http.Header{"Cookie": {"session_id=" + onA.Cookie("session_id")}, "Origin": {b.URL}}
	h.Set(b.Config.Tenancy.TenantHeader, tenant)
	annOnB := dial(t, b, h, "")
	hA := h.Clone()
	hA.Set("Origin", a.URL) // B's page is another origin to A
	annOnA := dial(t, a, hA, "")
	otherTok := struct {
		AccessToken string `json:"access_token"`
	}{}
	a.Anonymous().Tenant(tenant).Post("/api/v1/auth/login", loginBody("olga@example.com", annPass)).RequireStatus(t, http.StatusOK).JSON(t, &otherTok)
	otherOnB := dial(t, b, http.Header{"Authorization": {"Bearer " + otherTok.AccessToken}, b.Config.Tenancy.TenantHeader: {tenant}}, "")
	// The same user id in another tenant.
	elsewhere := dial(t, b, asHeader(b, fmtest.TenantUser("globex", ann.ID)), "")
	require.Eventually(t, func() bool { return b.Notifications.Count() == 3 && a.Notifications.Count() == 1 }, 5*time.Second, 10*time.Millisecond)

	for i := range 3 {
		start := time.Now()
		doc := notifyUser(t, a, tenant, ann.ID, fmt.Sprintf("from A %d", i))
		m := annOnB.next(time.Second)
		assert.Less(t, time.Since(start), time.Second, "within a second")
		require.Equal(t, "notification", m["type"])
		assert.Equal(t, doc["name"], m["data"].(map[string]any)["name"])
		assert.Equal(t, fmt.Sprintf("from A %d", i), annOnA.subject(time.Second), "and on A, once")
	}
	// And the other way round, through Notify on B.
	_, err := b.Notifications.Notify(b.SystemContext(t.Context(), tenant), ann.ID, notifyNotification("from B"))
	require.NoError(t, err)
	assert.Equal(t, "from B", annOnA.subject(time.Second))
	assert.Equal(t, "from B", annOnB.subject(time.Second))
	// A notification too large for the hub travels as its id and is loaded on B.
	big := notifyNotification("large")
	big.Metadata = map[string]any{"blob": fmt.Sprintf("%08000d", 1)} // over ports.MaxHubPayload
	_, err = a.Notifications.Notify(a.SystemContext(t.Context(), tenant), ann.ID, big)
	require.NoError(t, err)
	assert.Equal(t, "large", annOnB.subject(time.Second))
	assert.Equal(t, "large", annOnA.subject(time.Second))

	otherOnB.quiet(300 * time.Millisecond)
	elsewhere.quiet(0)
	annOnB.quiet(0)
	notifyUser(t, a, tenant, other.ID, "olga's")
	assert.Equal(t, "olga's", otherOnB.subject(time.Second))

	// Ending the session on A closes its socket on B (and A).
	onA.Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
	assert.Equal(t, websocket.StatusCode(4001), annOnB.closedWith(5*time.Second))
	assert.Equal(t, websocket.StatusCode(4001), annOnA.closedWith(5*time.Second))
	otherOnB.quiet(0)
}
