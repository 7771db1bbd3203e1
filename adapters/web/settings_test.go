package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/fmtest"
)

func TestSettingsAPI(t *testing.T) {
	app := newApp(t)
	anon := app.Anonymous()
	res := anon.Get("/api/v1/settings").RequireStatus(t, http.StatusOK)
	assert.Equal(t, "max-age=300", res.Header.Get("Cache-Control"))
	etag := res.Header.Get("ETag")
	require.NotEmpty(t, etag)
	s := res.Data(t)
	assert.Equal(t, "Framework M", s["app_name"])
	assert.Equal(t, "UTC", s["timezone"])
	assert.EqualValues(t, 1440, s["session_expiry"])
	assert.Equal(t, false, s["maintenance_mode"])

	anon.Header.Set("If-None-Match", etag)
	r304 := anon.Get("/api/v1/settings")
	assert.Equal(t, http.StatusNotModified, r304.Status)
	assert.Empty(t, r304.Body)
	anon.Header.Del("If-None-Match")

	anon.Patch("/api/v1/settings", map[string]any{"app_name": "X"}).RequireStatus(t, http.StatusUnauthorized)
	app.As(fmtest.User("ann", "Writer")).Patch("/api/v1/settings", map[string]any{"app_name": "X"}).RequireStatus(t, http.StatusForbidden)

	admin := app.As(fmtest.Admin())
	e := admin.Patch("/api/v1/settings", map[string]any{"timezone": "Mars/Olympus"}).RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields, "timezone")
	admin.Patch("/api/v1/settings", map[string]any{"secret": 1}).RequireStatus(t, http.StatusBadRequest)

	up := admin.Patch("/api/v1/settings", map[string]any{"app_name": "Acme ERP", "timezone": "Europe/Berlin"}).RequireStatus(t, http.StatusOK)
	assert.NotEqual(t, etag, up.Header.Get("ETag"))
	// The cache was invalidated: the next read shows the change at once.
	got := anon.Get("/api/v1/settings").RequireStatus(t, http.StatusOK)
	assert.Equal(t, "Acme ERP", got.Data(t)["app_name"])
	assert.Equal(t, up.Header.Get("ETag"), got.Header.Get("ETag"))
	anon.Header.Set("If-None-Match", etag)
	assert.Equal(t, http.StatusOK, anon.Get("/api/v1/settings").Status, "old ETag no longer matches")

	// The singleton through the resource API.
	user := app.As(fmtest.User("ann"))
	assert.Equal(t, "Acme ERP", user.Get("/api/v1/resource/System%20Settings/System%20Settings").RequireStatus(t, 200).Data(t)["app_name"])
	list, total := user.Get("/api/v1/resource/System%20Settings").RequireStatus(t, 200).List(t)
	assert.Equal(t, 1, total)
	assert.Len(t, list, 1)
	assert.Equal(t, "GET, PATCH", admin.Post("/api/v1/resource/System%20Settings", map[string]any{"app_name": "Y"}).RequireStatus(t, http.StatusMethodNotAllowed).Header.Get("Allow"))
	admin.Delete("/api/v1/resource/System%20Settings/System%20Settings").RequireStatus(t, http.StatusMethodNotAllowed)
	admin.Patch("/api/v1/resource/System%20Settings/System%20Settings", map[string]any{"language": "de"}).RequireStatus(t, 200)
	assert.Equal(t, "de", anon.Get("/api/v1/settings").Data(t)["language"], "resource API updates invalidate the cache too")
}

func TestSettingsPerTenant(t *testing.T) {
	app := multiApp(t)
	app.As(fmtest.TenantUser("t1", "root", "Admin")).Patch("/api/v1/settings", map[string]any{"app_name": "T1 app"}).RequireStatus(t, 200)
	assert.Equal(t, "T1 app", app.As(fmtest.TenantUser("t1", "u")).Get("/api/v1/settings").Data(t)["app_name"])
	assert.Equal(t, "Framework M", app.As(fmtest.TenantUser("t2", "u")).Get("/api/v1/settings").Data(t)["app_name"])
}
