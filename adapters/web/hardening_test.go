package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
)

// Ledger has a decimal and a sized text field, for input-limit tests.
type Ledger struct {
	doctype.Base
	Code   string          `json:"code" gorm:"size:8"`
	Amount doctype.Decimal `json:"amount"`
}

var ledgerMeta = doctype.Meta{Name: "Ledger", Permissions: []doctype.Rule{{Role: "Writer", Actions: doctype.All}}}

func TestInputLimitsAnswer400(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			app := fmtest.New(t, d, frameworkm.WithDocType[Ledger](ledgerMeta))
			c := app.As(fmtest.User("w", "Writer"))
			cases := map[string]struct {
				body  string
				field string
			}{
				"huge decimal":      {`{"code":"a","amount":"0.` + strings.Repeat("1", 100_000) + `"}`, "amount"},
				"too many digits":   {`{"code":"a","amount":"123456789012345678901234567890123"}`, "amount"},
				"NUL in text":       {`{"code":"a\u0000b","amount":"1"}`, "code"},
				"longer than size":  {`{"code":"123456789","amount":"1"}`, "code"},
				"sized in runes ok": {`{"code":"ééééééé","amount":"1"}`, ""},
			}
			for name, tc := range cases {
				res := c.Post("/api/v1/resource/Ledger", tc.body)
				if tc.field == "" {
					assert.Equal(t, http.StatusCreated, res.Status, "%s: %s", name, res.Body)
					continue
				}
				require.Equal(t, http.StatusBadRequest, res.Status, "%s: %s", name, res.Body)
				assert.Contains(t, res.Err(t).Error.Fields, tc.field, name)
			}
			many := make([]string, 1001)
			for i := range many {
				many[i] = fmt.Sprintf("%q", fmt.Sprint(i))
			}
			res := c.Get("/api/v1/resource/Ledger?filters=" + url.QueryEscape(`[["code","in",[`+strings.Join(many, ",")+`]]]`))
			assert.Equal(t, http.StatusBadRequest, res.Status, "in lists are capped")
			res = c.Get("/api/v1/resource/Ledger/" + url.PathEscape("a\x00b"))
			assert.Equal(t, http.StatusNotFound, res.Status, "a name that cannot exist is simply not found")
			res = c.Get("/api/v1/resource/Ledger?filters=" + url.QueryEscape(`[["code","=","a\u0000"]]`))
			assert.Equal(t, http.StatusBadRequest, res.Status)

			// None of these were unexpected errors.
			_, logs := app.As(fmtest.Admin()).Get("/api/v1/resource/Error%20Log").List(t)
			assert.Zero(t, logs)
		})
	}
}

func TestBodyWithoutContentTypeRefused(t *testing.T) {
	app := newApp(t)
	req, _ := http.NewRequest("POST", app.URL+"/api/v1/resource/Note", strings.NewReader(`{"title":"x"}`))
	req.Header.Set(fmtest.HeaderUser, `{"id":"w","roles":["Writer"]}`)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnsupportedMediaType, res.StatusCode, "what fetch() sends cross-site without a preflight")
}

func TestErrorLogStaysWithTheOperator(t *testing.T) {
	app := multiApp(t)
	e := app.As(fmtest.TenantUser("customer", "c1", "Admin")).Get("/api/v1/test/panic").RequireStatus(t, http.StatusInternalServerError).Err(t)
	_, total := app.As(fmtest.TenantUser("customer", "boss", "Admin")).Get("/api/v1/resource/Error%20Log").RequireStatus(t, http.StatusOK).List(t)
	assert.Zero(t, total, "a customer tenant's admin never sees internal errors")
	logs, total := app.As(fmtest.TenantUser("default", "op", "Admin")).Get("/api/v1/resource/Error%20Log?filters=" + url.QueryEscape(fmt.Sprintf(`{"request_id":%q}`, e.RequestID))).List(t)
	require.Equal(t, 1, total, "the operator (default tenant) does")
	assert.Equal(t, "customer", logs[0]["context"].(map[string]any)["tenant_id"])
}

func TestSettingsIfMatchAndPrivacy(t *testing.T) {
	app := newApp(t)
	admin := app.As(fmtest.Admin())
	anon := app.Anonymous()
	res := anon.Get("/api/v1/settings").RequireStatus(t, http.StatusOK)
	assert.Equal(t, `"1"`, res.Header.Get("ETag"))
	for _, f := range []string{"owner", "modified_by", "tenant_id"} {
		assert.NotContains(t, res.Data(t), f, "public settings do not say who changed them")
	}
	admin.Header.Set("If-Match", `"7"`)
	admin.Patch("/api/v1/settings", map[string]any{"app_name": "Stale"}).RequireStatus(t, http.StatusConflict)
	admin.Header.Set("If-Match", res.Header.Get("ETag"))
	up := admin.Patch("/api/v1/settings", map[string]any{"app_name": "Fresh"}).RequireStatus(t, http.StatusOK)
	assert.Equal(t, `"2"`, up.Header.Get("ETag"))
	assert.Equal(t, "Fresh", anon.Get("/api/v1/settings").Data(t)["app_name"])
}

func TestMaintenanceHonoursConfiguredAdminRoles(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Permissions.AdminRoles = []string{"System Manager"}
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))
	boss := app.As(fmtest.User("boss", "System Manager"))
	boss.Patch("/api/v1/settings", map[string]any{"maintenance_mode": true}).RequireStatus(t, http.StatusOK)
	app.As(fmtest.User("w", "Writer")).Get("/api/v1/resource/Note").RequireStatus(t, http.StatusServiceUnavailable)
	boss.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
	boss.Patch("/api/v1/settings", map[string]any{"maintenance_mode": false}).RequireStatus(t, http.StatusOK)
	app.As(fmtest.User("w", "Writer")).Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
}

func TestRolledBackSettingsChangeLeavesNoTrace(t *testing.T) {
	app := newApp(t)
	ctx := app.SystemContext(context.Background(), "")
	_, err := app.Settings.Get(ctx) // warm the cache
	require.NoError(t, err)
	boom := errors.New("abort")
	err = app.Repository.InTx(ctx, func(ctx context.Context) error {
		if _, err := app.Settings.Update(ctx, []byte(`{"app_name":"ROLLED BACK"}`), nil); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, "Framework M", app.Anonymous().Get("/api/v1/settings").Data(t)["app_name"])
	snap, err := app.Settings.Get(ctx)
	require.NoError(t, err)
	assert.NotContains(t, string(snap.JSON), "ROLLED BACK")
}

func TestVersionlessPatchesUnderContention(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			app := fmtest.New(t, d, frameworkm.WithDocType[Ledger](ledgerMeta))
			c := app.As(fmtest.User("w", "Writer"))
			name := c.Post("/api/v1/resource/Ledger", map[string]any{"code": "c", "amount": "0"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
			const n = 12
			var wg sync.WaitGroup
			statuses := make(chan int, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses <- c.Patch("/api/v1/resource/Ledger/"+name, map[string]any{"amount": fmt.Sprint(i)}).Status
				}()
			}
			wg.Wait()
			close(statuses)
			ok := 0
			for st := range statuses {
				if st == http.StatusOK {
					ok++
				}
			}
			assert.Equal(t, n, ok, "a patch without a version applies to whatever is current")
			assert.EqualValues(t, n+1, c.Get("/api/v1/resource/Ledger/" + name).Data(t)["version"], "no update was lost")
		})
	}
}

func TestLocalUserRolesCannotIncludeSystem(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, adminEmail, adminPass, "Admin")
	ann := app.CreateUser(t, annEmail, annPass)
	admin := app.Bearer(app.Login(t, adminEmail, adminPass))
	admin.Patch("/api/v1/resource/Local%20User/"+ann.ID, map[string]any{"roles": []string{"System"}}).RequireStatus(t, http.StatusBadRequest)
	admin.Patch("/api/v1/resource/Local%20User/"+ann.ID, map[string]any{"attributes": map[string]any{"roles": []string{"System"}}}).RequireStatus(t, http.StatusBadRequest)
	admin.Patch("/api/v1/resource/Local%20User/"+ann.ID, map[string]any{"roles": []string{"Writer"}}).RequireStatus(t, http.StatusOK)
}

func TestRepeatedGatewayHeadersRefused(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Auth.Mode = "federated"
	cfg.Auth.Strategies = []string{"header"}
	fmtest.MultiTenant(&cfg)
	app := fmtest.NewWithConfig(t, cfg)
	for _, h := range []string{"X-User-ID", "X-Tenant-ID"} {
		req, _ := http.NewRequest(http.MethodGet, app.URL+"/api/v1/auth/me", nil)
		req.Header.Set("X-User-ID", "alice")
		req.Header.Set("X-Tenant-ID", "acme")
		req.Header.Add(h, "mallory") // a gateway that appended instead of replacing
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, h)
	}
	c := app.Anonymous().Tenant("acme")
	c.Header.Set("X-User-ID", "system")
	assert.Equal(t, http.StatusUnauthorized, c.Get("/api/v1/auth/me").Status, "the framework's own id is reserved")
}

func TestCustomPermissionValueShapes(t *testing.T) {
	app := newApp(t)
	admin := app.As(fmtest.Admin())
	addRoles(t, app, "Reader")
	for _, cond := range []map[string]any{
		{"field": "title", "op": "in", "value": "a,b"},
		{"field": "title", "op": "=", "value": []string{"a", "b"}},
		{"field": "title", "op": "=", "value": map[string]any{"x": 1}},
		{"field": "title", "op": "like", "value": "%a%"},
	} {
		admin.Post("/api/v1/resource/Custom%20Permission", map[string]any{
			"document_type": "Note", "role": "Reader", "actions": []string{"read"}, "conditions": []any{cond},
		}).RequireStatus(t, http.StatusBadRequest)
	}
	admin.Post("/api/v1/resource/Custom%20Permission", map[string]any{
		"document_type": "Note", "role": "Reader", "actions": []string{"read"},
		"conditions": []any{map[string]any{"field": "title", "op": "in", "value": []string{"a", "b"}}},
	}).RequireStatus(t, http.StatusCreated)
	app.As(fmtest.User("r", "Reader")).Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
}
