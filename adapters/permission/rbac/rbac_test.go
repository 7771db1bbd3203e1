package rbac_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/permission/rbac"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest/permtest"
	"github.com/framework-m/framework-m/ports"
)

type Invoice struct {
	doctype.Base
	Customer string `json:"customer"`
}

type Notice struct {
	doctype.Base
	Text string `json:"text"`
}

func registry(t testing.TB) *doctype.Registry {
	reg := doctype.NewRegistry()
	_, err := doctype.Register[Invoice](reg, doctype.Meta{Name: "Invoice", Permissions: []doctype.Rule{
		{Role: "Accounts User", Actions: doctype.Read | doctype.Create | doctype.Write, IfOwner: true},
		{Role: "Auditor", Actions: doctype.Read},
		{Role: "Accounts Manager", Actions: doctype.All},
	}})
	require.NoError(t, err)
	_, err = doctype.Register[Notice](reg, doctype.Meta{Name: "Notice", Permissions: []doctype.Rule{
		{Role: ports.RoleAll, Actions: doctype.Read},
	}})
	require.NoError(t, err)
	return reg
}

func TestDecisionTable(t *testing.T) {
	a := rbac.New(registry(t), rbac.Options{AdminRoles: []string{"Admin"}, AdminBypass: true})
	own := &Invoice{Base: doctype.Base{Name: "INV-1", Owner: "ann"}}
	other := &Invoice{Base: doctype.Base{Name: "INV-2", Owner: "bob"}}
	cases := []struct {
		who     string
		roles   []string
		doctype string
		action  ports.Action
		doc     any
		want    bool
	}{
		{"ann", []string{"Accounts User"}, "Invoice", ports.ActionRead, own, true},
		{"ann", []string{"Accounts User"}, "Invoice", ports.ActionRead, other, false},
		{"ann", []string{"Accounts User"}, "Invoice", ports.ActionWrite, own, true},
		{"ann", []string{"Accounts User"}, "Invoice", ports.ActionWrite, other, false},
		{"ann", []string{"Accounts User"}, "Invoice", ports.ActionDelete, own, false},
		{"ann", []string{"Accounts User"}, "Invoice", ports.ActionRead, nil, true},
		{"ann", []string{"Accounts User"}, "Invoice", ports.ActionCreate, nil, true},
		{"ann", []string{"Accounts User", "Auditor"}, "Invoice", ports.ActionRead, other, true},
		{"zed", []string{"Auditor"}, "Invoice", ports.ActionWrite, other, false},
		{"mia", []string{"Accounts Manager"}, "Invoice", ports.ActionDelete, other, true},
		{"mia", []string{"Accounts Manager"}, "Invoice", ports.ActionAmend, other, true},
		{"root", []string{"Admin"}, "Invoice", ports.ActionDelete, other, true},
		{"sys", []string{ports.RoleSystem}, "Invoice", ports.ActionDelete, other, true},
		{"nora", nil, "Invoice", ports.ActionRead, nil, false},
		{"nora", nil, "Notice", ports.ActionRead, nil, true},
		{"nora", nil, "Notice", ports.ActionWrite, nil, false},
		{"nora", nil, "Nope", ports.ActionRead, nil, false},
		{"", []string{"Admin"}, "Invoice", ports.ActionRead, nil, false},
	}
	for _, tc := range cases {
		res, err := a.Evaluate(context.Background(), ports.PolicyRequest{PrincipalID: tc.who, Roles: tc.roles, DocType: tc.doctype, Action: tc.action, Doc: tc.doc})
		require.NoError(t, err)
		assert.Equal(t, tc.want, res.Authorized, "%s %v %s %s %v: %s", tc.who, tc.roles, tc.action, tc.doctype, tc.doc, res.Reason)
		assert.Equal(t, ports.SourceRBAC, res.Source)
		assert.NotEmpty(t, res.Reason)
	}
}

func TestAdminRolesAreConfigurable(t *testing.T) {
	a := rbac.New(registry(t), rbac.Options{AdminRoles: []string{"Superuser"}, AdminBypass: true})
	res, _ := a.Evaluate(context.Background(), ports.PolicyRequest{PrincipalID: "x", Roles: []string{"Admin"}, DocType: "Invoice", Action: ports.ActionDelete})
	assert.False(t, res.Authorized, "Admin is not special unless configured")
	res, _ = a.Evaluate(context.Background(), ports.PolicyRequest{PrincipalID: "x", Roles: []string{"Superuser"}, DocType: "Invoice", Action: ports.ActionDelete})
	assert.True(t, res.Authorized)
}

func TestPermittedFilters(t *testing.T) {
	a := rbac.New(registry(t), rbac.Options{AdminRoles: []string{"Admin"}, AdminBypass: true})
	ctx := context.Background()
	f, err := a.PermittedFilters(ctx, &ports.UserContext{ID: "ann", Roles: []string{"Accounts User"}}, "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Equal(t, []ports.Filter{{Field: "owner", Op: ports.OpEq, Value: "ann"}}, f)

	f, err = a.PermittedFilters(ctx, &ports.UserContext{ID: "ann", Roles: []string{"Accounts User"}, Attributes: map[string]any{"roles": []any{"Auditor"}}}, "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Nil(t, f, "an unconditional grant (via attributes.roles) sees every row")

	f, err = a.PermittedFilters(ctx, &ports.UserContext{ID: "root", Roles: []string{"Admin"}}, "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Nil(t, f)

	_, err = a.PermittedFilters(ctx, &ports.UserContext{ID: "nora"}, "Invoice", ports.ActionRead)
	assert.ErrorIs(t, err, core.ErrForbidden)
	_, err = a.PermittedFilters(ctx, nil, "Invoice", ports.ActionRead)
	assert.ErrorIs(t, err, core.ErrForbidden)
}

func BenchmarkEvaluate(b *testing.B) {
	a := rbac.New(registry(b), rbac.Options{AdminRoles: []string{"Admin"}, AdminBypass: true})
	doc := &Invoice{Base: doctype.Base{Name: "INV-1", Owner: "ann"}}
	req := ports.PolicyRequest{PrincipalID: "ann", Roles: []string{"Employee", "Accounts User"}, DocType: "Invoice", Action: ports.ActionWrite, Doc: doc}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, _ := a.Evaluate(ctx, req)
		if !res.Authorized {
			b.Fatal("denied")
		}
	}
}

func TestContract(t *testing.T) {
	permtest.Run(t, func(*testing.T) ports.PermissionEvaluator {
		return rbac.New(permtest.Registry(), rbac.Options{AdminRoles: []string{"Admin"}, AdminBypass: true})
	})
}

// TestConditionShapesAgree: a list attribute compared with = grants no rows
// and no documents — the list filter and the document check agree.
func TestConditionShapesAgree(t *testing.T) {
	a := rbac.New(permtest.Registry(), rbac.Options{})
	rep := &ports.UserContext{ID: "x", Roles: []string{"Sales Rep"}, Attributes: map[string]any{"department": []any{"north", "south"}}}
	_, err := a.PermittedFilters(context.Background(), rep, "Invoice", ports.ActionRead)
	assert.ErrorIs(t, err, core.ErrForbidden)
	res, err := a.Evaluate(context.Background(), ports.PolicyRequest{PrincipalID: "x", Roles: rep.Roles, PrincipalAttributes: rep.Attributes, DocType: "Invoice", Action: ports.ActionRead, Doc: permtest.AnnNorth})
	require.NoError(t, err)
	assert.False(t, res.Authorized)
}
