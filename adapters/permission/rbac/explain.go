package rbac

import (
	"context"
	"slices"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// AdminRuleID is the rule id of the admin bypass: the PolicyID of the
// decisions it makes and the RuleID of the grants that explain it.
const AdminRuleID = "admin"

// everyAction lists every document action, in the order explanations use.
var everyAction = []ports.Action{
	ports.ActionRead, ports.ActionWrite, ports.ActionCreate, ports.ActionDelete,
	ports.ActionSubmit, ports.ActionCancel, ports.ActionAmend,
}

// actionList returns the actions of set in everyAction's order.
func actionList(set doctype.Actions) []ports.Action {
	out := []ports.Action{}
	for _, a := range everyAction {
		if set.Has(a) {
			out = append(out, a)
		}
	}
	return out
}

// grant explains rule i of rules, the rules of dt (its own, then the custom ones).
func (a *Adapter) grant(dt *doctype.DocType, i int, r doctype.Rule) ports.Grant {
	g := ports.Grant{DocType: dt.Name, Role: r.Role, Actions: actionList(r.Actions), IfOwner: r.IfOwner,
		Source: ports.SourceRBAC, RuleID: a.ruleID(dt, i)}
	if i >= len(dt.Permissions) {
		g.Source = ports.SourceCustom
	}
	for _, c := range r.Where {
		v := c.Value
		if ref, ok := c.Ref(); ok {
			v = doctype.PrincipalPrefix + ref
		}
		g.Conditions = append(g.Conditions, ports.Filter{Field: c.Field, Op: c.Op, Value: v})
	}
	return g
}

// RoleGrants lists what role grants on every DocType, from the rules
// Evaluate enforces: the DocTypes' own and the Custom Permission rows of the
// tenant in ctx. Rules of ports.RoleAll are included only for RoleAll. An
// admin role (with the bypass on) and System grant every action on every
// DocType, one grant per DocType with rule id AdminRuleID.
func (a *Adapter) RoleGrants(ctx context.Context, role string) ([]ports.Grant, error) {
	tenant := ports.TenantIDFrom(ctx)
	admin := a.isAdmin([]string{role})
	out := []ports.Grant{}
	for _, dt := range a.reg.All() {
		if admin {
			out = append(out, ports.Grant{DocType: dt.Name, Role: role, Actions: slices.Clone(everyAction), Source: ports.SourceRBAC, RuleID: AdminRuleID})
			continue
		}
		rules, err := a.rules(ctx, dt, tenant)
		if err != nil {
			return nil, err
		}
		for i, r := range rules {
			if r.Role == role {
				out = append(out, a.grant(dt, i, r))
			}
		}
	}
	return out, nil
}

// Explain says what principal may do on doctype in the tenant of ctx: the
// rules that apply to its roles (ports.RoleAll's included) and give it
// something — a rule whose conditions refer to an attribute the principal
// lacks gives nothing, as in Evaluate — and the union of their actions.
// An admin is Admin with every action. An unknown doctype is core.ErrNotFound.
func (a *Adapter) Explain(ctx context.Context, u *ports.UserContext, doctypeName string) (ports.Explanation, error) {
	dt, ok := a.reg.Get(doctypeName)
	if !ok {
		return ports.Explanation{}, core.Publicf(core.ErrNotFound, "unknown doctype %q", doctypeName)
	}
	exp := ports.Explanation{DocType: dt.Name, Actions: []ports.Action{}, Grants: []ports.Grant{}}
	if u == nil {
		return exp, nil
	}
	roles := u.AllRoles()
	if a.isAdmin(roles) {
		exp.Admin, exp.Actions = true, slices.Clone(everyAction)
		return exp, nil
	}
	rules, err := a.rules(ctx, dt, ports.TenantIDFrom(ctx))
	if err != nil {
		return exp, err
	}
	p := principal{id: u.ID, attrs: u.Attributes}
	var set doctype.Actions
	for i, r := range rules {
		if (r.Role != ports.RoleAll && !slices.Contains(roles, r.Role)) || !p.resolvable(r.Where) {
			continue
		}
		set |= r.Actions
		exp.Grants = append(exp.Grants, a.grant(dt, i, r))
	}
	exp.Actions = actionList(set)
	return exp, nil
}

// resolvable reports whether every condition of where has a value (the
// principal's attribute, for a reference) of the shape its operator needs,
// as PermittedFilters requires; otherwise the rule matches no document.
func (p principal) resolvable(where []doctype.Condition) bool {
	for _, c := range where {
		if v, ok := p.resolve(c); !ok || !fits(c.Op, v) {
			return false
		}
	}
	return true
}

var _ ports.PermissionExplainer = (*Adapter)(nil)
