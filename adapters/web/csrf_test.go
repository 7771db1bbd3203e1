package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/fmtest"
)

func TestCSRFOnCookieSessions(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass, "Writer")
	b := app.Browser()
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	b.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK).JSON(t, &login)
	require.NotEmpty(t, login.CSRF)
	assert.Equal(t, login.CSRF, b.Cookie("csrf_token"))

	note := map[string]any{"title": "hello"}
	res := b.Post("/api/v1/resource/Note", note).RequireStatus(t, http.StatusForbidden)
	assert.Contains(t, res.Err(t).Error.Message, "CSRF")
	b.Header.Set("X-CSRF-Token", "wrong-token-value")
	b.Post("/api/v1/resource/Note", note).RequireStatus(t, http.StatusForbidden)
	b.Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusForbidden)
	b.Header.Del("X-CSRF-Token")
	b.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK) // safe methods need no token
	b.UseCSRF().Post("/api/v1/resource/Note", note).RequireStatus(t, http.StatusCreated)

	// Bearer requests are not cookie-borne: no CSRF token needed.
	app.Bearer(app.Login(t, annEmail, annPass)).Post("/api/v1/resource/Note", note).RequireStatus(t, http.StatusCreated)
}
