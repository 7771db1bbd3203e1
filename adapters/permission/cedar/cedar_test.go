package cedar_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/permission/cedar"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest/permtest"
	"github.com/framework-m/framework-m/ports"
)

const invoicePolicies = "testdata/invoice.cedar"

func invoiceAdapter(t testing.TB, extra string) *cedar.Adapter {
	t.Helper()
	src, err := os.ReadFile(invoicePolicies)
	require.NoError(t, err)
	a, err := cedar.NewFromSource(permtest.Registry(), "invoice.cedar", append(src, extra...))
	require.NoError(t, err)
	return a
}

func ctx() context.Context { return ports.WithTenantID(context.Background(), "t") }

func TestContract(t *testing.T) {
	permtest.Run(t, func(t *testing.T) ports.PermissionEvaluator {
		a, err := cedar.New(permtest.Registry(), cedar.Config{PolicyFiles: []string{invoicePolicies}})
		require.NoError(t, err)
		return a
	})
}

func TestDecisionNamesPolicies(t *testing.T) {
	a := invoiceAdapter(t, "")
	res, err := a.Evaluate(ctx(), permtest.Case{Who: permtest.Ann, Action: ports.ActionRead, Doc: permtest.AnnNorth}.Request())
	require.NoError(t, err)
	assert.True(t, res.Authorized)
	assert.Equal(t, ports.SourceCustom, res.Source)
	assert.Equal(t, "accounts-user-own", res.PolicyID)
	assert.Equal(t, "permitted by accounts-user-own", res.Reason)

	res, err = a.Evaluate(ctx(), permtest.Case{Who: permtest.Ann, Action: ports.ActionRead, Doc: permtest.BobSouth}.Request())
	require.NoError(t, err)
	assert.False(t, res.Authorized)
	assert.Equal(t, "no policy permits", res.Reason)
	assert.Empty(t, res.PolicyID)

	// A DocType-level check passes on a conditional grant.
	res, err = a.Evaluate(ctx(), permtest.Case{Who: permtest.Ann, Action: ports.ActionCreate}.Request())
	require.NoError(t, err)
	assert.True(t, res.Authorized)
	assert.Equal(t, "accounts-user-own", res.PolicyID)
	assert.Contains(t, res.Reason, "conditional grant")

	// A Sales Rep without the department attribute holds no grant.
	res, err = a.Evaluate(ctx(), permtest.Case{Who: permtest.Stray, Action: ports.ActionRead}.Request())
	require.NoError(t, err)
	assert.False(t, res.Authorized)
	_, err = a.PermittedFilters(ctx(), permtest.Stray.UserContext(), "Invoice", ports.ActionRead)
	assert.ErrorIs(t, err, core.ErrForbidden)
}

func TestPermittedFiltersShape(t *testing.T) {
	a := invoiceAdapter(t, "")
	f, err := a.PermittedFilters(ctx(), permtest.Ann.UserContext(), "Invoice", ports.ActionWrite)
	require.NoError(t, err)
	assert.Equal(t, []ports.Filter{{Field: "owner", Op: ports.OpEq, Value: "ann"}}, f)

	f, err = a.PermittedFilters(ctx(), permtest.AnnAndRep.UserContext(), "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Equal(t, []ports.Filter{{Any: [][]ports.Filter{
		{{Field: "owner", Op: ports.OpEq, Value: "ann"}},
		{{Field: "department", Op: ports.OpEq, Value: "north"}},
	}}}, f)

	f, err = a.PermittedFilters(ctx(), permtest.Audrey.UserContext(), "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Nil(t, f)

	_, err = a.PermittedFilters(ctx(), permtest.Audrey.UserContext(), "Invoice", ports.ActionWrite)
	assert.ErrorIs(t, err, core.ErrForbidden)
	_, err = a.PermittedFilters(ctx(), nil, "Invoice", ports.ActionRead)
	assert.ErrorIs(t, err, core.ErrForbidden)
}

func TestForbidOverridesPermit(t *testing.T) {
	a := invoiceAdapter(t, `
@id("no-acme-deletes")
forbid (principal, action in Action::"delete", resource is Invoice)
when { resource.customer == "ACME" };

@id("no-south-for-reps")
forbid (principal in Role::"Sales Rep", action, resource is Invoice)
when { resource.department == "south" };

@id("mia-suspended-from-submit")
forbid (principal == User::"mia", action == Action::"Invoice:submit", resource);
`)
	res, err := a.Evaluate(ctx(), permtest.Case{Who: permtest.Manager, Action: ports.ActionDelete, Doc: permtest.AnnNorth}.Request())
	require.NoError(t, err)
	assert.False(t, res.Authorized)
	assert.Equal(t, "no-acme-deletes", res.PolicyID)
	assert.Equal(t, "forbidden by no-acme-deletes", res.Reason)

	res, err = a.Evaluate(ctx(), permtest.Case{Who: permtest.Manager, Action: ports.ActionDelete, Doc: permtest.BobSouth}.Request())
	require.NoError(t, err)
	assert.True(t, res.Authorized, res.Reason)

	// A forbid that fires on the DocType-level resource forbids the list.
	res, err = a.Evaluate(ctx(), permtest.Case{Who: permtest.Manager, Action: ports.ActionSubmit}.Request())
	require.NoError(t, err)
	assert.False(t, res.Authorized)
	assert.Equal(t, "mia-suspended-from-submit", res.PolicyID)
	_, err = a.PermittedFilters(ctx(), permtest.Manager.UserContext(), "Invoice", ports.ActionSubmit)
	assert.ErrorIs(t, err, core.ErrForbidden)

	// A forbid that fires on a probe kills that conditional grant only.
	res, err = a.Evaluate(ctx(), permtest.Case{Who: permtest.Sue, Action: ports.ActionRead, Doc: permtest.BobSouth}.Request())
	require.NoError(t, err)
	assert.False(t, res.Authorized)
	_, err = a.PermittedFilters(ctx(), permtest.Sue.UserContext(), "Invoice", ports.ActionRead)
	assert.ErrorIs(t, err, core.ErrForbidden)
	f, err := a.PermittedFilters(ctx(), permtest.Sam.UserContext(), "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Equal(t, []ports.Filter{{Field: "department", Op: ports.OpEq, Value: "north"}}, f)
}

func TestUnknownDocTypeDenies(t *testing.T) {
	a := invoiceAdapter(t, "")
	req := permtest.Case{Who: permtest.Admin, Action: ports.ActionRead}.Request()
	req.DocType = "Nope"
	res, err := a.Evaluate(ctx(), req)
	require.NoError(t, err)
	assert.False(t, res.Authorized)
	assert.Contains(t, res.Reason, "unknown doctype")
	_, err = a.PermittedFilters(ctx(), permtest.Admin.UserContext(), "Nope", ports.ActionRead)
	assert.ErrorIs(t, err, core.ErrForbidden)
}

func TestNoPrincipalDenies(t *testing.T) {
	a := invoiceAdapter(t, "")
	req := permtest.Case{Who: permtest.Admin, Action: ports.ActionRead, Doc: permtest.AnnNorth}.Request()
	req.PrincipalID = ""
	res, err := a.Evaluate(ctx(), req)
	require.NoError(t, err)
	assert.False(t, res.Authorized)
}

func TestSystemRoleAlwaysAllowed(t *testing.T) {
	a := invoiceAdapter(t, "")
	sys := ports.SystemUser
	res, err := a.Evaluate(ctx(), ports.PolicyRequest{PrincipalID: sys.ID, Roles: sys.Roles, TenantID: "t", DocType: "Invoice", Action: ports.ActionDelete, Doc: permtest.BobSouth})
	require.NoError(t, err)
	assert.True(t, res.Authorized)
	f, err := a.PermittedFilters(ctx(), &sys, "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Nil(t, f)
}

func TestWrongDocumentTypeIsAnError(t *testing.T) {
	a := invoiceAdapter(t, "")
	req := permtest.Case{Who: permtest.Admin, Action: ports.ActionRead}.Request()
	req.Doc = &struct{ doctype.Base }{}
	_, err := a.Evaluate(ctx(), req)
	assert.ErrorContains(t, err, "not a Invoice")
}

func TestParseErrorNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.cedar")
	bad := filepath.Join(dir, "bad.cedar")
	require.NoError(t, os.WriteFile(good, []byte(`permit (principal, action, resource);`), 0o600))
	require.NoError(t, os.WriteFile(bad, []byte("permit (principal, action, resource);\npermit (principal action resource);\n"), 0o600))
	_, err := cedar.New(permtest.Registry(), cedar.Config{PolicyFiles: []string{good, bad}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad)

	_, err = cedar.New(permtest.Registry(), cedar.Config{PolicyFiles: []string{filepath.Join(dir, "missing.cedar")}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.cedar")
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestDirectoryLoading(t *testing.T) {
	src, err := os.ReadFile(invoicePolicies)
	require.NoError(t, err)
	// Split the policies over two files; other files in the directory are ignored.
	text := string(src)
	cut := strings.Index(text, "// Accounts User")
	require.Positive(t, cut)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.cedar"), []byte(text[:cut]), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.cedar"), []byte(text[cut:]), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not cedar"), 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.cedar"), 0o700))

	a, err := cedar.New(permtest.Registry(), cedar.Config{PolicyFiles: []string{dir}})
	require.NoError(t, err)
	permtest.RunDecisions(t, a)
	permtest.RunRowSecurity(t, a)
}

func TestDefaultPolicyIDsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "all.cedar")
	require.NoError(t, os.WriteFile(path, []byte("forbid (principal, action, resource) when { false };\npermit (principal, action, resource);\n"), 0o600))
	a, err := cedar.New(permtest.Registry(), cedar.Config{PolicyFiles: []string{path}})
	require.NoError(t, err)
	res, err := a.Evaluate(ctx(), permtest.Case{Who: permtest.Nobody, Action: ports.ActionRead, Doc: permtest.AnnNorth}.Request())
	require.NoError(t, err)
	assert.True(t, res.Authorized)
	assert.Equal(t, path+":policy1", res.PolicyID)
}

func TestEmptyPolicySetIsAnError(t *testing.T) {
	_, err := cedar.NewFromSource(permtest.Registry(), "empty.cedar", []byte("// nothing here\n"))
	assert.ErrorContains(t, err, "no policies in empty.cedar")

	_, err = cedar.New(permtest.Registry(), cedar.Config{})
	assert.ErrorContains(t, err, "no policy files")

	quiet := slog.New(slog.DiscardHandler)
	_, err = cedar.New(permtest.Registry(), cedar.Config{PolicyFiles: []string{t.TempDir()}}, cedar.WithLogger(quiet))
	assert.ErrorContains(t, err, "no policies")
}

func TestBadAnnotations(t *testing.T) {
	cases := map[string]string{
		"rls on forbid":      `@rls("owner") forbid (principal, action, resource);`,
		"rls_attr no =":      `@rls_attr("department") permit (principal, action, resource);`,
		"rls_attr empty":     `@rls_attr("department=") permit (principal, action, resource);`,
		"rls empty entry":    `@rls("owner,") permit (principal, action, resource);`,
		"duplicate ids":      `@id("x") permit (principal, action, resource); @id("x") permit (principal, action, resource);`,
		"empty id":           `@id("") permit (principal, action, resource);`,
		"rls field w/ space": `@rls("the owner") permit (principal, action, resource);`,
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := cedar.NewFromSource(permtest.Registry(), "bad.cedar", []byte(src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "bad.cedar")
		})
	}
}

// SalesOrder exercises the attribute conversions of the entity model.
type SalesOrder struct {
	doctype.Base
	Amount  doctype.Decimal    `json:"amount"`
	Count   int                `json:"count"`
	Rate    float64            `json:"rate"`
	Paid    bool               `json:"paid"`
	Tags    doctype.StringList `json:"tags"`
	Due     time.Time          `json:"due"`
	Shipped *time.Time         `json:"shipped"`
	Secret  string             `json:"-"`
}

func TestEntityModel(t *testing.T) {
	reg := doctype.NewRegistry()
	doctype.MustRegister[SalesOrder](reg, doctype.Meta{Name: "Sales Order"})
	a, err := cedar.NewFromSource(reg, "orders.cedar", []byte(`
@id("typed")
permit (principal in Role::"Clerk", action in Action::"write", resource is SalesOrder)
when {
  resource.amount == "12.50" && resource.count == 3 && resource.rate == "0.5" &&
  resource.paid && resource.tags.contains("rush") &&
  resource.due == "2026-03-01T10:00:00Z" && !(resource has shipped) && !(resource has Secret) && !(resource has secret) &&
  resource.owner == principal.id && resource.name == "SO-1" &&
  resource.tenant_id == context.tenant_id &&
  principal.level == 5 && principal.active && principal.regions.contains("eu") &&
  principal.roles.contains("Clerk") && principal.id == "carl" &&
  principal.profile.team == "blue" && !(principal has nothing)
};

@id("exact-action")
permit (principal, action == Action::"Sales Order:read", resource == SalesOrder::"SO-1");
`))
	require.NoError(t, err)
	order := &SalesOrder{
		Base:   doctype.Base{Name: "SO-1", Owner: "carl"}, // tenant comes from the request
		Amount: doctype.MustDecimal("12.50"), Count: 3, Rate: 0.5, Paid: true,
		Tags: doctype.StringList{"rush", "fragile"}, Due: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		Secret: "s",
	}
	req := ports.PolicyRequest{
		PrincipalID: "carl", Roles: []string{"Clerk"}, TenantID: "t", DocType: "sales-order", Action: ports.ActionWrite, Doc: order,
		PrincipalAttributes: map[string]any{
			"level": float64(5), "active": true, "regions": []any{"eu", "us"},
			"profile": map[string]any{"team": "blue"}, "nothing": nil,
		},
	}
	res, err := a.Evaluate(ctx(), req)
	require.NoError(t, err)
	assert.True(t, res.Authorized, res.Reason)
	assert.Equal(t, "typed", res.PolicyID)

	req.TenantID = "other"
	order.TenantID = "t"
	res, err = a.Evaluate(ctx(), req)
	require.NoError(t, err)
	assert.False(t, res.Authorized, "the document's tenant differs from the request's")

	req.TenantID, req.Action, req.PrincipalID, req.Roles = "t", ports.ActionRead, "anyone", nil
	res, err = a.Evaluate(ctx(), req)
	require.NoError(t, err)
	assert.True(t, res.Authorized, res.Reason)
	assert.Equal(t, "exact-action", res.PolicyID)
}

func TestConcurrentEvaluate(t *testing.T) {
	a := invoiceAdapter(t, "")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, c := range permtest.Cases {
				res, err := a.Evaluate(ctx(), c.Request())
				if assert.NoError(t, err) {
					assert.Equal(t, c.Want, res.Authorized, c.String())
				}
			}
			_, _ = a.PermittedFilters(ctx(), permtest.AnnAndRep.UserContext(), "Invoice", ports.ActionRead)
		})
	}
	wg.Wait()
}

func BenchmarkCedarEvaluate(b *testing.B) {
	a := invoiceAdapter(b, "")
	req := permtest.Case{Who: permtest.Sam, Action: ports.ActionRead, Doc: permtest.BobNorth}.Request()
	c := ctx()
	b.ReportAllocs()
	for b.Loop() {
		res, err := a.Evaluate(c, req)
		if err != nil || !res.Authorized {
			b.Fatal(res, err)
		}
	}
}

func BenchmarkCedarPermittedFilters(b *testing.B) {
	a := invoiceAdapter(b, "")
	u := permtest.AnnAndRep.UserContext()
	c := ctx()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.PermittedFilters(c, u, "Invoice", ports.ActionRead); err != nil {
			b.Fatal(err)
		}
	}
}
