// Package rbac is the role-based permission evaluator. DocType rules
// (Meta.Permissions) and Custom Permission rows grant roles actions — on every
// document, only on the principal's own (IfOwner, via Meta.RLSField), or only
// on documents matching attribute conditions (ABAC). Admin roles bypass the
// rules when configured to. For lists, the same rules become row-level
// security filters.
package rbac

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// RuleSource supplies extra rules per tenant and DocType (Custom Permission rows).
type RuleSource interface {
	Rules(ctx context.Context, tenant, doctype string) ([]doctype.Rule, error)
}

// Options configure the evaluator.
type Options struct {
	// AdminRoles may do everything when AdminBypass is on. The System role
	// (the framework itself) always may.
	AdminRoles  []string
	AdminBypass bool
	// Source adds rules from the database; nil means DocType rules only.
	Source RuleSource
}

// Adapter evaluates rules.
type Adapter struct {
	reg  *doctype.Registry
	opts Options
	ids  sync.Map // *doctype.DocType → []string rule ids
}

// New returns an evaluator over the DocTypes of reg.
func New(reg *doctype.Registry, opts Options) *Adapter {
	opts.AdminRoles = slices.Clone(opts.AdminRoles)
	return &Adapter{reg: reg, opts: opts}
}

func (a *Adapter) isAdmin(roles []string) bool {
	for _, r := range roles {
		if r == ports.RoleSystem || (a.opts.AdminBypass && slices.Contains(a.opts.AdminRoles, r)) {
			return true
		}
	}
	return false
}

// rules returns the DocType's own rules and the tenant's custom ones.
func (a *Adapter) rules(ctx context.Context, dt *doctype.DocType, tenant string) ([]doctype.Rule, error) {
	if a.opts.Source == nil {
		return dt.Permissions, nil
	}
	extra, err := a.opts.Source.Rules(ctx, tenant, dt.Name)
	if err != nil {
		return nil, fmt.Errorf("custom permissions: %w", err)
	}
	if len(extra) == 0 {
		return dt.Permissions, nil
	}
	return append(slices.Clip(dt.Permissions), extra...), nil
}

// applies reports whether rule r grants action to a principal with roles.
func applies(r doctype.Rule, roles []string, action ports.Action) bool {
	return r.Actions.Has(action) && (r.Role == ports.RoleAll || slices.Contains(roles, r.Role))
}

// Evaluate decides one request.
func (a *Adapter) Evaluate(ctx context.Context, req ports.PolicyRequest) (ports.PolicyResult, error) {
	res := ports.PolicyResult{Source: ports.SourceRBAC}
	if req.PrincipalID == "" {
		res.Reason = "no principal"
		return res, nil
	}
	if a.isAdmin(req.Roles) {
		res.Authorized, res.Reason, res.PolicyID = true, "admin role", AdminRuleID
		return res, nil
	}
	dt, ok := a.reg.Get(req.DocType)
	if !ok {
		res.Reason = "unknown doctype " + req.DocType
		return res, nil
	}
	rules, err := a.rules(ctx, dt, req.TenantID)
	if err != nil {
		return res, err
	}
	p := principal{id: req.PrincipalID, attrs: req.PrincipalAttributes}
	conditional := false
	for i, r := range rules {
		if !applies(r, req.Roles, req.Action) {
			continue
		}
		if !r.IfOwner && len(r.Where) == 0 {
			res.Authorized, res.Reason, res.PolicyID = true, "granted by role", a.ruleID(dt, i)
			return res, nil
		}
		if req.Doc == nil {
			// A DocType-level check (list, create form): a conditional grant
			// allows it, and PermittedFilters limits the rows.
			conditional = true
			continue
		}
		if r.IfOwner && !p.owns(dt, req.Doc) {
			continue
		}
		if !p.matches(dt, req.Doc, r.Where) {
			continue
		}
		res.Authorized, res.PolicyID = true, a.ruleID(dt, i)
		res.Reason = "granted by role on a matching document"
		if len(r.Where) > 0 {
			res.Source = ports.SourceABAC
		}
		return res, nil
	}
	if conditional {
		res.Authorized, res.Reason = true, "conditional grant: rows are filtered"
		return res, nil
	}
	res.Reason = "no rule grants " + string(req.Action) + " on " + dt.Name + " to roles [" + strings.Join(req.Roles, ", ") + "]"
	if req.Doc != nil {
		res.Reason = "no rule grants " + string(req.Action) + " on this " + dt.Name + " to roles [" + strings.Join(req.Roles, ", ") + "]"
	}
	return res, nil
}

// ruleID names rule i of dt: "Invoice#0" for its own rules, "Invoice#custom0"
// for database rules. Names of DocType rules are made once.
func (a *Adapter) ruleID(dt *doctype.DocType, i int) string {
	if i >= len(dt.Permissions) {
		return dt.Name + "#custom" + strconv.Itoa(i-len(dt.Permissions))
	}
	if ids, ok := a.ids.Load(dt); ok {
		return ids.([]string)[i]
	}
	ids := make([]string, len(dt.Permissions))
	for j := range ids {
		ids[j] = dt.Name + "#" + strconv.Itoa(j)
	}
	a.ids.Store(dt, ids)
	return ids[i]
}

// PermittedFilters turns the rules into row-level security: nil when a grant
// is unconditional (or the principal is an admin), one filter group per
// conditional grant otherwise (OR-ed), core.ErrForbidden when nothing grants.
func (a *Adapter) PermittedFilters(ctx context.Context, u *ports.UserContext, doctypeName string, action ports.Action) ([]ports.Filter, error) {
	if u == nil {
		return nil, core.ErrForbidden
	}
	roles := u.AllRoles()
	if a.isAdmin(roles) {
		return nil, nil
	}
	dt, ok := a.reg.Get(doctypeName)
	if !ok {
		return nil, core.ErrForbidden
	}
	rules, err := a.rules(ctx, dt, ports.TenantIDFrom(ctx))
	if err != nil {
		return nil, err
	}
	p := principal{id: u.ID, attrs: u.Attributes}
	var groups [][]ports.Filter
	for _, r := range rules {
		if !applies(r, roles, action) {
			continue
		}
		if !r.IfOwner && len(r.Where) == 0 {
			return nil, nil
		}
		var g []ports.Filter
		if r.IfOwner {
			g = append(g, ports.Filter{Field: dt.RLSField, Op: ports.OpEq, Value: u.ID})
		}
		ok := true
		for _, c := range r.Where {
			v, resolved := p.resolve(c)
			if !resolved || !fits(c.Op, v) {
				ok = false // the principal lacks the attribute, or it has the wrong shape: no rows
				break
			}
			g = append(g, ports.Filter{Field: c.Field, Op: c.Op, Value: v})
		}
		if ok {
			groups = append(groups, g)
		}
	}
	switch len(groups) {
	case 0:
		return nil, core.ErrForbidden
	case 1:
		return groups[0], nil
	}
	return []ports.Filter{{Any: groups}}, nil
}

// fits reports whether v suits op: a list for in / not in, a single value for
// = and != (a list there would become SQL IN and show rows a document check
// refuses).
func fits(op ports.Operator, v any) bool {
	switch v.(type) {
	case []any, []string, doctype.StringList:
		return op == ports.OpIn || op == ports.OpNotIn
	case map[string]any:
		return false
	}
	return op != ports.OpIn && op != ports.OpNotIn
}

// principal evaluates rule conditions for one principal.
type principal struct {
	id    string
	attrs map[string]any
}

func (p principal) attr(name string) (any, bool) {
	if name == "id" {
		return p.id, true
	}
	v, ok := p.attrs[name]
	return v, ok && v != nil
}

// resolve returns c's value, with a principal reference replaced.
func (p principal) resolve(c doctype.Condition) (any, bool) {
	if ref, ok := c.Ref(); ok {
		return p.attr(ref)
	}
	return c.Value, true
}

func (p principal) owns(dt *doctype.DocType, doc any) bool {
	if dt.RLSField == doctype.FieldOwner {
		b, err := doctype.BaseOf(doc)
		return err == nil && b.Owner == p.id
	}
	v, ok := dt.Get(doc, dt.RLSField)
	return ok && canon(v) == p.id
}

// matches reports whether doc satisfies every condition.
func (p principal) matches(dt *doctype.DocType, doc any, where []doctype.Condition) bool {
	for _, c := range where {
		field, ok := dt.Get(doc, c.Field)
		if !ok {
			return false
		}
		want, ok := p.resolve(c)
		if !ok || !fits(c.Op, want) {
			return false
		}
		have := canon(field)
		switch c.Op {
		case ports.OpEq:
			if have != canon(want) {
				return false
			}
		case ports.OpNe:
			if have == canon(want) {
				return false
			}
		case ports.OpIn, ports.OpNotIn:
			if contains(want, have) != (c.Op == ports.OpIn) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// canon writes scalar values one way, so a document's typed field compares
// with a JSON attribute: 5, 5.0 and "5" alike; times in RFC 3339 UTC.
func canon(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case fmt.Stringer:
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format(time.RFC3339Nano)
		}
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	}
	return fmt.Sprint(v)
}

func contains(list any, have string) bool {
	switch l := list.(type) {
	case []any:
		for _, x := range l {
			if canon(x) == have {
				return true
			}
		}
	case []string:
		return slices.Contains(l, have)
	case doctype.StringList:
		return slices.Contains(l, have)
	}
	return false
}

var _ ports.PermissionEvaluator = (*Adapter)(nil)
