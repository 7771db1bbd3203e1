package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/web"
)

func TestHealthAndReady(t *testing.T) {
	app := newApp(t)
	c := app.Anonymous()
	res := c.Get("/healthz").RequireStatus(t, http.StatusOK)
	assert.JSONEq(t, `{"status":"ok"}`, string(res.Body))
	assert.NotEmpty(t, res.Header.Get(web.HeaderRequestID))
	ok := c.Get("/readyz").RequireStatus(t, http.StatusOK).Map(t)
	assert.Equal(t, map[string]any{"database": "ok"}, ok["checks"], "SQLite, no Redis, no hub")

	sqlDB, err := app.DB.DB()
	require.NoError(t, err)
	require.NoError(t, sqlDB.Close())
	res = c.Get("/readyz").RequireStatus(t, http.StatusServiceUnavailable)
	e := res.Err(t)
	assert.Equal(t, "unavailable", e.Error.Code)
	assert.Equal(t, "not ready: database unreachable", e.Error.Message)
	assert.Equal(t, map[string]any{"database": "down"}, res.Map(t)["checks"])
	assert.NotEmpty(t, e.RequestID)
	c.Get("/healthz").RequireStatus(t, http.StatusOK) // liveness does not depend on the database
}
