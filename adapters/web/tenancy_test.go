package web_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

func featureRoute(api *echo.Group) {
	api.GET("/test/features", func(c echo.Context) error {
		t := ports.TenantFrom(c.Request().Context())
		return c.JSON(http.StatusOK, map[string]any{"tenant": t.ID, "billing": t.HasFeature("billing"), "beta": t.HasFeature("beta"), "plan": t.Attributes["plan"]})
	})
}

func multiTenantAuthApp(t *testing.T, trusted string) *fmtest.App {
	t.Helper()
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Tenancy.Mode = "multi"
	cfg.Auth.TrustedProxies = []string{trusted}
	return fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta), frameworkm.WithRoutes(featureRoute))
}

func TestHeaderTenancy(t *testing.T) {
	app := multiTenantAuthApp(t, "127.0.0.1/32")
	anon := app.Anonymous()

	// Multi mode never falls back to the default tenant.
	e := anon.Get("/api/v1/settings").RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields, "X-Tenant-ID")
	anon.Tenant("bad tenant!").Get("/api/v1/settings").RequireStatus(t, http.StatusBadRequest)

	// Feature flags come from the gateway's header, no database read.
	c := app.Anonymous().Tenant("acme")
	c.Header.Set("X-Tenant-Attributes", `{"plan":"pro","features":["billing"]}`)
	var f map[string]any
	c.Get("/api/v1/test/features").RequireStatus(t, http.StatusOK).JSON(t, &f)
	assert.Equal(t, map[string]any{"tenant": "acme", "billing": true, "beta": false, "plan": "pro"}, f)
	c.Header.Set("X-Tenant-Attributes", `{"plan":`)
	e = c.Get("/api/v1/test/features").RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields, "X-Tenant-Attributes")

	// Users live in their tenant; credentials of tenant A do not work in tenant B.
	app.CreateUser(t, annEmail, annPass, "Writer", "tenant:acme")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	app.Anonymous().Tenant("acme").Post("/api/v1/auth/login", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK).JSON(t, &tok)
	app.Anonymous().Tenant("globex").Post("/api/v1/auth/login", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusUnauthorized)
	st, u := me(t, app.Bearer(tok.AccessToken).Tenant("acme"))
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "acme", u.TenantID)
	st, _ = me(t, app.Bearer(tok.AccessToken).Tenant("globex"))
	assert.Equal(t, http.StatusUnauthorized, st, "a token of tenant acme asking for globex is refused")
	var key keyResp
	app.Bearer(tok.AccessToken).Tenant("acme").Post("/api/v1/auth/api-keys", map[string]any{"name": "k", "current_password": annPass}).RequireStatus(t, http.StatusCreated).JSON(t, &key)
	st, _ = me(t, keyClient(app, key.Data.Key).Tenant("globex"))
	assert.Equal(t, http.StatusUnauthorized, st, "so is its API key")
	st, _ = me(t, keyClient(app, key.Data.Key).Tenant("acme"))
	assert.Equal(t, http.StatusOK, st)
	// A principal claiming another tenant than the request's is refused.
	app.As(fmtest.TenantUser("acme", "eve", "Writer")).Tenant("globex").Get("/api/v1/resource/Note").RequireStatus(t, http.StatusForbidden)
}

func TestSpoofedTenantHeaderFromUntrustedPeer(t *testing.T) {
	app := multiTenantAuthApp(t, "10.1.2.3/32") // the test client (127.0.0.1) is not the gateway
	c := app.Anonymous().Tenant("acme")
	c.Header.Set("X-Tenant-Attributes", `{"features":"*"}`)
	e := c.Get("/api/v1/test/features").RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields, "X-Tenant-ID", "the header was dropped, so no tenant")
}

func TestSingleModeIgnoresTenantHeaders(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Auth.TrustedProxies = []string{"127.0.0.1/32"}
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithRoutes(featureRoute))
	var f map[string]any
	app.Anonymous().Tenant("other").Get("/api/v1/test/features").RequireStatus(t, http.StatusOK).JSON(t, &f)
	assert.Equal(t, "default", f["tenant"], "single mode always runs in the default tenant")
}

// TestTenantIsolationEverywhere creates the same things in three tenants and
// checks each tenant sees exactly its own through every route.
func TestTenantIsolationEverywhere(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			cfg := fmtest.Config(t, d)
			fmtest.MultiTenant(&cfg)
			app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))
			tenants := []string{"t1", "t2", "t3"}
			notes := map[string][]string{}
			tokens := map[string]string{}
			for i, tn := range tenants {
				app.CreateUser(t, "boss@example.com", adminPass, "Admin", "Writer", "tenant:"+tn)
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				app.Anonymous().Tenant(tn).Post("/api/v1/auth/login", loginBody("boss@example.com", adminPass)).RequireStatus(t, http.StatusOK).JSON(t, &tok)
				tokens[tn] = tok.AccessToken
				c := app.Bearer(tok.AccessToken).Tenant(tn)
				for j := range i + 1 {
					n := c.Post("/api/v1/resource/Note", map[string]any{"title": fmt.Sprintf("%s-%d", tn, j)}).RequireStatus(t, http.StatusCreated).Data(t)
					notes[tn] = append(notes[tn], n["name"].(string))
				}
				c.Patch("/api/v1/settings", map[string]any{"app_name": "App of " + tn}).RequireStatus(t, http.StatusOK)
				c.Post("/api/v1/auth/api-keys", map[string]any{"name": "key of " + tn, "current_password": adminPass}).RequireStatus(t, http.StatusCreated)
			}
			for i, tn := range tenants {
				c := app.Bearer(tokens[tn]).Tenant(tn)
				list, total := c.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK).List(t)
				assert.Equal(t, i+1, total, tn)
				for _, n := range list {
					assert.Contains(t, notes[tn], n["name"], tn)
					assert.Equal(t, tn, n["tenant_id"])
				}
				for _, other := range tenants {
					if other == tn {
						continue
					}
					for _, name := range notes[other] {
						c.Get("/api/v1/resource/Note/"+name).RequireStatus(t, http.StatusNotFound)
						c.Patch("/api/v1/resource/Note/"+name, map[string]any{"title": "x"}).RequireStatus(t, http.StatusNotFound)
						c.Delete("/api/v1/resource/Note/"+name).RequireStatus(t, http.StatusNotFound)
					}
				}
				assert.Equal(t, "App of "+tn, c.Get("/api/v1/settings").Data(t)["app_name"])
				_, keys := c.Get("/api/v1/resource/API%20Key").List(t)
				assert.Equal(t, 1, keys, tn)
				_, users := c.Get("/api/v1/resource/Local%20User").List(t)
				assert.Equal(t, 1, users, tn)
				var my struct {
					Data []map[string]any `json:"data"`
				}
				c.Get("/api/v1/auth/api-keys").RequireStatus(t, http.StatusOK).JSON(t, &my)
				require.Len(t, my.Data, 1)
				assert.Equal(t, "key of "+tn, my.Data[0]["name"])
			}
		})
	}
}
