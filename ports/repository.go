package ports

import (
	"context"
	"time"
)

// Operator is a filter comparison.
type Operator string

// Filter operators understood by every Repository.
const (
	OpEq        Operator = "="
	OpNe        Operator = "!="
	OpLt        Operator = "<"
	OpLe        Operator = "<="
	OpGt        Operator = ">"
	OpGe        Operator = ">="
	OpIn        Operator = "in"
	OpNotIn     Operator = "not in"
	OpLike      Operator = "like" // case-insensitive, % and _ wildcards
	OpIsNull    Operator = "is null"
	OpIsNotNull Operator = "is not null"
)

// Operators lists every valid Operator.
var Operators = []Operator{OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpIn, OpNotIn, OpLike, OpIsNull, OpIsNotNull}

// Valid reports whether op is a known operator.
func (op Operator) Valid() bool {
	for _, o := range Operators {
		if o == op {
			return true
		}
	}
	return false
}

// Filter restricts a list to documents whose Field compares to Value with Op.
// Field is the JSON name of a DocType field. For OpIn and OpNotIn, Value is a
// slice; for OpIsNull and OpIsNotNull it is ignored.
//
// A filter with Any set is a disjunction instead: a document passes when it
// matches every filter of at least one group (row-level security made of
// several grants). An empty Any matches nothing.
type Filter struct {
	Field string     `json:"field,omitempty"`
	Op    Operator   `json:"op,omitempty"`
	Value any        `json:"value,omitempty"`
	Any   [][]Filter `json:"any,omitempty"`
}

// IsGroup reports whether f is a disjunction of filter groups.
func (f Filter) IsGroup() bool { return f.Any != nil }

// Order sorts a list by Field (a JSON field name).
type Order struct {
	Field string `json:"field"`
	Desc  bool   `json:"desc,omitempty"`
}

// Query selects documents of one DocType. Filters are ANDed.
type Query struct {
	Filters []Filter
	Orders  []Order
	// Limit caps the number of documents returned; 0 means the repository default.
	Limit  int
	Offset int
	// SkipCount leaves ListResult.Total at -1 instead of counting all matches.
	SkipCount bool
}

// ListResult is one page of a list and the number of all matching documents.
type ListResult struct {
	// Items holds pointers to DocType structs.
	Items []any
	// Total counts every document matching the filters, ignoring Limit and Offset.
	Total int64
}

// Repository persists DocType documents.
//
// Every operation is scoped to the tenant carried by ctx (see WithTenant); with
// no tenant in ctx an operation fails rather than run unscoped. Documents are
// pointers to registered DocType structs. Errors wrap the core sentinel errors:
// core.ErrNotFound, core.ErrConflict (duplicate name or unique key, or a stale
// version on Update), core.ErrValidation.
type Repository interface {
	// Get returns the document doctype/name of the current tenant.
	Get(ctx context.Context, doctype, name string) (any, error)
	// List returns the page of documents that q selects, and their total count.
	// Filter and order fields must be fields of the DocType.
	List(ctx context.Context, doctype string, q Query) (ListResult, error)
	// Create inserts doc. It sets tenant, name (from the DocType's naming rule when
	// empty), owner (the principal when empty), timestamps and version 1.
	Create(ctx context.Context, doctype string, doc any) error
	// Update saves doc if its stored version still equals doc's version, and then
	// increments the version. A stale version is core.ErrConflict.
	Update(ctx context.Context, doctype string, doc any) error
	// Delete removes doctype/name.
	Delete(ctx context.Context, doctype, name string) error
	// InTx runs fn in one transaction: every repository call made with the
	// context fn receives joins it; an error from fn rolls all of them back.
	// A nested InTx is a savepoint: its failure undoes only its own work.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// AfterCommit runs fn once the transaction carried by ctx commits — at once
	// when ctx carries none, never if it rolls back. fn gets a context without
	// the finished transaction.
	AfterCommit(ctx context.Context, fn func(ctx context.Context))
	// Ping checks the store is reachable.
	Ping(ctx context.Context) error
}

// Purger deletes expired rows of a DocType in every tenant at once: system
// maintenance (expired sessions, revoked-token records), never a request path.
// Purged rows emit no change events. Repositories that can implement it; the
// composition root hands it to the adapters' cleanup jobs.
type Purger interface {
	// PurgeBefore deletes every document of doctype, in every tenant, whose
	// time field (a JSON field name) is before t, and returns how many.
	PurgeBefore(ctx context.Context, doctype, field string, t time.Time) (int64, error)
	// ListBefore returns up to limit documents of doctype, in every tenant,
	// whose time field is before t, oldest first: maintenance that must do
	// more than delete the rows (remove the stored bytes they name, say).
	ListBefore(ctx context.Context, doctype, field string, t time.Time, limit int) ([]any, error)
}

// BatchInserter inserts many documents the framework writes itself
// (append-only records such as the audit trail's) in a few statements,
// across tenants, without naming, validation or change events.
// Repositories that can implement it.
type BatchInserter interface {
	// InsertBatch stores docs (a slice of pointers to doctype's struct) as
	// they are: their tenants, names, owners, timestamps and versions are
	// the caller's. A document whose tenant and name are taken already is
	// skipped, so a batch sent again after an unconfirmed commit stores
	// nothing twice. It runs in the transaction of ctx, or in one of its own.
	InsertBatch(ctx context.Context, doctype string, docs any) error
}
