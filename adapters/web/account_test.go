package web_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

func TestRightToErasureAndExport(t *testing.T) {
	for _, mode := range []string{"hard_delete", "anonymize"} {
		t.Run(mode, func(t *testing.T) {
			app := authApp(t, fmtest.SQLite, func(c *config.Config) { c.Auth.Deletion.Mode = mode })
			app.CreateUser(t, adminEmail, adminPass, "Admin")
			ann := app.CreateUser(t, annEmail, annPass, "Writer")
			token := app.Login(t, annEmail, annPass)
			c := app.Bearer(token)
			c.Post("/api/v1/resource/Note", map[string]any{"title": "ann's note"}).RequireStatus(t, http.StatusCreated)
			var key keyResp
			c.Post("/api/v1/auth/api-keys", map[string]any{"name": "k", "current_password": annPass}).RequireStatus(t, http.StatusCreated).JSON(t, &key)
			c.Patch("/api/v1/auth/me/preferences", map[string]any{"language": "de"}).RequireStatus(t, http.StatusOK)
			// An internal error while serving ann leaves an Error Log naming her.
			require.NoError(t, app.Errors.Record(context.Background(), ports.ErrorRecord{Title: "boom", Message: "secret internals", Traceback: "goroutine 1 [running]", UserID: ann.ID}))

			export := c.Get("/api/v1/auth/me/data").RequireStatus(t, http.StatusOK)
			assert.Contains(t, export.Header.Get("Content-Disposition"), "attachment")
			var data struct {
				User      map[string]any              `json:"user"`
				APIKeys   []map[string]any            `json:"api_keys"`
				Documents map[string][]map[string]any `json:"documents"`
			}
			export.JSON(t, &data)
			assert.Equal(t, ann.ID, data.User["id"])
			assert.Len(t, data.APIKeys, 1)
			require.Len(t, data.Documents["Note"], 1)
			assert.Equal(t, "ann's note", data.Documents["Note"][0]["title"])
			require.Len(t, data.Documents["Local User"], 1)
			assert.Equal(t, annEmail, data.Documents["Local User"][0]["email"])
			require.Len(t, data.Documents["User Preferences"], 1)
			body := string(export.Body)
			assert.NotContains(t, data.Documents, "Error Log", "error logs naming the user are not theirs to see")
			assert.NotContains(t, body, "goroutine")
			assert.NotContains(t, body, "argon2")
			assert.NotContains(t, body, key.Data.Key)
			assert.NotContains(t, body, "password_hash")

			c.Delete("/api/v1/auth/me").RequireStatus(t, http.StatusOK)
			st, _ := me(t, app.Bearer(token))
			assert.Equal(t, http.StatusUnauthorized, st, "the deleted user's token is dead")
			st, _ = me(t, keyClient(app, key.Data.Key))
			assert.Equal(t, http.StatusUnauthorized, st, "and so are their API keys")
			app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusUnauthorized)

			admin := app.Bearer(app.Login(t, adminEmail, adminPass))
			_, notes := admin.Get("/api/v1/resource/Note").List(t)
			assert.Equal(t, 1, notes, "business documents stay")
			_, prefs := admin.Get("/api/v1/resource/User%20Preferences").List(t)
			assert.Zero(t, prefs, "preferences are erased")
			_, keys := admin.Get("/api/v1/resource/API%20Key").List(t)
			assert.Zero(t, keys, "API keys are erased")
			res := admin.Get("/api/v1/resource/Local%20User/" + ann.ID)
			if mode == "hard_delete" {
				assert.Equal(t, http.StatusNotFound, res.Status)
			} else {
				require.Equal(t, http.StatusOK, res.Status)
				rec := res.Data(t)
				assert.Equal(t, "deleted-"+ann.ID+"@invalid", rec["email"])
				assert.Equal(t, "Deleted user", rec["display_name"])
				assert.Equal(t, false, rec["is_active"])
				assert.NotContains(t, string(res.Body), annEmail)
			}
		})
	}
}
