// Package rbac is the role-based permission evaluator: DocType rules
// (Meta.Permissions) grant roles actions, optionally only on documents the
// principal owns; admin roles bypass the rules.
package rbac

import (
	"context"
	"slices"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Adapter evaluates DocType rules.
type Adapter struct {
	reg        *doctype.Registry
	adminRoles []string
}

// New returns an evaluator over the DocTypes of reg. Principals holding any of
// adminRoles (or the System role) may do everything.
func New(reg *doctype.Registry, adminRoles []string) *Adapter {
	return &Adapter{reg: reg, adminRoles: slices.Clone(adminRoles)}
}

func (a *Adapter) isAdmin(roles []string) bool {
	for _, r := range roles {
		if r == ports.RoleSystem || slices.Contains(a.adminRoles, r) {
			return true
		}
	}
	return false
}

// grant is what the rules give a principal for one action.
type grant int

const (
	none      grant = iota
	ownOnly         // only documents the principal owns
	unlimited       // every document
)

func (a *Adapter) grantFor(dt *doctype.DocType, roles []string, action ports.Action) grant {
	g := none
	for _, r := range dt.Permissions {
		if !r.Actions.Has(action) || !(r.Role == ports.RoleAll || slices.Contains(roles, r.Role)) {
			continue
		}
		if !r.IfOwner {
			return unlimited
		}
		g = ownOnly
	}
	return g
}

// Evaluate decides one request.
func (a *Adapter) Evaluate(_ context.Context, req ports.PolicyRequest) (ports.PolicyResult, error) {
	res := ports.PolicyResult{Source: ports.SourceRBAC}
	if req.PrincipalID == "" {
		res.Reason = "no principal"
		return res, nil
	}
	if a.isAdmin(req.Roles) {
		res.Authorized, res.Reason = true, "admin role"
		return res, nil
	}
	dt, ok := a.reg.Get(req.DocType)
	if !ok {
		res.Reason = "unknown doctype " + req.DocType
		return res, nil
	}
	switch a.grantFor(dt, req.Roles, req.Action) {
	case unlimited:
		res.Authorized, res.Reason = true, "role rule"
	case ownOnly:
		if req.Doc == nil {
			// A DocType-level check (list, create without a document): allowed,
			// and PermittedFilters limits the rows to the principal's own.
			res.Authorized, res.Reason = true, "if_owner rule (rows limited to owner)"
			break
		}
		b, err := doctype.BaseOf(req.Doc)
		if err == nil && b.Owner == req.PrincipalID {
			res.Authorized, res.Reason = true, "if_owner rule"
		} else {
			res.Reason = "if_owner rule: not the owner"
		}
	default:
		res.Reason = "no rule grants " + string(req.Action) + " on " + dt.Name + " to roles [" + strings.Join(req.Roles, ", ") + "]"
	}
	return res, nil
}

// PermittedFilters limits lists to the principal's own documents when only
// if_owner rules grant the action; admins and unconditional grants see all rows.
func (a *Adapter) PermittedFilters(_ context.Context, u *ports.UserContext, doctypeName string, action ports.Action) ([]ports.Filter, error) {
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
	switch a.grantFor(dt, roles, action) {
	case unlimited:
		return nil, nil
	case ownOnly:
		return []ports.Filter{{Field: doctype.FieldOwner, Op: ports.OpEq, Value: u.ID}}, nil
	}
	return nil, core.ErrForbidden
}

var _ ports.PermissionEvaluator = (*Adapter)(nil)
