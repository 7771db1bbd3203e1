package rbac_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/permission/rbac"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest/permtest"
	"github.com/framework-m/framework-m/ports"
)

// rows is a RuleSource of fixed custom rules per tenant and DocType.
type rows map[string]map[string][]doctype.Rule

func (r rows) Rules(_ context.Context, tenant, dt string) ([]doctype.Rule, error) {
	return r[tenant][dt], nil
}

var (
	read  = ports.ActionRead
	write = ports.ActionWrite
	crt   = ports.ActionCreate
)

func explainer() *rbac.Adapter {
	return rbac.New(permtest.Registry(), rbac.Options{AdminRoles: []string{ports.RoleAdmin}, AdminBypass: true, Source: rows{
		"t1": {"Invoice": {
			{Role: "Auditor", Actions: doctype.Write, Where: []doctype.Condition{{Field: "department", Op: ports.OpEq, Value: "$principal.department"}}},
			{Role: ports.RoleAll, Actions: doctype.Read, IfOwner: true},
		}},
	}})
}

func tenant(id string) context.Context { return ports.WithTenantID(context.Background(), id) }

func TestRoleGrants(t *testing.T) {
	a := explainer()
	cases := []struct {
		tenant, role string
		want         []ports.Grant
	}{
		{"t1", "Accounts User", []ports.Grant{
			{DocType: "Invoice", Role: "Accounts User", Actions: []ports.Action{read, write, crt}, IfOwner: true, Source: ports.SourceRBAC, RuleID: "Invoice#1"},
		}},
		{"t1", "Auditor", []ports.Grant{
			{DocType: "Invoice", Role: "Auditor", Actions: []ports.Action{read}, Source: ports.SourceRBAC, RuleID: "Invoice#3"},
			{DocType: "Invoice", Role: "Auditor", Actions: []ports.Action{write}, Source: ports.SourceCustom, RuleID: "Invoice#custom0",
				Conditions: []ports.Filter{{Field: "department", Op: ports.OpEq, Value: "$principal.department"}}},
		}},
		{"t2", "Auditor", []ports.Grant{
			{DocType: "Invoice", Role: "Auditor", Actions: []ports.Action{read}, Source: ports.SourceRBAC, RuleID: "Invoice#3"},
		}},
		{"t1", "Sales Rep", []ports.Grant{
			{DocType: "Invoice", Role: "Sales Rep", Actions: []ports.Action{read}, Source: ports.SourceRBAC, RuleID: "Invoice#2",
				Conditions: []ports.Filter{{Field: "department", Op: ports.OpEq, Value: "$principal.department"}}},
		}},
		{"t1", ports.RoleAll, []ports.Grant{
			{DocType: "Invoice", Role: ports.RoleAll, Actions: []ports.Action{read}, IfOwner: true, Source: ports.SourceCustom, RuleID: "Invoice#custom1"},
		}},
		{"t1", "Nobody", []ports.Grant{}},
		{"t1", ports.RoleAdmin, []ports.Grant{
			{DocType: "Invoice", Role: ports.RoleAdmin, Actions: []ports.Action{read, write, crt, ports.ActionDelete, ports.ActionSubmit, ports.ActionCancel, ports.ActionAmend}, Source: ports.SourceRBAC, RuleID: rbac.AdminRuleID},
		}},
	}
	for _, tc := range cases {
		got, err := a.RoleGrants(tenant(tc.tenant), tc.role)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s %s", tc.tenant, tc.role)
	}
}

// TestRuleIDsAreEvaluatesPolicyIDs checks an explanation names the rule
// that Evaluate reports deciding.
func TestRuleIDsAreEvaluatesPolicyIDs(t *testing.T) {
	a := explainer()
	ctx := tenant("t1")
	for _, tc := range []struct {
		p      permtest.Principal
		action ports.Action
		doc    *permtest.Invoice
		ruleID string
	}{
		{permtest.Ann, write, permtest.AnnNorth, "Invoice#1"},
		{permtest.Audrey, read, permtest.BobSouth, "Invoice#3"},
		{permtest.Manager, ports.ActionDelete, permtest.BobSouth, "Invoice#0"},
		{permtest.Admin, ports.ActionDelete, permtest.BobSouth, rbac.AdminRuleID},
	} {
		res, err := a.Evaluate(ctx, ports.PolicyRequest{PrincipalID: tc.p.ID, Roles: tc.p.Roles, PrincipalAttributes: tc.p.Attrs, TenantID: "t1", DocType: "Invoice", Action: tc.action, Doc: tc.doc})
		require.NoError(t, err)
		require.True(t, res.Authorized)
		assert.Equal(t, tc.ruleID, res.PolicyID, "%s %s", tc.p.ID, tc.action)
	}
}

func TestExplain(t *testing.T) {
	a := explainer()
	ctx := tenant("t1")
	user := func(p permtest.Principal) *ports.UserContext {
		return &ports.UserContext{ID: p.ID, Roles: p.Roles, Attributes: p.Attrs}
	}
	ruleIDs := func(e ports.Explanation) []string {
		var out []string
		for _, g := range e.Grants {
			out = append(out, g.RuleID)
		}
		return out
	}
	cases := []struct {
		who     *ports.UserContext
		actions []ports.Action
		rules   []string
	}{
		{user(permtest.Ann), []ports.Action{read, write, crt}, []string{"Invoice#1", "Invoice#custom1"}},
		{user(permtest.Sam), []ports.Action{read}, []string{"Invoice#2", "Invoice#custom1"}},
		// Without a department attribute the Sales Rep rule gives nothing.
		{user(permtest.Stray), []ports.Action{read}, []string{"Invoice#custom1"}},
		{&ports.UserContext{ID: "aud", Roles: []string{"Auditor"}, Attributes: map[string]any{"department": "north"}}, []ports.Action{read, write}, []string{"Invoice#3", "Invoice#custom0", "Invoice#custom1"}},
		{user(permtest.Nobody), []ports.Action{read}, []string{"Invoice#custom1"}},
	}
	for _, tc := range cases {
		exp, err := a.Explain(ctx, tc.who, "invoice")
		require.NoError(t, err)
		assert.Equal(t, "Invoice", exp.DocType)
		assert.False(t, exp.Admin)
		assert.Equal(t, tc.actions, exp.Actions, tc.who.ID)
		assert.Equal(t, tc.rules, ruleIDs(exp), tc.who.ID)
	}

	exp, err := a.Explain(tenant("t2"), user(permtest.Nobody), "Invoice")
	require.NoError(t, err)
	assert.Equal(t, []ports.Action{}, exp.Actions)
	assert.Equal(t, []ports.Grant{}, exp.Grants)

	exp, err = a.Explain(ctx, user(permtest.Admin), "Invoice")
	require.NoError(t, err)
	assert.True(t, exp.Admin)
	assert.Len(t, exp.Actions, 7)

	_, err = a.Explain(ctx, user(permtest.Ann), "Nope")
	assert.ErrorIs(t, err, core.ErrNotFound)
}

// TestExplainAgreesWithEvaluate walks permtest's principals and actions: an
// action the explanation leaves out is refused at the DocType level, and
// one it lists is allowed there.
func TestExplainAgreesWithEvaluate(t *testing.T) {
	a := explainer()
	ctx := tenant("t2")
	for _, p := range []permtest.Principal{permtest.Admin, permtest.Manager, permtest.Ann, permtest.Sam, permtest.Stray, permtest.Audrey, permtest.Nobody} {
		exp, err := a.Explain(ctx, &ports.UserContext{ID: p.ID, Roles: p.Roles, Attributes: p.Attrs}, "Invoice")
		require.NoError(t, err)
		for _, action := range []ports.Action{read, write, crt, ports.ActionDelete, ports.ActionSubmit} {
			res, err := a.Evaluate(ctx, ports.PolicyRequest{PrincipalID: p.ID, Roles: p.Roles, PrincipalAttributes: p.Attrs, TenantID: "t2", DocType: "Invoice", Action: action})
			require.NoError(t, err)
			_, filterErr := a.PermittedFilters(ctx, &ports.UserContext{ID: p.ID, Roles: p.Roles, Attributes: p.Attrs}, "Invoice", action)
			granted := res.Authorized && filterErr == nil
			assert.Equal(t, granted, slices.Contains(exp.Actions, action), "%s %s", p.ID, action)
		}
	}
}
