package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/fmtest"
)

func TestSessionsAPI(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass)
	app.CreateUser(t, "bob@example.com", "sturdy passphrase two")
	one, two := app.Browser().UseCSRF(), app.Browser().UseCSRF()
	one.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	two.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	bob := app.Browser().UseCSRF()
	bob.Post("/api/v1/auth/login?session=true", loginBody("bob@example.com", "sturdy passphrase two")).RequireStatus(t, http.StatusOK)

	var list struct {
		Data []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
			UA      string `json:"user_agent"`
		} `json:"data"`
	}
	one.Get("/api/v1/auth/sessions").RequireStatus(t, http.StatusOK).JSON(t, &list)
	require.Len(t, list.Data, 2)
	var other string
	for _, s := range list.Data {
		assert.NotEqual(t, one.Cookie("session_id"), s.ID, "lists show handles, never the cookie secret")
		if !s.Current {
			other = s.ID
		}
	}
	require.NotEmpty(t, other)
	bob.Delete("/api/v1/auth/sessions/"+other).RequireStatus(t, http.StatusNotFound)
	one.Delete("/api/v1/auth/sessions/"+other).RequireStatus(t, http.StatusOK)
	st, _ := me(t, two)
	assert.Equal(t, http.StatusUnauthorized, st, "the revoked session is gone")
	st, _ = me(t, one)
	assert.Equal(t, http.StatusOK, st)
	one.Delete("/api/v1/auth/sessions/nope").RequireStatus(t, http.StatusNotFound)
	st, _ = me(t, bob)
	assert.Equal(t, http.StatusOK, st, "other users' sessions are untouched")
}
