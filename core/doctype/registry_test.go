package doctype_test

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

func TestRegisterReturnsDocType(t *testing.T) {
	reg := doctype.NewRegistry()
	dt, err := doctype.Register[Invoice](reg, invoiceMeta())
	require.NoError(t, err)
	assert.Equal(t, "Sales Invoice", dt.Name)
	assert.Equal(t, reflect.TypeFor[Invoice](), dt.Type)
	assert.Equal(t, "sales_invoice", dt.TableName())
	assert.Equal(t, []ports.Order{{Field: doctype.FieldModifiedAt, Desc: true}}, dt.DefaultOrder)

	// A pointer type registers its struct.
	dt2, err := reg.Register(reflect.TypeFor[*Note](), doctype.Meta{Name: "Note"})
	require.NoError(t, err)
	assert.Equal(t, reflect.TypeFor[Note](), dt2.Type)

	// Explicit table and order are kept.
	dt3, err := doctype.Register[Item](reg, doctype.Meta{Name: "Item", Table: "stock_item", DefaultOrder: []ports.Order{{Field: "label"}}})
	require.NoError(t, err)
	assert.Equal(t, "stock_item", dt3.TableName())
	assert.Equal(t, []ports.Order{{Field: "label"}}, dt3.DefaultOrder)

	assert.Equal(t, []*doctype.DocType{dt, dt2, dt3}, reg.All(), "registration order")
}

func TestRegisterRejectsBadDocTypes(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
		meta doctype.Meta
		want []string // substrings of the error
	}{
		{"not a struct", reflect.TypeFor[int](), doctype.Meta{Name: "Number"}, []string{"not a struct"}},
		{"pointer to non-struct", reflect.TypeFor[*string](), doctype.Meta{Name: "Text"}, []string{"not a struct"}},
		{"slice", reflect.TypeFor[[]Invoice](), doctype.Meta{Name: "Many"}, []string{"not a struct"}},
		{"no Base", reflect.TypeFor[NoBase](), doctype.Meta{Name: "Loose"}, []string{"does not embed doctype.Base"}},
		{"empty name", reflect.TypeFor[Note](), doctype.Meta{}, []string{"Meta.Name is required"}},
		{"blank name", reflect.TypeFor[Note](), doctype.Meta{Name: "   "}, []string{"Meta.Name is required"}},
		{"slash in name", reflect.TypeFor[Note](), doctype.Meta{Name: "A/B"}, []string{"must not contain"}},
		{"question mark in name", reflect.TypeFor[Note](), doctype.Meta{Name: "What?"}, []string{"must not contain"}},
		{"bad table", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Table: "Bad-Table"}, []string{`table "Bad-Table"`}},
		{"table starting with digit", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Table: "1note"}, []string{`table "1note"`}},
		{"Hidden", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Hidden: []string{"nope"}}, []string{`Hidden: no field "nope"`}},
		{"ReadOnly", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", ReadOnly: []string{"nope"}}, []string{`ReadOnly: no field "nope"`}},
		{"Filterable", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Filterable: []string{"title", "nope"}}, []string{`Filterable: no field "nope"`}},
		{"Sortable", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Sortable: []string{"nope"}}, []string{`Sortable: no field "nope"`}},
		{"Unique", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Unique: [][]string{{"title", "nope"}}}, []string{`Unique: no field "nope"`}},
		{"Indexes", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Indexes: [][]string{{"nope"}}}, []string{`Indexes: no field "nope"`}},
		{"RLSField", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", RLSField: "nope"}, []string{`RLSField: no field "nope"`}},
		{"DefaultOrder", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", DefaultOrder: []ports.Order{{Field: "nope"}}}, []string{`DefaultOrder: no field "nope"`}},
		{"Go field name instead of JSON name", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Hidden: []string{"Title"}}, []string{`Hidden: no field "Title"`}},
		{"rule without role", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Permissions: []doctype.Rule{{Role: "User", Actions: doctype.Read}, {Actions: doctype.Read}}}, []string{"Permissions[1]"}},
		{"rule without actions", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Permissions: []doctype.Rule{{Role: "User"}}}, []string{"Permissions[0]"}},
		{"naming field missing", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Naming: "field:nope"}, []string{`Naming "field:nope"`, `no field "nope"`}},
		{"naming field not a string", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Naming: "field:stars"}, []string{`field "stars" is not a string`}},
		{"naming unknown rule", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Naming: "autoincrement"}, []string{`Naming "autoincrement"`}},
		{"series without counter", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Naming: "INV-.YYYY."}, []string{`Naming "INV-.YYYY."`}},
		{"series with two counters", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Naming: "INV-.###.-.#####"}, []string{"exactly one run of #"}},
		{"series mixing # with text", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Naming: "INV-#####"}, []string{"mixes # with other characters"}},
		{"series with slash", reflect.TypeFor[Note](), doctype.Meta{Name: "Note", Naming: "INV/.#####"}, []string{"contains / ? or %"}},
		{
			"every problem at once", reflect.TypeFor[Note](),
			doctype.Meta{Name: "Note", Hidden: []string{"h1"}, ReadOnly: []string{"r1"}, RLSField: "x1", Permissions: []doctype.Rule{{}}, Naming: "bad"},
			[]string{`"h1"`, `"r1"`, `"x1"`, "Permissions[0]", `Naming "bad"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := doctype.NewRegistry()
			dt, err := reg.Register(tt.typ, tt.meta)
			require.Error(t, err)
			assert.Nil(t, dt)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Empty(t, reg.All(), "a rejected DocType is not registered")
			if tt.meta.Name != "" {
				_, ok := reg.Get(tt.meta.Name)
				assert.False(t, ok)
			}
		})
	}
}

func TestRegisterAcceptsValidNaming(t *testing.T) {
	for _, naming := range []string{"", "uuid", "prompt", "field:title", "NOTE-.#####", "N.YY.MM.DD.-.###", "####", "A-.###.-Z"} {
		t.Run(naming, func(t *testing.T) {
			_, err := doctype.Register[Note](doctype.NewRegistry(), doctype.Meta{Name: "Note", Naming: naming})
			assert.NoError(t, err)
		})
	}
}

func TestRegisterRejectsDuplicates(t *testing.T) {
	reg := doctype.NewRegistry()
	first := doctype.MustRegister[Invoice](reg, invoiceMeta())

	tests := []struct {
		name     string
		register func() (*doctype.DocType, error)
		want     string
	}{
		{"same name", func() (*doctype.DocType, error) {
			return doctype.Register[Note](reg, doctype.Meta{Name: "Sales Invoice"})
		}, "already registered"},
		{"same lookup key (dashes)", func() (*doctype.DocType, error) {
			return doctype.Register[Note](reg, doctype.Meta{Name: "sales-invoice", Table: "other_table"})
		}, `clashes with "Sales Invoice"`},
		{"same lookup key (case and no space)", func() (*doctype.DocType, error) {
			return doctype.Register[Note](reg, doctype.Meta{Name: "SALESINVOICE", Table: "other_table"})
		}, `clashes with "Sales Invoice"`},
		{"same table", func() (*doctype.DocType, error) {
			return doctype.Register[Note](reg, doctype.Meta{Name: "Bill", Table: "sales_invoice"})
		}, `table "sales_invoice" already used by "Sales Invoice"`},
		{"same table from name", func() (*doctype.DocType, error) {
			return doctype.Register[Note](reg, doctype.Meta{Name: "Sales.Invoice"})
		}, `table "sales_invoice"`},
		{"same Go type", func() (*doctype.DocType, error) {
			return doctype.Register[Invoice](reg, doctype.Meta{Name: "Purchase Invoice"})
		}, `already registered as "Sales Invoice"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dt, err := tt.register()
			require.Error(t, err)
			assert.Nil(t, dt)
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, []*doctype.DocType{first}, reg.All())
		})
	}

	// Note is still free to register under its own name.
	_, err := doctype.Register[Note](reg, doctype.Meta{Name: "Note"})
	require.NoError(t, err)
	got, ok := reg.Get("Sales Invoice")
	require.True(t, ok)
	assert.Same(t, first, got)
}

func TestMustRegister(t *testing.T) {
	reg := doctype.NewRegistry()
	assert.NotPanics(t, func() { doctype.MustRegister[Note](reg, doctype.Meta{Name: "Note"}) })
	assert.Panics(t, func() { doctype.MustRegister[Note](reg, doctype.Meta{Name: "Note"}) })
	assert.Panics(t, func() { doctype.MustRegister[NoBase](reg, doctype.Meta{Name: "Loose"}) })
}

func TestRegistryGet(t *testing.T) {
	reg := doctype.NewRegistry()
	inv := doctype.MustRegister[Invoice](reg, invoiceMeta())
	note := doctype.MustRegister[Note](reg, doctype.Meta{Name: "Note"})
	errLog := doctype.MustRegister[Item](reg, doctype.Meta{Name: "Error_Log"})

	tests := []struct {
		query string
		want  *doctype.DocType
	}{
		{"Sales Invoice", inv},
		{"sales-invoice", inv},
		{"sales_invoice", inv},
		{"SALESINVOICE", inv},
		{"salesinvoice", inv},
		{"Sales-Invoice", inv},
		{"sales invoice", inv},
		{"Note", note},
		{"note", note},
		{"NOTE", note},
		{"Error_Log", errLog},
		{"error-log", errLog},
		{"error log", errLog},
		{"sales-invoices", nil},
		{"sales.invoice", nil},
		{"Invoice", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, ok := reg.Get(tt.query)
			if tt.want == nil {
				assert.False(t, ok)
				assert.Nil(t, got)
				return
			}
			require.True(t, ok)
			assert.Same(t, tt.want, got)
		})
	}
}

func TestRegistryOf(t *testing.T) {
	reg := doctype.NewRegistry()
	inv := doctype.MustRegister[Invoice](reg, invoiceMeta())
	note := doctype.MustRegister[Note](reg, doctype.Meta{Name: "Note"})

	tests := []struct {
		name string
		doc  any
		want *doctype.DocType
	}{
		{"pointer", &Invoice{}, inv},
		{"value", Invoice{}, inv},
		{"other type", &Note{Title: "x"}, note},
		{"from New", inv.New(), inv},
		{"unregistered", &Item{}, nil},
		{"no Base", &NoBase{}, nil},
		{"nil", nil, nil},
		{"int", 42, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := reg.Of(tt.doc)
			if tt.want == nil {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			assert.Same(t, tt.want, got)
		})
	}
}

func TestRegistryAllReturnsACopy(t *testing.T) {
	reg := doctype.NewRegistry()
	a := doctype.MustRegister[Note](reg, doctype.Meta{Name: "Note"})
	b := doctype.MustRegister[Item](reg, doctype.Meta{Name: "Item"})
	all := reg.All()
	all[0] = nil
	assert.Equal(t, []*doctype.DocType{a, b}, reg.All())
}

func TestRegistryIsSafeForConcurrentUse(t *testing.T) {
	reg := doctype.NewRegistry()
	doctype.MustRegister[Note](reg, doctype.Meta{Name: "Note"})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, register := range []func() error{
		func() error { _, err := doctype.Register[Invoice](reg, invoiceMeta()); return err },
		func() error { _, err := doctype.Register[Item](reg, doctype.Meta{Name: "Item"}); return err },
		func() error { _, err := doctype.Register[Customer](reg, doctype.Meta{Name: "Customer"}); return err },
	} {
		wg.Go(func() { errs <- register() })
	}
	for range 8 {
		wg.Go(func() {
			for range 200 {
				_, _ = reg.Get("note")
				_, _ = reg.Of(&Invoice{})
				_ = reg.All()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Len(t, reg.All(), 4)
}

func TestFields(t *testing.T) {
	dt := invoiceType(t)

	var names []string
	for _, f := range dt.Fields() {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{
		"tenant_id", "name", "owner", "created_at", "modified_at", "modified_by", "version",
		"customer", "status", "qty", "count", "ratio", "paid", "total", "due", "paid_at",
		"tags", "extra", "address", "approved_by", "secret", "password_hash", "computed",
	}, names, "Base fields first, then struct order; json:\"-\" fields keyed by snake_case")

	type want struct {
		system, hidden, readOnly, stored, filterable, sortable bool
	}
	tests := map[string]want{
		"tenant_id":     {system: true, readOnly: true, stored: true, filterable: true, sortable: true},
		"name":          {system: true, readOnly: true, stored: true, filterable: true, sortable: true},
		"owner":         {system: true, readOnly: true, stored: true, filterable: true, sortable: true},
		"created_at":    {system: true, readOnly: true, stored: true, filterable: true, sortable: true},
		"modified_at":   {system: true, readOnly: true, stored: true, filterable: true, sortable: true},
		"modified_by":   {system: true, readOnly: true, stored: true, filterable: true, sortable: true},
		"version":       {system: true, readOnly: true, stored: true, filterable: true, sortable: true},
		"customer":      {stored: true, filterable: true, sortable: true},
		"qty":           {stored: true, filterable: true, sortable: true},
		"count":         {stored: true, filterable: true, sortable: true},
		"ratio":         {stored: true, filterable: true, sortable: true},
		"paid":          {stored: true, filterable: true, sortable: true},
		"total":         {stored: true, filterable: true, sortable: true},
		"due":           {stored: true, filterable: true, sortable: true},
		"paid_at":       {readOnly: true, stored: true, filterable: true, sortable: true},
		"tags":          {stored: true},
		"extra":         {stored: true},
		"address":       {stored: true},
		"approved_by":   {readOnly: true, stored: true, filterable: true, sortable: true},
		"secret":        {hidden: true, stored: true},
		"password_hash": {hidden: true, stored: true},
		"computed":      {},
	}
	for name, w := range tests {
		t.Run(name, func(t *testing.T) {
			f, ok := dt.Field(name)
			require.True(t, ok)
			got := want{f.System, f.Hidden, f.ReadOnly, f.Stored, f.Filterable, f.Sortable}
			assert.Equal(t, w, got)
			vf, visible := dt.VisibleField(name)
			assert.Equal(t, !w.hidden, visible)
			if visible {
				assert.Same(t, f, vf)
			}
		})
	}

	f, _ := dt.Field("password_hash")
	assert.Equal(t, "PasswordHash", f.GoName)
	assert.Equal(t, reflect.TypeFor[string](), f.Type)
	f, _ = dt.Field("total")
	assert.Equal(t, reflect.TypeFor[doctype.Decimal](), f.Type)
	assert.Equal(t, "Total", f.GoName)

	_, ok := dt.Field("Customer")
	assert.False(t, ok, "fields are keyed by JSON name")
	_, ok = dt.Field("nope")
	assert.False(t, ok)
}

func TestFieldIndexReachesTheStructField(t *testing.T) {
	dt := invoiceType(t)
	doc := &Invoice{Customer: "ACME", PasswordHash: "h"}
	doc.Owner = "alice"
	v := reflect.ValueOf(doc).Elem()
	for name, want := range map[string]any{"customer": "ACME", "owner": "alice", "password_hash": "h"} {
		f, ok := dt.Field(name)
		require.True(t, ok)
		assert.Equal(t, want, v.FieldByIndex(f.Index).Interface(), name)
	}
}

func TestExplicitFilterableAndSortable(t *testing.T) {
	meta := invoiceMeta()
	meta.Filterable = []string{"customer", "tags", "secret"}
	meta.Sortable = []string{"qty"}
	dt := register[Invoice](t, meta)

	filterable, sortable := []string{}, []string{}
	for _, f := range dt.Fields() {
		if f.Filterable {
			filterable = append(filterable, f.Name)
		}
		if f.Sortable {
			sortable = append(sortable, f.Name)
		}
	}
	// name is always allowed; non-scalar and hidden fields never are.
	assert.ElementsMatch(t, []string{"name", "customer"}, filterable)
	assert.ElementsMatch(t, []string{"name", "qty"}, sortable)

	// An empty, non-nil list allows only name.
	meta = doctype.Meta{Name: "Note", Filterable: []string{}, Sortable: []string{}}
	nt := register[Note](t, meta)
	for _, f := range nt.Fields() {
		assert.Equal(t, f.Name == "name", f.Filterable, f.Name)
		assert.Equal(t, f.Name == "name", f.Sortable, f.Name)
	}
}

func TestSortedFieldNames(t *testing.T) {
	dt := invoiceType(t)
	got := dt.SortedFieldNames()
	assert.True(t, slices.IsSorted(got))
	assert.NotContains(t, got, "secret")
	assert.NotContains(t, got, "password_hash")
	assert.Contains(t, got, "customer")
	assert.Contains(t, got, "computed")
	assert.Contains(t, got, "tenant_id")
	assert.Len(t, got, len(dt.Fields())-2)
}

func TestDocTypeNew(t *testing.T) {
	dt := invoiceType(t)
	doc, ok := dt.New().(*Invoice)
	require.True(t, ok)
	assert.Equal(t, "Draft", doc.Status)
	assert.Equal(t, 1, doc.Qty)

	zero, ok := dt.NewZero().(*Invoice)
	require.True(t, ok)
	assert.Equal(t, Invoice{}, *zero)

	a, b := dt.New(), dt.New()
	assert.NotSame(t, a, b, "each call returns a new document")

	nt := register[Note](t, doctype.Meta{Name: "Note"})
	n, ok := nt.New().(*Note)
	require.True(t, ok)
	assert.Equal(t, Note{}, *n)
}

func TestAllows(t *testing.T) {
	dt := register[Note](t, doctype.Meta{Name: "Note", Permissions: []doctype.Rule{
		{Role: "Guest", Actions: doctype.Read},
		{Role: "User", Actions: doctype.Read | doctype.Write | doctype.Create, IfOwner: true},
		{Role: "Manager", Actions: doctype.All},
	}})
	tests := []struct {
		role   string
		action ports.Action
		want   bool
	}{
		{"Guest", ports.ActionRead, true},
		{"Guest", ports.ActionWrite, false},
		{"User", ports.ActionWrite, true},
		{"User", ports.ActionCreate, true},
		{"User", ports.ActionDelete, false},
		{"Manager", ports.ActionAmend, true},
		{"Manager", ports.ActionDelete, true},
		{"Manager", ports.Action("explode"), false},
		{"Nobody", ports.ActionRead, false},
		{"guest", ports.ActionRead, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, dt.Allows(tt.role, tt.action), "%s %s", tt.role, tt.action)
	}
}

func TestBaseOf(t *testing.T) {
	doc := &Invoice{}
	doc.Name = "INV-1"
	b, err := doctype.BaseOf(doc)
	require.NoError(t, err)
	assert.Same(t, &doc.Base, b)
	assert.Same(t, &doc.Base, doc.DocBase())

	_, err = doctype.BaseOf(Invoice{})
	assert.Error(t, err, "a struct value is not a Document")
	_, err = doctype.BaseOf(&NoBase{})
	assert.ErrorContains(t, err, "does not embed doctype.Base")
	_, err = doctype.BaseOf(nil)
	assert.Error(t, err)
}

func TestSnakeCase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Sales Invoice", "sales_invoice"},
		{"SalesInvoice", "sales_invoice"},
		{"sales-invoice", "sales_invoice"},
		{"sales_invoice", "sales_invoice"},
		{"Sales_Invoice", "sales_invoice"},
		{"Sales  Invoice", "sales_invoice"},
		{"Sales - Invoice", "sales_invoice"},
		{"Invoice.Item", "invoice_item"},
		{"User", "user"},
		{"user", "user"},
		{"ToDo", "to_do"},
		{"Error Log", "error_log"},
		{"HTTPServer", "http_server"},
		{"APIKey", "api_key"},
		{"UserID", "user_id"},
		{"PasswordHash", "password_hash"},
		{"Invoice2Go", "invoice2_go"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, doctype.SnakeCase(tt.in))
		})
	}
}

func TestDefaultTableIsSnakeCaseOfName(t *testing.T) {
	for name, table := range map[string]string{"Sales Invoice": "sales_invoice", "ToDo": "to_do", "API Key": "api_key", "Error Log": "error_log"} {
		dt := register[Note](t, doctype.Meta{Name: name})
		assert.Equal(t, table, dt.TableName(), name)
		assert.False(t, strings.ContainsAny(dt.TableName(), " -"), name)
	}
}

// A line of an order: a DocType of its own, whose rows also live in their
// parent's document (a child table).
type orderLine struct {
	doctype.Base
	Item string `json:"item"`
	Cost string `json:"cost"`
}

type order struct {
	doctype.Base
	Lines []orderLine `json:"lines" gorm:"serializer:json"`
}

type orderOfPointers struct {
	doctype.Base
	Lines []*orderLine         `json:"lines" gorm:"serializer:json"`
	Main  *orderLine           `json:"main" gorm:"serializer:json"`
	ByID  map[string]orderLine `json:"by_id" gorm:"serializer:json"`
}

// A child table's rows are served whole inside their parent, so a DocType
// with Hidden fields cannot be one, in whichever order the two register
// (the parent's API would serve and take those fields).
func TestChildTableWithHiddenFieldsRefused(t *testing.T) {
	lineMeta := doctype.Meta{Name: "Order Line", Hidden: []string{"cost"}}

	reg := doctype.NewRegistry()
	doctype.MustRegister[orderLine](reg, lineMeta)
	_, err := doctype.Register[order](reg, doctype.Meta{Name: "Order"})
	require.Error(t, err, "the parent after the child")
	assert.Contains(t, err.Error(), `field "lines" holds "Order Line" rows, which has Hidden fields [cost]`)
	_, err = doctype.Register[orderOfPointers](reg, doctype.Meta{Name: "Order Of Pointers"})
	require.Error(t, err, "pointers, lists of pointers and maps too")

	reg = doctype.NewRegistry()
	doctype.MustRegister[order](reg, doctype.Meta{Name: "Order"})
	_, err = doctype.Register[orderLine](reg, lineMeta)
	require.Error(t, err, "the child after the parent")
	assert.Contains(t, err.Error(), `"Order": field "lines" holds "Order Line" rows`)
	_, ok := reg.Get("Order Line")
	assert.False(t, ok, "a refused DocType is not registered")

	// Without Hidden fields, child tables are fine, in either order.
	reg = doctype.NewRegistry()
	doctype.MustRegister[order](reg, doctype.Meta{Name: "Order"})
	doctype.MustRegister[orderLine](reg, doctype.Meta{Name: "Order Line"})
	line := doctype.MustRegister[orderLine](doctype.NewRegistry(), lineMeta)
	b, err := line.MarshalDoc(&orderLine{Item: "pen", Cost: "1.20"}, nil)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "1.20", "a DocType's own Hidden fields are never served")
}
