package ports

import "context"

// Action is an operation on a document.
type Action string

// Document actions.
const (
	ActionRead   Action = "read"
	ActionWrite  Action = "write"
	ActionCreate Action = "create"
	ActionDelete Action = "delete"
	ActionSubmit Action = "submit"
	ActionCancel Action = "cancel"
	ActionAmend  Action = "amend"
)

// DecisionSource says which kind of policy made a decision.
type DecisionSource string

// Decision sources.
const (
	SourceRBAC   DecisionSource = "rbac"
	SourceABAC   DecisionSource = "abac"
	SourceReBAC  DecisionSource = "rebac"
	SourceCombo  DecisionSource = "combo"
	SourceCustom DecisionSource = "custom"
)

// PolicyRequest asks whether a principal may perform an action. It is
// stateless: everything the evaluator needs is in it.
type PolicyRequest struct {
	PrincipalID         string         `json:"principal"`
	PrincipalAttributes map[string]any `json:"principal_attributes,omitempty"`
	// Roles are the principal's roles (UserContext.AllRoles).
	Roles    []string `json:"roles,omitempty"`
	TenantID string   `json:"tenant_id"`
	DocType  string   `json:"doctype"`
	Action   Action   `json:"action"`
	// DocName is the document's name; empty for create and list checks.
	DocName string `json:"document_name,omitempty"`
	// Doc is the document (a pointer to a DocType struct), when there is one.
	Doc any `json:"-"`
}

// PolicyResult is an evaluator's decision.
type PolicyResult struct {
	Authorized bool           `json:"authorized"`
	Source     DecisionSource `json:"decision_source"`
	Reason     string         `json:"reason,omitempty"`
	PolicyID   string         `json:"policy_id,omitempty"`
}

// PermissionEvaluator authorizes document operations.
type PermissionEvaluator interface {
	// Evaluate decides one request.
	Evaluate(ctx context.Context, req PolicyRequest) (PolicyResult, error)
	// PermittedFilters returns the filters a list of doctype must carry so that
	// principal sees only the rows action is allowed on (row-level security).
	// Nil means no restriction. An error wrapping core.ErrForbidden means no rows
	// at all are permitted.
	PermittedFilters(ctx context.Context, principal *UserContext, doctype string, action Action) ([]Filter, error)
}

// RowChecker is implemented by evaluators whose list filters may let through
// rows that a document check would refuse (e.g. Cedar forbid policies on
// document fields). For such DocTypes the resource service checks every listed
// document with Evaluate and drops the refused ones; the list's total then
// counts the rows the filters matched.
type RowChecker interface {
	NeedsRowCheck(doctype string) bool
}

// Grant is one rule as an evaluator explains it: a role may do Actions on a
// DocType — on every document, or only on the principal's own (IfOwner), or
// only where Conditions hold (ABAC; a value "$principal.<attr>" is the
// principal's attribute).
type Grant struct {
	DocType    string   `json:"doctype"`
	Role       string   `json:"role"`
	Actions    []Action `json:"actions"`
	IfOwner    bool     `json:"if_owner,omitempty"`
	Conditions []Filter `json:"conditions,omitempty"`
	// Source is SourceRBAC for a DocType's own rule, SourceCustom for a
	// Custom Permission row.
	Source DecisionSource `json:"source"`
	// RuleID names the rule (the PolicyID of decisions it makes).
	RuleID string `json:"rule_id"`
}

// Explanation is what a principal may do on one DocType, and why.
type Explanation struct {
	DocType string `json:"doctype"`
	// Admin is set when an admin role bypasses the rules (every action).
	Admin bool `json:"admin,omitempty"`
	// Actions are the actions the principal may take on some document
	// (conditionally when only conditional grants give them).
	Actions []Action `json:"actions"`
	// Grants are the rules that give them.
	Grants []Grant `json:"grants"`
}

// PermissionExplainer is implemented by evaluators that can say what they
// would allow — RBAC, from the same rules it enforces. A policy service
// (citadel, cedar) cannot: it decides per request, and callers say so.
type PermissionExplainer interface {
	// RoleGrants lists what role grants on every DocType (the DocTypes' rules
	// and the Custom Permission rows of the tenant in ctx), rules of
	// ports.RoleAll included only when role is RoleAll.
	RoleGrants(ctx context.Context, role string) ([]Grant, error)
	// Explain says what principal may do on doctype in the tenant of ctx.
	Explain(ctx context.Context, principal *UserContext, doctype string) (Explanation, error)
}
