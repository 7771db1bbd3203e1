package web_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
)

type keyResp struct {
	Data struct {
		ID        string     `json:"id"`
		Key       string     `json:"key"`
		Name      string     `json:"name"`
		Scopes    []string   `json:"scopes"`
		ExpiresAt *time.Time `json:"expires_at"`
	} `json:"data"`
}

func keyClient(app *fmtest.App, key string) *fmtest.Client {
	c := app.Anonymous()
	c.Header.Set("X-API-Key", key)
	return c
}

// splitKey parses key as fmk_<16-character lookup id>_<43-character base64url
// secret>. The secret's alphabet includes '_', so it is everything after the
// id's separator, never a field of strings.Split(key, "_").
func splitKey(t *testing.T, key string) (id, secret string) {
	t.Helper()
	rest, ok := strings.CutPrefix(key, "fmk_")
	require.True(t, ok, "key %q starts with fmk_", key)
	require.Greater(t, len(rest), 17, "key %q has an id and a secret", key)
	require.Equal(t, "_", rest[16:17], "key %q: '_' after the 16-character id", key)
	id, secret = rest[:16], rest[17:]
	require.NotContains(t, id, "_", "key %q: the id holds no '_'", key)
	require.Len(t, secret, 43, "key %q: 256 bits of secret", key)
	_, err := base64.RawURLEncoding.DecodeString(secret)
	require.NoError(t, err, "key %q: the secret is base64url", key)
	return id, secret
}

func TestAPIKeys(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	ann := app.CreateUser(t, annEmail, annPass, "Writer")
	app.CreateUser(t, "bob@example.com", "sturdy passphrase two")
	owner := app.Bearer(app.Login(t, annEmail, annPass))
	bob := app.Bearer(app.Login(t, "bob@example.com", "sturdy passphrase two"))

	var full, readOnly keyResp
	owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "full", "current_password": annPass}).RequireStatus(t, http.StatusCreated).JSON(t, &full)
	owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "reader", "scopes": []string{"read"}, "current_password": annPass}).RequireStatus(t, http.StatusCreated).JSON(t, &readOnly)
	assert.Equal(t, []string{"read"}, readOnly.Data.Scopes)
	fullID, fullSecret := splitKey(t, full.Data.Key)
	assert.Equal(t, full.Data.ID, fullID, "the key carries its record's id")
	readID, _ := splitKey(t, readOnly.Data.Key)
	assert.Equal(t, readOnly.Data.ID, readID)

	// A key acts as the user who made it.
	st, u := me(t, keyClient(app, full.Data.Key))
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, ann.ID, u.ID)
	assert.Equal(t, annEmail, u.Email)
	assert.Equal(t, "api_key", u.Method)

	// Minting a key needs the password again: a stolen token is not enough.
	e := owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "no-proof"}).RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields, "current_password")
	owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "wrong-proof", "current_password": "guess"}).RequireStatus(t, http.StatusBadRequest)
	// An unscoped key cannot mint keys without the password either.
	keyClient(app, full.Data.Key).Post("/api/v1/auth/api-keys", map[string]any{"name": "chain"}).RequireStatus(t, http.StatusBadRequest)

	// The list never shows keys or hashes.
	res := owner.Get("/api/v1/auth/api-keys").RequireStatus(t, http.StatusOK)
	assert.NotContains(t, string(res.Body), full.Data.Key)
	assert.NotContains(t, string(res.Body), fullSecret)
	assert.NotContains(t, strings.ToLower(string(res.Body)), "hash")
	var list struct {
		Data []map[string]any `json:"data"`
	}
	res.JSON(t, &list)
	assert.Len(t, list.Data, 2)
	_, total := bob.Get("/api/v1/auth/api-keys").List(t)
	assert.Zero(t, total)

	// Nor does the database: only a SHA-256.
	sys := app.SystemContext(context.Background(), "")
	stored, err := app.Repository.Get(sys, doctypes.APIKeyDocType, full.Data.ID)
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%+v", stored), fullSecret)
	assert.Equal(t, ann.ID, stored.(*doctypes.APIKey).UserID, "the key is stored as ann's")
	assert.Len(t, stored.(*doctypes.APIKey).KeyHash, 64)

	// Scopes limit the key.
	rc := keyClient(app, readOnly.Data.Key)
	rc.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
	rc.Post("/api/v1/resource/Note", map[string]any{"title": "x"}).RequireStatus(t, http.StatusForbidden)
	rc.Post("/api/v1/auth/api-keys", map[string]any{"name": "escalate"}).RequireStatus(t, http.StatusForbidden)
	keyClient(app, full.Data.Key).Post("/api/v1/resource/Note", map[string]any{"title": "x"}).RequireStatus(t, http.StatusCreated)

	// Another user cannot revoke it; the owner can, and then it fails.
	bob.Delete("/api/v1/auth/api-keys/"+full.Data.ID).RequireStatus(t, http.StatusNotFound)
	owner.Delete("/api/v1/auth/api-keys/"+full.Data.ID).RequireStatus(t, http.StatusOK)
	st, _ = me(t, keyClient(app, full.Data.Key))
	assert.Equal(t, http.StatusUnauthorized, st, "a revoked key is rejected")

	// Expired keys fail.
	var soon keyResp
	owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "short-lived", "expires_at": time.Now().Add(time.Hour), "current_password": annPass}).RequireStatus(t, http.StatusCreated).JSON(t, &soon)
	st, _ = me(t, keyClient(app, soon.Data.Key))
	require.Equal(t, http.StatusOK, st)
	doc, err := app.Repository.Get(sys, doctypes.APIKeyDocType, soon.Data.ID)
	require.NoError(t, err)
	past := time.Now().Add(-time.Minute)
	doc.(*doctypes.APIKey).ExpiresAt = &past
	require.NoError(t, app.Repository.Update(sys, doctypes.APIKeyDocType, doc))
	st, _ = me(t, keyClient(app, soon.Data.Key))
	assert.Equal(t, http.StatusUnauthorized, st, "an expired key is rejected")
	owner.Post("/api/v1/auth/api-keys", map[string]any{"name": "x", "expires_at": past, "current_password": annPass}).RequireStatus(t, http.StatusBadRequest)

	// A right prefix with a wrong secret fails.
	forged := "fmk_" + readOnly.Data.ID + "_" + strings.Repeat("A", 43)
	st, _ = me(t, keyClient(app, forged))
	assert.Equal(t, http.StatusUnauthorized, st)

	// Last use is recorded in batches, not on every request.
	require.NoError(t, app.AuthService.APIKeys.Flush(context.Background()))
	doc, err = app.Repository.Get(sys, doctypes.APIKeyDocType, readOnly.Data.ID)
	require.NoError(t, err)
	assert.NotNil(t, doc.(*doctypes.APIKey).LastUsedAt)
}
