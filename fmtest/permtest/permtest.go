// Package permtest is the contract suite of the PermissionEvaluator port: one
// decision table (roles × actions × documents, with owner-only and attribute
// conditions) and one row-level-security table that every evaluator — RBAC
// rules, an OPA or Cedar policy service, in-process Cedar — must pass. An
// external policy is correct for this suite when it expresses the rules below.
//
// The rules, on the DocType "Invoice" (fields owner, customer, department):
//
//   - Admin: everything.
//   - Accounts Manager: every action on every invoice.
//   - Accounts User: read, create and write invoices they own.
//   - Sales Rep: read invoices whose department equals their "department" attribute.
//   - Auditor: read every invoice.
//   - anybody else: nothing.
package permtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Invoice is the DocType of the tables.
type Invoice struct {
	doctype.Base
	Customer   string `json:"customer"`
	Department string `json:"department"`
}

// InvoiceMeta expresses the rules as DocType rules (what RBAC evaluates).
var InvoiceMeta = doctype.Meta{
	Name: "Invoice",
	Permissions: []doctype.Rule{
		{Role: "Accounts Manager", Actions: doctype.All},
		{Role: "Accounts User", Actions: doctype.Read | doctype.Create | doctype.Write, IfOwner: true},
		{Role: "Sales Rep", Actions: doctype.Read, Where: []doctype.Condition{{Field: "department", Op: ports.OpEq, Value: doctype.Principal("department")}}},
		{Role: "Auditor", Actions: doctype.Read},
	},
}

// Registry returns a registry holding Invoice.
func Registry() *doctype.Registry {
	reg := doctype.NewRegistry()
	doctype.MustRegister[Invoice](reg, InvoiceMeta)
	return reg
}

// Principal is a principal of the tables.
type Principal struct {
	ID    string
	Roles []string
	Attrs map[string]any
}

// Principals of the tables.
var (
	Admin   = Principal{ID: "root", Roles: []string{"Admin"}}
	Manager = Principal{ID: "mia", Roles: []string{"Accounts Manager"}}
	Ann     = Principal{ID: "ann", Roles: []string{"Accounts User"}}
	Bob     = Principal{ID: "bob", Roles: []string{"Accounts User"}}
	Sam     = Principal{ID: "sam", Roles: []string{"Sales Rep"}, Attrs: map[string]any{"department": "north"}}
	Sue     = Principal{ID: "sue", Roles: []string{"Sales Rep"}, Attrs: map[string]any{"department": "south"}}
	Stray   = Principal{ID: "sid", Roles: []string{"Sales Rep"}} // no department attribute
	Audrey  = Principal{ID: "audrey", Roles: []string{"Auditor"}}
	Nobody  = Principal{ID: "nora"}
	// AnnAndRep holds two conditional grants: her own invoices or the north's.
	AnnAndRep = Principal{ID: "ann", Roles: []string{"Accounts User", "Sales Rep"}, Attrs: map[string]any{"department": "north"}}
)

// Documents of the tables.
var (
	AnnNorth = &Invoice{Base: doctype.Base{Name: "INV-1", Owner: "ann", TenantID: "t"}, Customer: "ACME", Department: "north"}
	BobSouth = &Invoice{Base: doctype.Base{Name: "INV-2", Owner: "bob", TenantID: "t"}, Customer: "Globex", Department: "south"}
	BobNorth = &Invoice{Base: doctype.Base{Name: "INV-3", Owner: "bob", TenantID: "t"}, Customer: "Initech", Department: "north"}
	AnnSouth = &Invoice{Base: doctype.Base{Name: "INV-4", Owner: "ann", TenantID: "t"}, Customer: "Umbrella", Department: "south"}
)

// Docs lists the documents, for row-level security checks.
var Docs = []*Invoice{AnnNorth, BobSouth, BobNorth, AnnSouth}

// Case is one decision.
type Case struct {
	Who    Principal
	Action ports.Action
	// Doc is nil for a DocType-level check (create without a document, list).
	Doc  *Invoice
	Want bool
}

func (c Case) String() string {
	doc := "(type)"
	if c.Doc != nil {
		doc = c.Doc.Name
	}
	return fmt.Sprintf("%s%v %s %s", c.Who.ID, c.Who.Roles, c.Action, doc)
}

// Cases is the decision table.
var Cases = []Case{
	{Admin, ports.ActionDelete, BobSouth, true},
	{Admin, ports.ActionAmend, AnnNorth, true},
	{Manager, ports.ActionRead, BobSouth, true},
	{Manager, ports.ActionDelete, AnnNorth, true},
	{Manager, ports.ActionSubmit, AnnNorth, true},
	{Manager, ports.ActionCreate, nil, true},
	{Ann, ports.ActionRead, AnnNorth, true},
	{Ann, ports.ActionWrite, AnnNorth, true},
	{Ann, ports.ActionRead, BobSouth, false},
	{Ann, ports.ActionWrite, BobNorth, false},
	{Ann, ports.ActionDelete, AnnNorth, false},
	{Ann, ports.ActionCreate, AnnSouth, true},
	{Ann, ports.ActionCreate, BobSouth, false}, // creating a document owned by someone else
	{Bob, ports.ActionRead, BobNorth, true},
	{Bob, ports.ActionRead, AnnSouth, false},
	{Sam, ports.ActionRead, AnnNorth, true},
	{Sam, ports.ActionRead, BobNorth, true},
	{Sam, ports.ActionRead, BobSouth, false},
	{Sam, ports.ActionWrite, AnnNorth, false},
	{Sue, ports.ActionRead, BobSouth, true},
	{Sue, ports.ActionRead, AnnNorth, false},
	{Stray, ports.ActionRead, AnnNorth, false},
	{Audrey, ports.ActionRead, BobSouth, true},
	{Audrey, ports.ActionWrite, BobSouth, false},
	{Audrey, ports.ActionDelete, AnnNorth, false},
	{Nobody, ports.ActionRead, AnnNorth, false},
	{Nobody, ports.ActionCreate, nil, false},
	{AnnAndRep, ports.ActionRead, BobNorth, true},
	{AnnAndRep, ports.ActionRead, AnnSouth, true},
	{AnnAndRep, ports.ActionRead, BobSouth, false},
}

// Visible is, for each principal, the documents a list may return (nil means
// the list is forbidden outright).
var Visible = []struct {
	Who  Principal
	Docs []*Invoice
}{
	{Admin, Docs},
	{Manager, Docs},
	{Audrey, Docs},
	{Ann, []*Invoice{AnnNorth, AnnSouth}},
	{Bob, []*Invoice{BobSouth, BobNorth}},
	{Sam, []*Invoice{AnnNorth, BobNorth}},
	{Sue, []*Invoice{BobSouth, AnnSouth}},
	{AnnAndRep, []*Invoice{AnnNorth, BobNorth, AnnSouth}},
	{Nobody, nil},
}

// Request builds the PolicyRequest of c in tenant "t".
func (c Case) Request() ports.PolicyRequest {
	req := ports.PolicyRequest{
		PrincipalID:         c.Who.ID,
		PrincipalAttributes: attrs(c.Who),
		Roles:               c.Who.Roles,
		TenantID:            "t",
		DocType:             "Invoice",
		Action:              c.Action,
	}
	if c.Doc != nil {
		req.DocName, req.Doc = c.Doc.Name, c.Doc
	}
	return req
}

func attrs(p Principal) map[string]any {
	a := map[string]any{"roles": slices.Clone(p.Roles)}
	for k, v := range p.Attrs {
		a[k] = v
	}
	return a
}

// UserContext returns p as a request principal.
func (p Principal) UserContext() *ports.UserContext {
	return &ports.UserContext{ID: p.ID, TenantID: "t", Roles: p.Roles, Attributes: attrs(p)}
}

// NewEvaluator returns an evaluator of the rules above for one subtest.
type NewEvaluator = func(t *testing.T) ports.PermissionEvaluator

// Run checks that the evaluators newEval returns keep the contract: the
// decision table and the row-security table, each a parallel subtest with an
// evaluator of its own.
//
//	func TestContract(t *testing.T) {
//		permtest.Run(t, func(t *testing.T) ports.PermissionEvaluator { return myeval.New(…) })
//	}
func Run(t *testing.T, newEval NewEvaluator) {
	t.Helper()
	t.Run("Decisions", func(t *testing.T) {
		t.Parallel()
		RunDecisions(t, newEval(t))
	})
	t.Run("RowSecurity", func(t *testing.T) {
		t.Parallel()
		RunRowSecurity(t, newEval(t))
	})
}

// RunDecisions checks every Case.
func RunDecisions(t *testing.T, eval ports.PermissionEvaluator) {
	t.Helper()
	ctx := ports.WithTenantID(context.Background(), "t")
	for _, c := range Cases {
		res, err := eval.Evaluate(ctx, c.Request())
		if err != nil {
			t.Errorf("%s: %v", c, err)
			continue
		}
		if res.Authorized != c.Want {
			t.Errorf("%s: authorized = %v, want %v (source %s, reason %q)", c, res.Authorized, c.Want, res.Source, res.Reason)
		}
	}
}

// RunRowSecurity checks that PermittedFilters for read, applied to Docs, lets
// each principal see exactly its Visible documents.
func RunRowSecurity(t *testing.T, eval ports.PermissionEvaluator) {
	t.Helper()
	ctx := ports.WithTenantID(context.Background(), "t")
	reg := Registry()
	dt, _ := reg.Get("Invoice")
	for _, v := range Visible {
		filters, err := eval.PermittedFilters(ctx, v.Who.UserContext(), "Invoice", ports.ActionRead)
		if v.Docs == nil {
			if err == nil || !errorsIsForbidden(err) {
				t.Errorf("%s: list should be forbidden, got filters %v, err %v", v.Who.ID, filters, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", v.Who.ID, err)
			continue
		}
		var got []string
		for _, d := range Docs {
			ok, err := Matches(dt, d, filters)
			if err != nil {
				t.Errorf("%s: filters %v: %v", v.Who.ID, filters, err)
				break
			}
			if ok {
				got = append(got, d.Name)
			}
		}
		var want []string
		for _, d := range v.Docs {
			want = append(want, d.Name)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: filters %+v show %v, want %v", v.Who.ID, filters, got, want)
		}
	}
}

func errorsIsForbidden(err error) bool { return errors.Is(err, core.ErrForbidden) }

// Matches evaluates filters (ANDed, with Any groups OR-ed) on doc in memory,
// supporting =, !=, in and not in.
func Matches(dt *doctype.DocType, doc any, filters []ports.Filter) (bool, error) {
	for _, f := range filters {
		ok, err := match(dt, doc, f)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func match(dt *doctype.DocType, doc any, f ports.Filter) (bool, error) {
	if f.IsGroup() {
		for _, g := range f.Any {
			ok, err := Matches(dt, doc, g)
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
		return false, nil
	}
	v, ok := dt.Get(doc, f.Field)
	if !ok {
		return false, fmt.Errorf("no field %q", f.Field)
	}
	have := fmt.Sprint(v)
	switch f.Op {
	case ports.OpEq:
		return have == fmt.Sprint(f.Value), nil
	case ports.OpNe:
		return have != fmt.Sprint(f.Value), nil
	case ports.OpIn, ports.OpNotIn:
		in := false
		switch l := f.Value.(type) {
		case []any:
			for _, x := range l {
				in = in || fmt.Sprint(x) == have
			}
		case []string:
			in = slices.Contains(l, have)
		default:
			return false, fmt.Errorf("%s needs a list, got %T", f.Op, f.Value)
		}
		return in == (f.Op == ports.OpIn), nil
	}
	return false, fmt.Errorf("operator %q not supported by the in-memory matcher", f.Op)
}
