package web_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/fmtest"
)

// statements records the SQL an app runs.
type statements struct {
	mu   sync.Mutex
	list []string
}

func recordStatements(t *testing.T, app *fmtest.App) *statements {
	t.Helper()
	s := &statements{}
	require.NoError(t, db.OnStatement(app.App.DB, "test:count", func(_ context.Context, sql string) {
		s.mu.Lock()
		s.list = append(s.list, sql)
		s.mu.Unlock()
	}))
	return s
}

// during returns the statements fn ran.
func (s *statements) during(fn func()) []string {
	s.mu.Lock()
	s.list = nil
	s.mu.Unlock()
	fn()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list
}

// credentialed returns, for ann, a client per credential kind: bearer token,
// API key and session cookie.
func credentialed(t *testing.T, app *fmtest.App) map[string]*fmtest.Client {
	t.Helper()
	bearer := app.Bearer(app.Login(t, annEmail, annPass))
	var key keyResp
	bearer.Post("/api/v1/auth/api-keys", map[string]any{"name": "k", "current_password": annPass}).RequireStatus(t, http.StatusCreated).JSON(t, &key)
	browser := app.Browser().UseCSRF()
	browser.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	return map[string]*fmtest.Client{"bearer": bearer, "api_key": keyClient(app, key.Data.Key), "session_cookie": browser}
}

// TestWarmGetRunsOneQuery: once warm, a GET of a document by bearer token,
// API key or session cookie asks the database one thing, the document;
// revocation, key, session, user, roles, permissions and settings come from
// memory.
func TestWarmGetRunsOneQuery(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			app := authApp(t, d, nil)
			app.CreateUser(t, annEmail, annPass, "Writer")
			clients := credentialed(t, app)
			doc := clients["bearer"].Post("/api/v1/resource/Note", map[string]any{"title": "cached"}).RequireStatus(t, http.StatusCreated).Data(t)
			path := "/api/v1/resource/Note/" + doc["name"].(string)
			stmts := recordStatements(t, app)
			// On PostgreSQL caches serve once the hub listens.
			require.Eventually(t, app.Changes.Synced, 10*time.Second, 5*time.Millisecond)
			for kind, c := range clients {
				c.Get(path).RequireStatus(t, http.StatusOK) // warm
				ran := stmts.during(func() { c.Get(path).RequireStatus(t, http.StatusOK) })
				require.Len(t, ran, 1, "%s: one statement, the document's; ran %q", kind, ran)
				assert.Contains(t, ran[0], "note", kind)
			}
		})
	}
}

// TestCachedCredentialsEndAtOnce: what the caches hold is forgotten as soon as
// it changes on this instance: a logged-out token, a revoked key, an ended
// session, a disabled user and a changed password fail on the next request.
func TestCachedCredentialsEndAtOnce(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			app := authApp(t, d, nil)
			ann := app.CreateUser(t, annEmail, annPass, "Writer")
			admin := app.As(fmtest.Admin())

			// Logout revokes the cached token.
			c := credentialed(t, app)
			for _, cl := range c {
				st, _ := me(t, cl)
				require.Equal(t, http.StatusOK, st)
			}
			c["bearer"].Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
			st, _ := me(t, c["bearer"])
			assert.Equal(t, http.StatusUnauthorized, st, "logged-out token")
			c["session_cookie"].Post("/api/v1/auth/logout", nil).RequireStatus(t, http.StatusOK)
			st, _ = me(t, c["session_cookie"])
			assert.Equal(t, http.StatusUnauthorized, st, "ended session")
			keyID := strings.SplitN(strings.TrimPrefix(c["api_key"].Header.Get("X-API-Key"), "fmk_"), "_", 2)[0]
			owner := app.Bearer(app.Login(t, annEmail, annPass))
			owner.Delete("/api/v1/auth/api-keys/"+keyID).RequireStatus(t, http.StatusOK)
			st, _ = me(t, c["api_key"])
			assert.Equal(t, http.StatusUnauthorized, st, "revoked key")

			// Disabling the user through the users API ends every credential.
			c = credentialed(t, app)
			for _, cl := range c {
				st, _ := me(t, cl)
				require.Equal(t, http.StatusOK, st)
			}
			admin.Post("/api/v1/users/"+ann.ID+"/disable", nil).RequireStatus(t, http.StatusOK)
			for kind, cl := range c {
				st, _ := me(t, cl)
				assert.Equal(t, http.StatusUnauthorized, st, "%s of a disabled user", kind)
			}
			admin.Post("/api/v1/users/"+ann.ID+"/enable", nil).RequireStatus(t, http.StatusOK)

			// A password change invalidates the tokens issued before.
			c = credentialed(t, app)
			st, _ = me(t, c["bearer"])
			require.Equal(t, http.StatusOK, st)
			c["bearer"].Post("/api/v1/auth/password", map[string]any{"current_password": annPass, "new_password": "another long passphrase"}).RequireStatus(t, http.StatusOK)
			st, _ = me(t, c["bearer"])
			assert.Equal(t, http.StatusUnauthorized, st, "token issued before the password change")
		})
	}
}
