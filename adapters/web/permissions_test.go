package web_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/permtest"
	"github.com/framework-m/framework-m/ports"
)

func asPrincipal(app *fmtest.App, p permtest.Principal) *fmtest.Client {
	return app.As(&ports.UserContext{ID: p.ID, Roles: p.Roles, Attributes: p.Attrs})
}

// seedInvoices stores permtest's documents with their owners.
func seedInvoices(t *testing.T, app *fmtest.App) {
	t.Helper()
	ctx := app.SystemContext(context.Background(), "")
	for _, d := range permtest.Docs {
		doc := *d
		doc.TenantID, doc.Version = "", 0
		require.NoError(t, app.Repository.Create(ctx, "Invoice", &doc))
	}
}

// TestPermissionMatrixOverHTTP drives permtest's decision table through the
// resource API: read → GET, write → PATCH, delete → DELETE, and lists return
// exactly the permitted rows, with totals counting only those.
func TestPermissionMatrixOverHTTP(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			app := fmtest.New(t, d, frameworkm.WithDocType[permtest.Invoice](permtest.InvoiceMeta))
			seedInvoices(t, app)
			for _, c := range permtest.Cases {
				if c.Doc == nil || c.Action == ports.ActionCreate || c.Action == ports.ActionSubmit || c.Action == ports.ActionAmend {
					continue
				}
				cl := asPrincipal(app, c.Who)
				path := "/api/v1/resource/Invoice/" + c.Doc.Name
				readable := containsDoc(c.Who, c.Doc)
				var status int
				switch c.Action {
				case ports.ActionRead:
					status = cl.Get(path).Status
				case ports.ActionWrite:
					// A no-op patch: a permitted write succeeds and changes nothing.
					status = cl.Patch(path, map[string]any{"customer": c.Doc.Customer}).Status
				case ports.ActionDelete:
					status = cl.Delete(path).Status
					if status == http.StatusOK { // put it back for the next cases
						seedOne(t, app, c.Doc)
					}
				}
				want := http.StatusOK
				if !c.Want {
					want = http.StatusForbidden
					if !readable {
						want = http.StatusNotFound // no existence leak
					}
				}
				assert.Equal(t, want, status, "%s", c)
			}
			for _, v := range permtest.Visible {
				cl := asPrincipal(app, v.Who)
				res := cl.Get("/api/v1/resource/Invoice?limit=100")
				if v.Docs == nil {
					assert.Equal(t, http.StatusForbidden, res.Status, v.Who.ID)
					continue
				}
				list, total := res.RequireStatus(t, http.StatusOK).List(t)
				assert.Equal(t, len(v.Docs), total, "%s: total counts only permitted rows", v.Who.ID)
				var got, want []string
				for _, r := range list {
					got = append(got, r["name"].(string))
				}
				for _, d := range v.Docs {
					want = append(want, d.Name)
				}
				assert.ElementsMatch(t, want, got, v.Who.ID)
			}
		})
	}
}

func containsDoc(p permtest.Principal, d *permtest.Invoice) bool {
	for _, v := range permtest.Visible {
		if v.Who.ID == p.ID && slices.Equal(v.Who.Roles, p.Roles) {
			return slices.ContainsFunc(v.Docs, func(x *permtest.Invoice) bool { return x.Name == d.Name })
		}
	}
	return false
}

func seedOne(t *testing.T, app *fmtest.App, d *permtest.Invoice) {
	t.Helper()
	doc := *d
	doc.TenantID, doc.Version = "", 0
	require.NoError(t, app.Repository.Create(app.SystemContext(context.Background(), ""), "Invoice", &doc))
}

func TestCreateFollowsOwnership(t *testing.T) {
	app := fmtest.New(t, fmtest.SQLite, frameworkm.WithDocType[permtest.Invoice](permtest.InvoiceMeta))
	ann := asPrincipal(app, permtest.Ann)
	doc := ann.Post("/api/v1/resource/Invoice", map[string]any{"customer": "Mine", "department": "east"}).RequireStatus(t, http.StatusCreated).Data(t)
	assert.Equal(t, "ann", doc["owner"], "the creator owns the document")
	asPrincipal(app, permtest.Audrey).Post("/api/v1/resource/Invoice", map[string]any{"customer": "x"}).RequireStatus(t, http.StatusForbidden)
	asPrincipal(app, permtest.Sam).Post("/api/v1/resource/Invoice", map[string]any{"customer": "x", "department": "north"}).RequireStatus(t, http.StatusForbidden)
}

func TestCustomPermissionsApplyAtOnce(t *testing.T) {
	app := fmtest.New(t, fmtest.SQLite, frameworkm.WithDocType[permtest.Invoice](permtest.InvoiceMeta))
	seedInvoices(t, app)
	clerk := app.As(&ports.UserContext{ID: "carl", Roles: []string{"Clerk"}, Attributes: map[string]any{"department": "south"}})
	clerk.Get("/api/v1/resource/Invoice").RequireStatus(t, http.StatusForbidden)

	admin := app.As(fmtest.Admin())
	addRoles(t, app, "Clerk")
	e := admin.Post("/api/v1/resource/Custom%20Permission", map[string]any{"document_type": "Invoice", "role": "Clerk", "actions": []string{"fly"}}).RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields, "actions")
	admin.Post("/api/v1/resource/Custom%20Permission", map[string]any{"document_type": "Invoice", "role": "System", "actions": []string{"read"}}).RequireStatus(t, http.StatusBadRequest)
	app.As(fmtest.User("ann", "Accounts User")).Post("/api/v1/resource/Custom%20Permission", map[string]any{"document_type": "Invoice", "role": "Accounts User", "actions": []string{"delete"}}).RequireStatus(t, http.StatusForbidden)

	rule := admin.Post("/api/v1/resource/Custom%20Permission", map[string]any{
		"document_type": "Invoice", "role": "Clerk", "actions": []string{"read"},
		"conditions": []map[string]any{{"field": "department", "op": "=", "value": "$principal.department"}},
	}).RequireStatus(t, http.StatusCreated).Data(t)
	list, total := clerk.Get("/api/v1/resource/Invoice").RequireStatus(t, http.StatusOK).List(t)
	assert.Equal(t, 2, total, "the new rule applies without a restart: the south's invoices")
	for _, r := range list {
		assert.Equal(t, "south", r["department"])
	}
	clerk.Get("/api/v1/resource/Invoice/"+permtest.AnnNorth.Name).RequireStatus(t, http.StatusNotFound)
	clerk.Get("/api/v1/resource/Invoice/"+permtest.BobSouth.Name).RequireStatus(t, http.StatusOK)

	admin.Patch("/api/v1/resource/Custom%20Permission/"+rule["name"].(string), map[string]any{"enabled": false}).RequireStatus(t, http.StatusOK)
	clerk.Get("/api/v1/resource/Invoice").RequireStatus(t, http.StatusForbidden)
}

func TestAdminBypassCanBeTurnedOff(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Permissions.AdminBypass = false
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[permtest.Invoice](permtest.InvoiceMeta), frameworkm.WithDocType[Note](noteMeta))
	seedInvoices(t, app)
	admin := app.As(fmtest.Admin())
	admin.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusForbidden)            // no rule names Admin
	admin.Get("/api/v1/resource/Error%20Log").RequireStatus(t, http.StatusOK)            // a rule does
	admin.Delete("/api/v1/resource/Invoice/INV-1").RequireStatus(t, http.StatusNotFound) // nor may it read invoices
}

// TestCedarBackendOverHTTP selects the in-process Cedar evaluator in config:
// the same matrix holds through the resource API.
func TestCedarBackendOverHTTP(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Permissions.Backend = "cedar"
	cfg.SetSection("permissions.cedar", map[string]any{"policy_files": []string{"../permission/cedar/testdata/invoice.cedar"}})
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[permtest.Invoice](permtest.InvoiceMeta))
	seedInvoices(t, app)
	for _, v := range permtest.Visible {
		res := asPrincipal(app, v.Who).Get("/api/v1/resource/Invoice")
		if v.Docs == nil {
			assert.Equal(t, http.StatusForbidden, res.Status, v.Who.ID)
			continue
		}
		_, total := res.RequireStatus(t, http.StatusOK).List(t)
		assert.Equal(t, len(v.Docs), total, v.Who.ID)
	}
	asPrincipal(app, permtest.Sam).Get("/api/v1/resource/Invoice/"+permtest.BobSouth.Name).RequireStatus(t, http.StatusNotFound)
	asPrincipal(app, permtest.Sam).Get("/api/v1/resource/Invoice/"+permtest.BobNorth.Name).RequireStatus(t, http.StatusOK)
}

// TestCitadelBackendOverHTTP selects the OPA policy service in config and
// drives the row-level-security table through the resource API.
func TestCitadelBackendOverHTTP(t *testing.T) {
	opa := fmtest.SkipUnlessServer(t, "FM_TEST_OPA_URL", "OPA")
	policy, err := os.ReadFile("../permission/citadel/testdata/policy.rego")
	require.NoError(t, err)
	// A package of its own: other tests load the same policy into this OPA at
	// the same time, and one package cannot hold two copies of its rules.
	id := fmt.Sprintf("web_test_%d", time.Now().UnixNano())
	policy = bytes.Replace(policy, []byte("package framework.authz"), []byte("package framework."+id), 1)
	req, _ := http.NewRequest(http.MethodPut, opa+"/v1/policies/"+id, bytes.NewReader(policy))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, opa+"/v1/policies/"+id, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	})

	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Permissions.Backend = "citadel"
	cfg.SetSection("permissions.citadel", map[string]any{
		"format":     "opa",
		"endpoint":   opa + "/v1/data/framework/" + id,
		"timeout_ms": 2000,
	})
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[permtest.Invoice](permtest.InvoiceMeta))
	seedInvoices(t, app)
	for _, v := range permtest.Visible {
		res := asPrincipal(app, v.Who).Get("/api/v1/resource/Invoice")
		if v.Docs == nil {
			assert.Equal(t, http.StatusForbidden, res.Status, v.Who.ID)
			continue
		}
		_, total := res.RequireStatus(t, http.StatusOK).List(t)
		assert.Equal(t, len(v.Docs), total, v.Who.ID)
	}
	asPrincipal(app, permtest.Ann).Get("/api/v1/resource/Invoice/"+permtest.BobSouth.Name).RequireStatus(t, http.StatusNotFound)
	asPrincipal(app, permtest.Ann).Patch("/api/v1/resource/Invoice/"+permtest.AnnNorth.Name, map[string]any{"customer": "ACME 2"}).RequireStatus(t, http.StatusOK)
	asPrincipal(app, permtest.Ann).Delete("/api/v1/resource/Invoice/"+permtest.AnnNorth.Name).RequireStatus(t, http.StatusForbidden)
}

// TestCedarForbidOnFieldsHoldsInLists: a forbid policy on a document field
// cannot become a filter, so listed rows are checked one by one.
func TestCedarForbidOnFieldsHoldsInLists(t *testing.T) {
	dir := t.TempDir()
	base, err := os.ReadFile("../permission/cedar/testdata/invoice.cedar")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dir+"/invoice.cedar", base, 0o600))
	require.NoError(t, os.WriteFile(dir+"/embargo.cedar", []byte(`@id("embargo")
forbid (principal, action == Action::"Invoice:read", resource) when { resource has customer && resource.customer == "Initech" };
`), 0o600))
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Permissions.Backend = "cedar"
	cfg.SetSection("permissions.cedar", map[string]any{"policy_files": []string{dir}})
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[permtest.Invoice](permtest.InvoiceMeta))
	seedInvoices(t, app)
	sam := asPrincipal(app, permtest.Sam)
	list, _ := sam.Get("/api/v1/resource/Invoice").RequireStatus(t, http.StatusOK).List(t)
	require.Len(t, list, 1, "BobNorth (Initech) is forbidden")
	assert.Equal(t, permtest.AnnNorth.Name, list[0]["name"])
	sam.Get("/api/v1/resource/Invoice/"+permtest.BobNorth.Name).RequireStatus(t, http.StatusNotFound)
}
