// Package cedar is an in-process permission evaluator that runs Cedar policy
// files (https://www.cedarpolicy.com) with github.com/cedar-policy/cedar-go, so
// the policies an enterprise keeps for its Cedar policy service decide here
// without a network hop.
//
// # Entity model
//
// This is the contract for policy authors: every request is turned into
// these entities before the policies run.
//
//   - principal: User::"<id>". Attributes: every principal attribute (strings;
//     integral numbers as Long, other numbers as strings; bools; lists as Sets;
//     objects as Records; null values are left out, so `principal has x` tests
//     presence), `roles` (a Set of the role names) and `id` (the user id).
//     Parents: Role::"<role>" for each role, so a policy can say
//     `principal in Role::"Accounts Manager"`.
//   - action: Action::"<DocType>:<action>", e.g. Action::"Invoice:read", whose
//     parent is Action::"<action>", so a policy can say `action in Action::"read"`
//     (for every DocType) or `action == Action::"Invoice:read"` (for one).
//   - resource, for a document: <EntityType>::"<name>", where EntityType is the
//     DocType name without spaces ("Sales Invoice" → SalesInvoice, so
//     `resource is SalesInvoice`). Attributes are the document's API fields by
//     JSON name (hidden fields are left out): strings; integral numbers as
//     Long, other numbers as strings; doctype.Decimal as its digits (a string);
//     times as RFC 3339 strings in UTC (zero times and nil pointers are left
//     out); lists as Sets; objects as Records; plus owner, name and tenant_id
//     (tenant_id is the request's tenant when the document has none yet).
//   - resource, for a DocType-level check (create without a document, list):
//     <EntityType>::"*" whose only attribute is tenant_id. A policy that reads
//     another resource attribute fails to evaluate there and so does not apply
//     (Cedar's semantics: an evaluation error skips the policy).
//   - context: {"tenant_id": "<tenant>"}.
//
// Policies are named by their @id("…") annotation, or "<file>:policy<n>" (n
// counting from 0 within the file). Evaluate reports the ids of the policies
// that determined the decision in PolicyResult.Reason, and the first of them in
// PolicyID; the decision source is always ports.SourceCustom.
//
// # Row-level security annotations
//
// Stable Cedar has no partial evaluation, so it cannot turn a conditional
// permit into a query filter by itself. A permit policy declares the filter it
// stands for with annotations instead:
//
//   - @rls("owner") — the policy permits the documents whose owner field equals
//     the principal's id.
//   - @rls_attr("department=department") — the policy permits the documents
//     whose department field equals the principal's department attribute.
//
// Several fields are separated by commas (@rls_attr("region=region, team=team"))
// and both annotations may be used on one policy; all such conditions must hold
// (AND). The annotations are a promise by the policy author: the filter must
// select exactly the documents the policy's `when` clause permits, e.g.
//
//	@rls("owner")
//	permit (principal in Role::"Accounts User", action in Action::"read", resource is Invoice)
//	when { resource.owner == principal.id };
//
// A DocType-level check (Evaluate without a document, and PermittedFilters)
// works like this:
//
//  1. The policies are evaluated with the attribute-less resource
//     <EntityType>::"*". Allowed: the grant is unconditional (Evaluate allows,
//     PermittedFilters returns nil — no filter).
//  2. Otherwise, for every annotated permit policy, a probe resource
//     <EntityType>::"*" is built whose annotated fields hold the principal's
//     values (and tenant_id the tenant), and that policy alone is evaluated on
//     it. If it permits, and no forbid policy fires on the same probe, the
//     policy is a conditional grant contributing the filter group
//     {field = value, …}. A principal lacking an annotated attribute, or an
//     annotated field the DocType does not have, makes the policy no grant.
//  3. No grant: Evaluate denies, PermittedFilters returns an error wrapping
//     core.ErrForbidden. One grant: Evaluate allows (the list is then
//     filtered) and PermittedFilters returns its filters. Several grants:
//     PermittedFilters returns one ports.Filter{Any: groups} (OR).
//
// Forbid policies that depend on document fields cannot be expressed as
// filters; when the policy set has any forbid policy, the adapter reports
// NeedsRowCheck and the resource service checks each listed document with
// Evaluate, dropping refused ones (the list's total then counts the rows the
// filters matched). Document-level decisions always run every policy.
//
// The System role (ports.RoleSystem, the framework acting for itself) is
// always allowed, as in the RBAC evaluator; every other principal, Admin
// included, is decided by the policies alone.
package cedar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/cedar-policy/cedar-go"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Entity types of the model.
const (
	// UserType is the principal's entity type.
	UserType cedar.EntityType = "User"
	// RoleType is the entity type of the principal's parents.
	RoleType cedar.EntityType = "Role"
	// ActionType is the entity type of actions.
	ActionType cedar.EntityType = "Action"
	// TypeLevelID is the resource id of a DocType-level check.
	TypeLevelID = "*"
)

// Option configures an Adapter.
type Option func(*Adapter)

// WithLogger sets the logger that receives policy evaluation errors (debug
// level) and load notices (default slog.Default()).
func WithLogger(log *slog.Logger) Option {
	return func(a *Adapter) {
		if log != nil {
			a.log = log
		}
	}
}

// Adapter evaluates Cedar policies. It is safe for concurrent use.
type Adapter struct {
	reg *doctype.Registry
	log *slog.Logger
	// all holds every policy in load order; forbids only the forbid policies;
	// grants the permit policies carrying row-level security annotations.
	all     policyList
	forbids policyList
	grants  []policy
	// actions caches the action entities by "<DocType>:<action>".
	actions sync.Map
}

// NeedsRowCheck reports whether lists need a document check per row: when any
// forbid policy exists, since forbids on document fields cannot become filters.
func (a *Adapter) NeedsRowCheck(string) bool { return len(a.forbids) > 0 }

// Config is the [permissions.cedar] section.
type Config struct {
	// PolicyFiles are .cedar files (or directories of them).
	PolicyFiles []string `toml:"policy_files"`
}

// DefaultConfig returns the documented defaults of [permissions.cedar].
func DefaultConfig() Config { return Config{PolicyFiles: []string{}} }

// Required checks what the backend needs once selected: a policy file.
func (c Config) Required() error {
	if len(c.PolicyFiles) == 0 {
		return core.Invalid("policy_files", `list the .cedar policy files (or directories) with backend = "cedar"`)
	}
	return nil
}

// Validate checks the values of a [permissions.cedar] table, selected or not.
func (c Config) Validate() error {
	verr := &core.ValidationError{}
	for i, f := range c.PolicyFiles {
		if strings.TrimSpace(f) == "" {
			verr.Add(fmt.Sprintf("policy_files[%d]", i), "must not be empty")
		}
	}
	return verr.Err()
}

// New loads the policy files of cfg (a path may be a directory: all of its
// *.cedar files, in name order) and returns an evaluator over the DocTypes of
// reg. A file that cannot be read or parsed, a malformed annotation, a
// duplicate policy id, or no policy at all is an error.
func New(reg *doctype.Registry, cfg Config, opts ...Option) (*Adapter, error) {
	if len(cfg.PolicyFiles) == 0 {
		return nil, errors.New("cedar: no policy files configured ([permissions.cedar] policy_files)")
	}
	a := newAdapter(reg, opts)
	srcs, err := a.readFiles(cfg.PolicyFiles)
	if err != nil {
		return nil, err
	}
	if err := a.load(srcs, cfg.PolicyFiles); err != nil {
		return nil, err
	}
	return a, nil
}

// NewFromSource returns an evaluator over the policies of src, named name in
// positions and default policy ids; for tests and embedded policies.
func NewFromSource(reg *doctype.Registry, name string, src []byte, opts ...Option) (*Adapter, error) {
	a := newAdapter(reg, opts)
	if err := a.load([]source{{name: name, text: src}}, []string{name}); err != nil {
		return nil, err
	}
	return a, nil
}

func newAdapter(reg *doctype.Registry, opts []Option) *Adapter {
	a := &Adapter{reg: reg, log: slog.Default()}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Evaluate decides one request with the policies. With a document, Cedar
// decides on the document's attributes; without one (create, list), a
// conditional grant declared by an @rls or @rls_attr annotation allows the
// check, and PermittedFilters limits the rows (see the package doc).
func (a *Adapter) Evaluate(ctx context.Context, req ports.PolicyRequest) (ports.PolicyResult, error) {
	res := ports.PolicyResult{Source: ports.SourceCustom}
	if req.PrincipalID == "" {
		res.Reason = "no principal"
		return res, nil
	}
	roles := allRoles(req.Roles, req.PrincipalAttributes)
	if slices.Contains(roles, ports.RoleSystem) {
		res.Authorized, res.Reason = true, "system principal"
		return res, nil
	}
	dt, ok := a.reg.Get(req.DocType)
	if !ok {
		res.Reason = "unknown doctype " + req.DocType
		return res, nil
	}
	p := principalEntity(req.PrincipalID, roles, req.PrincipalAttributes)
	act := a.action(dt, req.Action)
	if req.Doc != nil {
		r, err := documentEntity(dt, req.Doc, req.TenantID)
		if err != nil {
			return res, fmt.Errorf("cedar: %s %s: %w", req.Action, dt.Name, err)
		}
		dec, diag := a.authorize(ctx, a.all, p, act, r, req.TenantID)
		return decided(res, dec, diag), nil
	}
	dec, diag := a.authorize(ctx, a.all, p, act, typeEntity(dt, req.TenantID), req.TenantID)
	if dec == cedar.Allow {
		return decided(res, dec, diag), nil
	}
	if gs := a.conditionalGrants(ctx, dt, p, act, req.PrincipalID, req.PrincipalAttributes, req.TenantID); len(gs) > 0 {
		ids := make([]string, len(gs))
		for i, g := range gs {
			ids[i] = string(g.id)
		}
		res.Authorized, res.PolicyID = true, ids[0]
		res.Reason = "conditional grant by " + strings.Join(ids, ", ") + ": rows are filtered"
		return res, nil
	}
	return decided(res, dec, diag), nil
}

// PermittedFilters turns the policies into row-level security: nil when a
// policy permits the action on the DocType unconditionally, one filter group
// per conditional grant (@rls / @rls_attr) otherwise — OR-ed in one
// ports.Filter{Any: …} when there are several — and an error wrapping
// core.ErrForbidden when nothing grants it.
func (a *Adapter) PermittedFilters(ctx context.Context, u *ports.UserContext, doctypeName string, action ports.Action) ([]ports.Filter, error) {
	if u == nil || u.ID == "" {
		return nil, fmt.Errorf("cedar: no principal: %w", core.ErrForbidden)
	}
	roles := u.AllRoles()
	if slices.Contains(roles, ports.RoleSystem) {
		return nil, nil
	}
	dt, ok := a.reg.Get(doctypeName)
	if !ok {
		return nil, fmt.Errorf("cedar: unknown doctype %q: %w", doctypeName, core.ErrForbidden)
	}
	tenant := ports.TenantIDFrom(ctx)
	if tenant == "" {
		tenant = u.TenantID
	}
	p := principalEntity(u.ID, roles, u.Attributes)
	act := a.action(dt, action)
	dec, diag := a.authorize(ctx, a.all, p, act, typeEntity(dt, tenant), tenant)
	if dec == cedar.Allow {
		return nil, nil
	}
	gs := a.conditionalGrants(ctx, dt, p, act, u.ID, u.Attributes, tenant)
	switch len(gs) {
	case 0:
		return nil, fmt.Errorf("cedar: %s on %s: %s: %w", action, dt.Name, denyReason(diag), core.ErrForbidden)
	case 1:
		return gs[0].filters, nil
	}
	groups := make([][]ports.Filter, len(gs))
	for i, g := range gs {
		groups[i] = g.filters
	}
	return []ports.Filter{{Any: groups}}, nil
}

// action returns the cached action entity of dt and action.
func (a *Adapter) action(dt *doctype.DocType, action ports.Action) cedar.Entity {
	key := dt.Name + ":" + string(action)
	if e, ok := a.actions.Load(key); ok {
		return e.(cedar.Entity)
	}
	e := actionEntity(dt, action)
	a.actions.Store(key, e)
	return e
}

// grantMatch is a conditional grant that holds for one principal.
type grantMatch struct {
	id      cedar.PolicyID
	filters []ports.Filter
}

// conditionalGrants probes every annotated permit policy (see the package doc)
// and returns those that grant act to the principal, with their filters.
// Grants with the same filters are reported once.
func (a *Adapter) conditionalGrants(ctx context.Context, dt *doctype.DocType, p, act cedar.Entity, id string, attrs map[string]any, tenant string) []grantMatch {
	var out []grantMatch
	seen := map[string]bool{}
	for _, g := range a.grants {
		probe, filters, ok := a.probe(ctx, dt, g, id, attrs, tenant)
		if !ok {
			continue
		}
		if dec, _ := a.authorize(ctx, policyList{g}, p, act, probe, tenant); dec != cedar.Allow {
			continue
		}
		if _, diag := a.authorize(ctx, a.forbids, p, act, probe, tenant); len(diag.Reasons) > 0 {
			a.log.DebugContext(ctx, "cedar: conditional grant forbidden", "policy", g.id, "forbidden_by", policyIDs(diag.Reasons))
			continue
		}
		key := fmt.Sprint(filters)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, grantMatch{id: g.id, filters: filters})
	}
	return out
}

// probe builds the resource of a DocType-level check whose annotated fields
// hold the principal's values, and the filters they stand for. ok is false when
// the DocType lacks a field or the principal an attribute.
func (a *Adapter) probe(ctx context.Context, dt *doctype.DocType, g policy, id string, attrs map[string]any, tenant string) (cedar.Entity, []ports.Filter, bool) {
	rm := make(cedar.RecordMap, len(g.rls)+1)
	rm[doctype.FieldTenantID] = cedar.String(tenant)
	filters := make([]ports.Filter, 0, len(g.rls))
	for _, b := range g.rls {
		if _, ok := dt.VisibleField(b.field); !ok {
			a.log.DebugContext(ctx, "cedar: annotated field not in doctype", "policy", g.id, "doctype", dt.Name, "field", b.field)
			return cedar.Entity{}, nil, false
		}
		var raw any = id
		if b.attr != "id" {
			raw = attrs[b.attr]
		}
		if !scalar(raw) {
			return cedar.Entity{}, nil, false // absent, null or a list: this grant gives nothing
		}
		v, ok := toValue(raw)
		if !ok {
			return cedar.Entity{}, nil, false
		}
		rm[cedar.String(b.field)] = v
		filters = append(filters, ports.Filter{Field: b.field, Op: ports.OpEq, Value: raw})
	}
	return cedar.Entity{UID: cedar.NewEntityUID(resourceType(dt), TypeLevelID), Attributes: cedar.NewRecord(rm)}, filters, true
}

// authorize runs policies on one request and logs the policies that failed to
// evaluate (at debug level: on DocType-level checks that is expected).
func (a *Adapter) authorize(ctx context.Context, policies policyList, p, act, r cedar.Entity, tenant string) (cedar.Decision, cedar.Diagnostic) {
	ents := &entities{principal: p, action: act, resource: r}
	dec, diag := cedar.Authorize(policies, ents, cedar.Request{
		Principal: p.UID,
		Action:    act.UID,
		Resource:  r.UID,
		Context:   cedar.NewRecord(cedar.RecordMap{"tenant_id": cedar.String(tenant)}),
	})
	if len(diag.Errors) > 0 && a.log.Enabled(ctx, slog.LevelDebug) {
		for _, e := range diag.Errors {
			a.log.DebugContext(ctx, "cedar: policy did not evaluate", "policy", e.PolicyID,
				"principal", p.UID.String(), "action", act.UID.String(), "resource", r.UID.String(), "error", e.Message)
		}
	}
	return dec, diag
}

// decided fills res from a Cedar decision.
func decided(res ports.PolicyResult, dec cedar.Decision, diag cedar.Diagnostic) ports.PolicyResult {
	if len(diag.Reasons) > 0 {
		res.PolicyID = string(diag.Reasons[0].PolicyID)
	}
	if dec == cedar.Allow {
		res.Authorized = true
		res.Reason = "permitted by " + policyIDs(diag.Reasons)
		return res
	}
	res.Reason = denyReason(diag)
	return res
}

func denyReason(diag cedar.Diagnostic) string {
	if len(diag.Reasons) > 0 {
		return "forbidden by " + policyIDs(diag.Reasons)
	}
	return "no policy permits"
}

func policyIDs(rs []cedar.DiagnosticReason) string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = string(r.PolicyID)
	}
	return strings.Join(ids, ", ")
}

// allRoles merges roles with attrs["roles"], as ports.UserContext.AllRoles does.
func allRoles(roles []string, attrs map[string]any) []string {
	u := ports.UserContext{Roles: roles, Attributes: attrs}
	return u.AllRoles()
}

var (
	_ ports.PermissionEvaluator = (*Adapter)(nil)
	_ ports.RowChecker          = (*Adapter)(nil)
)
