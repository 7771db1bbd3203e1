package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/permission/rbac"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/roles"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/permtest"
	"github.com/framework-m/framework-m/ports"
)

// rolesApp is an app with the permtest Invoice DocType. Without explain its
// permission backend is a policy service that cannot explain itself (the
// RBAC rules behind an opaque wrapper), as citadel or cedar.
func rolesApp(t *testing.T, cfg config.Config, explain bool) *fmtest.App {
	t.Helper()
	opts := []frameworkm.Option{frameworkm.WithDocType[permtest.Invoice](permtest.InvoiceMeta)}
	if !explain {
		cfg.Permissions.Backend = "opaque"
		opts = append(opts, frameworkm.WithPermissionBackend("opaque", frameworkm.Factory(func(d frameworkm.Deps) (ports.PermissionEvaluator, error) {
			return opaque{rbac.New(d.Registry, rbac.Options{AdminRoles: d.Config.Permissions.AdminRoles, AdminBypass: true})}, nil
		})))
	}
	return fmtest.NewWithConfig(t, cfg, opts...)
}

// opaque hides its evaluator's explanations, as a policy service would.
type opaque struct{ e ports.PermissionEvaluator }

func (o opaque) Evaluate(ctx context.Context, r ports.PolicyRequest) (ports.PolicyResult, error) {
	return o.e.Evaluate(ctx, r)
}

func (o opaque) PermittedFilters(ctx context.Context, u *ports.UserContext, dt string, a ports.Action) ([]ports.Filter, error) {
	return o.e.PermittedFilters(ctx, u, dt, a)
}

func rolePath(role string) string { return "/api/v1/roles/" + url.PathEscape(role) + "/permissions" }

// rolePermissions is the body of GET /roles/{role}/permissions.
type rolePermissions struct {
	Data struct {
		Role      string        `json:"role"`
		Disabled  bool          `json:"disabled"`
		DecidedBy string        `json:"decided_by"`
		Grants    []ports.Grant `json:"grants"`
	} `json:"data"`
}

func permissionsOf(t *testing.T, c *fmtest.Client, role string) rolePermissions {
	t.Helper()
	var out rolePermissions
	c.Get(rolePath(role)).RequireStatus(t, http.StatusOK).JSON(t, &out)
	return out
}

func TestRolesRoutesAreForAdmins(t *testing.T) {
	app := rolesApp(t, fmtest.Config(t, fmtest.SQLite), true)
	for _, path := range []string{"/api/v1/roles", rolePath("Accounts User"), rolePath("No Such Role")} {
		assert.Equal(t, http.StatusUnauthorized, app.Anonymous().Get(path).Status, path)
		assert.Equal(t, http.StatusForbidden, app.As(fmtest.User("ann", "Accounts User")).Get(path).Status, path)
	}
	admin := app.As(fmtest.Admin())
	admin.Get("/api/v1/roles").RequireStatus(t, http.StatusOK)
	assert.Equal(t, http.StatusNotFound, admin.Get(rolePath("No Such Role")).Status)
	// A configured admin role cannot be disabled (a disabled one would still
	// pass admin checks that read raw roles): its holders stay admins.
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Permissions.AdminRoles = []string{ports.RoleAdmin, roles.SystemManager}
	app = rolesApp(t, cfg, true)
	boss := app.As(fmtest.User("boss", roles.SystemManager))
	boss.Get("/api/v1/roles").RequireStatus(t, http.StatusOK)
	app.As(fmtest.Admin()).Post("/api/v1/resource/Role", map[string]any{"name": roles.SystemManager, "disabled": true}).RequireStatus(t, http.StatusBadRequest)
	assert.Equal(t, http.StatusOK, boss.Get("/api/v1/roles").Status)
}

func TestListRoles(t *testing.T) {
	app := rolesApp(t, fmtest.Config(t, fmtest.SQLite), true)
	admin := app.As(fmtest.Admin())
	res := admin.Post("/api/v1/resource/Role", map[string]any{"name": "Helpdesk", "description": "Answers tickets"}).RequireStatus(t, http.StatusCreated)
	assert.Equal(t, "Helpdesk", res.Data(t)["name"])
	admin.Post("/api/v1/resource/Role", map[string]any{"name": "Auditor", "disabled": true}).RequireStatus(t, http.StatusCreated)
	// Every signed-in user reads Role rows.
	app.As(fmtest.User("ann", "Accounts User")).Get("/api/v1/resource/Role/Helpdesk").RequireStatus(t, http.StatusOK)

	var body struct {
		Data []roles.RoleInfo `json:"data"`
	}
	admin.Get("/api/v1/roles").RequireStatus(t, http.StatusOK).JSON(t, &body)
	byName := map[string]roles.RoleInfo{}
	for _, r := range body.Data {
		byName[r.Name] = r
	}
	for _, name := range []string{"Admin", "System Manager", "All", "Guest", "System", "Accounts Manager", "Accounts User", "Sales Rep", "Auditor", "Helpdesk"} {
		assert.Contains(t, byName, name)
	}
	assert.Equal(t, roles.SourceDocType, byName["Accounts User"].Source)
	assert.Equal(t, roles.SourceCustom, byName["Helpdesk"].Source)
	assert.Equal(t, "Answers tickets", byName["Helpdesk"].Description)
	assert.True(t, byName["Auditor"].Disabled)
	assert.True(t, byName["System"].Reserved)
}

func TestRolePermissions(t *testing.T) {
	app := rolesApp(t, fmtest.Config(t, fmtest.SQLite), true)
	admin := app.As(fmtest.Admin())
	got := permissionsOf(t, admin, "Accounts User")
	assert.Equal(t, "Accounts User", got.Data.Role)
	assert.Equal(t, "rbac", got.Data.DecidedBy)
	assert.Equal(t, []ports.Grant{{DocType: "Invoice", Role: "Accounts User", Actions: []ports.Action{ports.ActionRead, ports.ActionWrite, ports.ActionCreate}, IfOwner: true, Source: ports.SourceRBAC, RuleID: "Invoice#1"}}, got.Data.Grants)

	admin.Post("/api/v1/resource/Role", map[string]any{"name": "Helpdesk"}).RequireStatus(t, http.StatusCreated)
	assert.Equal(t, []ports.Grant{}, permissionsOf(t, admin, "Helpdesk").Data.Grants)
	admin.Post("/api/v1/resource/Custom%20Permission", map[string]any{"document_type": "Invoice", "role": "Helpdesk", "actions": []string{"read"}}).RequireStatus(t, http.StatusCreated)
	grants := permissionsOf(t, admin, "Helpdesk").Data.Grants
	require.Len(t, grants, 1)
	assert.Equal(t, ports.SourceCustom, grants[0].Source)
	assert.Equal(t, "Invoice#custom0", grants[0].RuleID)
	assert.Equal(t, []ports.Action{ports.ActionRead}, grants[0].Actions)

	// A policy service decides per request: the route says so rather than guess.
	policy := rolesApp(t, fmtest.Config(t, fmtest.SQLite), false)
	res := policy.As(fmtest.Admin()).Get(rolePath("Accounts User")).RequireStatus(t, http.StatusOK)
	assert.JSONEq(t, `{"data": {"role": "Accounts User", "disabled": false, "decided_by": "policy service", "grants": null}}`, string(res.Body))
}

func TestAssigningUnknownOrDisabledRoles(t *testing.T) {
	app := rolesApp(t, fmtest.Config(t, fmtest.SQLite), true)
	admin := app.As(fmtest.Admin())
	admin.Post("/api/v1/resource/Role", map[string]any{"name": "Old Role", "disabled": true}).RequireStatus(t, http.StatusCreated)
	for roleList, want := range map[string]string{
		"Acounts User": `unknown role "Acounts User"`,
		"Old Role":     `role "Old Role" is disabled`,
		"System":       `"System" cannot be given to a user`, // LocalUser.Validate, before the guard
	} {
		res := admin.Post("/api/v1/resource/local-user", map[string]any{"email": "ann@example.com", "roles": []string{roleList}})
		require.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)
		assert.Contains(t, res.Err(t).Error.Fields["roles"], want)
	}
	res := admin.Post("/api/v1/resource/local-user", map[string]any{"email": "ann@example.com", "roles": []string{"Accounts User"}}).RequireStatus(t, http.StatusCreated)
	id := res.Data(t)["name"].(string)
	res = admin.Patch("/api/v1/resource/local-user/"+id, map[string]any{"roles": []string{"Accounts User", "Helpdsk"}})
	require.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)
	assert.Equal(t, `unknown role "Helpdsk"`, res.Err(t).Error.Fields["roles"])

	res = admin.Post("/api/v1/resource/Custom%20Permission", map[string]any{"document_type": "Invoice", "role": "Old Role", "actions": []string{"read"}})
	require.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)
	assert.Equal(t, `role "Old Role" is disabled`, res.Err(t).Error.Fields["role"])

	res = admin.Post("/api/v1/resource/Role", map[string]any{"name": "System"})
	require.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)
	admin.Patch("/api/v1/resource/Role/Old%20Role", map[string]any{"disabled": false}).RequireStatus(t, http.StatusOK)
	admin.Patch("/api/v1/resource/local-user/"+id, map[string]any{"roles": []string{"Old Role"}}).RequireStatus(t, http.StatusOK)
}

func TestDisabledRoleStopsGrantingAtOnce(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) { testDisabledRoleStopsGranting(t, d) })
	}
}

func testDisabledRoleStopsGranting(t *testing.T, driver fmtest.Driver) {
	app := rolesApp(t, fmtest.Config(t, driver), true)
	admin := app.As(fmtest.Admin())
	audrey := app.As(fmtest.User("audrey", "Auditor"))
	audrey.Get("/api/v1/resource/Invoice").RequireStatus(t, http.StatusOK)
	admin.Post("/api/v1/resource/Role", map[string]any{"name": "Auditor", "disabled": true}).RequireStatus(t, http.StatusCreated)
	assert.Equal(t, http.StatusForbidden, audrey.Get("/api/v1/resource/Invoice").Status)
	assert.True(t, permissionsOf(t, admin, "Auditor").Data.Disabled)
	admin.Patch("/api/v1/resource/Role/Auditor", map[string]any{"disabled": false}).RequireStatus(t, http.StatusOK)
	audrey.Get("/api/v1/resource/Invoice").RequireStatus(t, http.StatusOK)
}

func TestDeletingARoleInUse(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) { testDeletingARoleInUse(t, d) })
	}
}

func testDeletingARoleInUse(t *testing.T, driver fmtest.Driver) {
	app := rolesApp(t, fmtest.Config(t, driver), true)
	admin := app.As(fmtest.Admin())
	admin.Post("/api/v1/resource/Role", map[string]any{"name": "Helpdesk"}).RequireStatus(t, http.StatusCreated)
	id := admin.Post("/api/v1/resource/local-user", map[string]any{"email": "hd@example.com", "roles": []string{"Helpdesk"}}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
	res := admin.Delete("/api/v1/resource/Role/Helpdesk")
	require.Equal(t, http.StatusConflict, res.Status, "%s", res.Body)
	assert.Contains(t, res.Err(t).Error.Message, `role "Helpdesk" is in use: Local User "`+id+`" (hd@example.com)`)
	admin.Patch("/api/v1/resource/local-user/"+id, map[string]any{"roles": []string{}}).RequireStatus(t, http.StatusOK)
	assert.Less(t, admin.Delete("/api/v1/resource/Role/Helpdesk").Status, 300)
	assert.Equal(t, http.StatusNotFound, admin.Get(rolePath("Helpdesk")).Status)
}

func TestRolesAreTenantScoped(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	fmtest.MultiTenant(&cfg)
	app := rolesApp(t, cfg, true)
	a := app.As(fmtest.TenantUser("acme", "root", ports.RoleAdmin))
	b := app.As(fmtest.TenantUser("globex", "root", ports.RoleAdmin))
	a.Post("/api/v1/resource/Role", map[string]any{"name": "Helpdesk"}).RequireStatus(t, http.StatusCreated)
	a.Get(rolePath("Helpdesk")).RequireStatus(t, http.StatusOK)
	assert.Equal(t, http.StatusNotFound, b.Get(rolePath("Helpdesk")).Status)
	res := b.Post("/api/v1/resource/local-user", map[string]any{"email": "x@example.com", "roles": []string{"Helpdesk"}})
	assert.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)
	// Roles from code exist in a tenant seen for the first time.
	app.As(fmtest.TenantUser("initech", "root", ports.RoleAdmin)).Get(rolePath("Sales Rep")).RequireStatus(t, http.StatusOK)
}

// TestExplanationAgreesWithRequests walks the Invoice roles × actions: an
// action is in the role's grants exactly when a holder of the role may do it
// on their own invoice of their department over HTTP.
func TestExplanationAgreesWithRequests(t *testing.T) {
	app := rolesApp(t, fmtest.Config(t, fmtest.SQLite), true)
	admin := app.As(fmtest.Admin())
	sys := app.SystemContext(context.Background(), "")
	for _, role := range []string{"Accounts Manager", "Accounts User", "Sales Rep", "Auditor", "Guest"} {
		granted := map[ports.Action]bool{}
		for _, g := range permissionsOf(t, admin, role).Data.Grants {
			for _, a := range g.Actions {
				granted[a] = true
			}
		}
		id := "user-of-" + role
		u := fmtest.User(id, role)
		u.Attributes = map[string]any{"department": "north"}
		c := app.As(u)
		own := &permtest.Invoice{Customer: "ACME", Department: "north"}
		own.Owner = id
		require.NoError(t, app.Repository.Create(sys, "Invoice", own))
		path := "/api/v1/resource/Invoice/" + own.Name
		allowed := map[ports.Action]bool{
			ports.ActionRead:   c.Get(path).Status == http.StatusOK,
			ports.ActionWrite:  c.Patch(path, map[string]any{"customer": "Initech"}).Status == http.StatusOK,
			ports.ActionCreate: c.Post("/api/v1/resource/Invoice", map[string]any{"customer": "Umbrella", "department": "north"}).Status == http.StatusCreated,
			ports.ActionDelete: c.Delete(path).Status < 300,
		}
		for action, ok := range allowed {
			assert.Equal(t, granted[action], ok, "%s %s", role, action)
		}
		assert.Equal(t, slices.Contains([]string{"Accounts Manager", "Accounts User"}, role), allowed[ports.ActionWrite], role)
	}
}

// An admin asks why a user can or cannot do something: the user's effective
// permissions on a DocType, rule by rule; others get 404 as for any user.
func TestUserPermissionsExplained(t *testing.T) {
	app := rolesApp(t, fmtest.Config(t, fmtest.SQLite), true)
	ann := app.CreateUser(t, "ann@example.com", "correct horse battery", "Accounts User")
	path := "/api/v1/users/" + ann.ID + "/permissions?doctype=Invoice"
	var got struct {
		Data struct {
			User      string            `json:"user"`
			DecidedBy string            `json:"decided_by"`
			Roles     []string          `json:"roles"`
			Explained ports.Explanation `json:"explanation"`
		} `json:"data"`
	}
	app.As(fmtest.Admin()).Get(path).RequireStatus(t, http.StatusOK).JSON(t, &got)
	assert.Equal(t, ann.ID, got.Data.User)
	assert.Equal(t, "rbac", got.Data.DecidedBy)
	assert.Equal(t, []string{"Accounts User"}, got.Data.Roles)
	assert.ElementsMatch(t, []ports.Action{ports.ActionRead, ports.ActionCreate, ports.ActionWrite}, got.Data.Explained.Actions)
	require.Len(t, got.Data.Explained.Grants, 1)
	assert.True(t, got.Data.Explained.Grants[0].IfOwner)
	assert.Equal(t, "Accounts User", got.Data.Explained.Grants[0].Role)

	app.As(fmtest.User("ann", "Accounts User")).Get(path).RequireStatus(t, http.StatusNotFound)
	app.As(fmtest.Admin()).Get("/api/v1/users/"+ann.ID+"/permissions").RequireStatus(t, http.StatusBadRequest)
	app.As(fmtest.Admin()).Get("/api/v1/users/"+ann.ID+"/permissions?doctype=Nope").RequireStatus(t, http.StatusNotFound)

	policy := rolesApp(t, fmtest.Config(t, fmtest.SQLite), false)
	bob := policy.CreateUser(t, "bob@example.com", "correct horse battery", "Accounts User")
	res := policy.As(fmtest.Admin()).Get("/api/v1/users/"+bob.ID+"/permissions?doctype=Invoice").RequireStatus(t, http.StatusOK).Data(t)
	assert.Equal(t, "policy service", res["decided_by"])
	assert.Nil(t, res["explanation"])
}

// A configured admin role cannot be disabled: a disabled admin role would
// still pass the admin checks that read a principal's roles, and could leave
// a tenant without a working admin.
func TestAdminRolesCannotBeDisabled(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Permissions.AdminRoles = []string{"Admin", "System Manager"}
	app := rolesApp(t, cfg, true)
	admin := app.As(fmtest.Admin())
	res := admin.Post("/api/v1/resource/Role", map[string]any{"name": "System Manager", "disabled": true})
	assert.Equal(t, http.StatusBadRequest, res.Status)
	assert.Contains(t, res.Err(t).Error.Fields["disabled"], "cannot be disabled")
	admin.Post("/api/v1/resource/Role", map[string]any{"name": "System Manager", "description": "kept enabled"}).RequireStatus(t, http.StatusCreated)
	admin.Patch("/api/v1/resource/Role/System%20Manager", map[string]any{"disabled": true}).RequireStatus(t, http.StatusBadRequest)
	app.As(fmtest.User("bob", "System Manager")).Get("/api/v1/users").RequireStatus(t, http.StatusOK)
}
