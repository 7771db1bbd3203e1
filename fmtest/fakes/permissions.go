package fakes

import (
	"context"
	"slices"
	"sync"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Any matches every role, DocType or action in Permissions.Grant.
const Any = "*"

// Permissions is a ports.PermissionEvaluator whose decisions the test sets:
// a request is allowed when a grant matches it (Grant) or, failing that, when
// the decision function allows it; everything else is refused. It records the
// requests Evaluate decided.
//
// PermittedFilters refuses with core.ErrForbidden when the same decision
// refuses a request without a document (the list check); otherwise it
// returns the filters set with RowFilters for the DocType (nil: every row).
type Permissions struct {
	mu       sync.Mutex
	decide   func(req ports.PolicyRequest) bool
	grants   []grant
	filters  map[string][]ports.Filter
	requests []ports.PolicyRequest
}

type grant struct{ role, doctype, action string }

// AllowAll returns Permissions that allow every request.
func AllowAll() *Permissions {
	return PermissionFunc(func(ports.PolicyRequest) bool { return true })
}

// DenyAll returns Permissions that refuse every request not granted later
// with Grant.
func DenyAll() *Permissions { return PermissionFunc(nil) }

// PermissionFunc returns Permissions that decide with allow (nil refuses
// everything not granted).
func PermissionFunc(allow func(req ports.PolicyRequest) bool) *Permissions {
	return &Permissions{decide: allow, filters: map[string][]ports.Filter{}}
}

// Grant allows role (a role of the request's principal, or Any) the actions
// (each an action or Any) on doctype (or Any). It returns p for chaining.
func (p *Permissions) Grant(role, doctype string, actions ...ports.Action) *Permissions {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range actions {
		p.grants = append(p.grants, grant{role: role, doctype: doctype, action: string(a)})
	}
	return p
}

// RowFilters sets the filters PermittedFilters returns for doctype (row-level
// security); none means no restriction. It returns p for chaining.
func (p *Permissions) RowFilters(doctype string, filters ...ports.Filter) *Permissions {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.filters[doctype] = slices.Clone(filters)
	return p
}

// Requests returns the requests Evaluate decided, oldest first.
func (p *Permissions) Requests() []ports.PolicyRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// Evaluate decides req by the grants, then the decision function.
func (p *Permissions) Evaluate(_ context.Context, req ports.PolicyRequest) (ports.PolicyResult, error) {
	p.mu.Lock()
	p.requests = append(p.requests, req)
	p.mu.Unlock()
	ok, reason := p.allowed(req)
	return ports.PolicyResult{Authorized: ok, Source: ports.SourceCustom, Reason: reason, PolicyID: "fakes.Permissions"}, nil
}

// PermittedFilters returns the RowFilters of doctype when principal may do
// action on some document of it, else a core.ErrForbidden error.
func (p *Permissions) PermittedFilters(ctx context.Context, principal *ports.UserContext, doctype string, action ports.Action) ([]ports.Filter, error) {
	req := ports.PolicyRequest{TenantID: ports.TenantIDFrom(ctx), DocType: doctype, Action: action}
	if principal != nil {
		req.PrincipalID, req.PrincipalAttributes, req.Roles = principal.ID, principal.Attributes, principal.AllRoles()
	}
	if ok, reason := p.allowed(req); !ok {
		return nil, core.Publicf(core.ErrForbidden, "%s on %s: %s", action, doctype, reason)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.filters[doctype]), nil
}

func (p *Permissions) allowed(req ports.PolicyRequest) (bool, string) {
	p.mu.Lock()
	grants, decide := p.grants, p.decide
	p.mu.Unlock()
	for _, g := range grants {
		if (g.role == Any || slices.Contains(req.Roles, g.role)) &&
			(g.doctype == Any || g.doctype == req.DocType) &&
			(g.action == Any || g.action == string(req.Action)) {
			return true, "granted to role " + g.role
		}
	}
	if decide != nil && decide(req) {
		return true, "allowed by the test's decision function"
	}
	return false, "not granted"
}

var _ ports.PermissionEvaluator = (*Permissions)(nil)
