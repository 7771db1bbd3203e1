package openapi_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/ports"
)

type line struct {
	Item string          `json:"item"`
	Qty  int             `json:"qty"`
	Rate doctype.Decimal `json:"rate"`
}

type order struct {
	doctype.Base
	Customer string                               `json:"customer" gorm:"size:140" openapi:"required"`
	Amount   doctype.Decimal                      `json:"amount"`
	Status   string                               `json:"status" openapi:"enum=Draft|Paid"`
	Due      *time.Time                           `json:"due"`
	Tags     doctype.StringList                   `json:"tags"`
	Lines    doctype.JSONList[line]               `json:"lines"`
	Notes    []orderNote                          `json:"notes" gorm:"-"`
	Extra    doctype.JSONMap                      `json:"extra"`
	Secret   string                               `json:"secret_sauce"`
	Internal string                               `json:"-"`
	Approved bool                                 `json:"approved"`
	Ref      doctype.JSONList[ports.EmailAddress] `json:"ref"`
}

type orderNote struct {
	doctype.Base
	Text    string `json:"text"`
	Whisper string `json:"-"` // a child table's DocType has no Meta.Hidden (doctype refuses it)
}

func registry(t *testing.T) *doctype.Registry {
	t.Helper()
	reg := doctype.NewRegistry()
	doctype.MustRegister[order](reg, doctype.Meta{Name: "Sales Order", Naming: "prompt", Hidden: []string{"secret_sauce"},
		ReadOnly: []string{"approved"}, Description: "An order."})
	doctype.MustRegister[orderNote](reg, doctype.Meta{Name: "Order Note"})
	return reg
}

func build(t *testing.T, visible func(*doctype.DocType) bool) (*openapi.Document, map[string]any) {
	t.Helper()
	d := openapi.New(openapi.Options{Security: openapi.Security{Bearer: true, SessionCookie: "sid", CSRFHeader: "X-CSRF-Token"}})
	dts, names := d.AddDocTypes(registry(t), visible)
	for _, dt := range dts {
		d.AddResource("/api/v1/resource", dt, names[dt.Name])
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return d, m
}

func dig(t *testing.T, v any, path ...string) any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("at %q: not an object: %v", p, v)
		}
		v, ok = m[p]
		if !ok {
			t.Fatalf("no %q in %v", p, keys(m))
		}
	}
	return v
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestDocTypeSchemas(t *testing.T) {
	_, m := build(t, nil)
	schemas := dig(t, m, "components", "schemas").(map[string]any)
	for _, name := range []string{"SalesOrder", "SalesOrderCreate", "SalesOrderPatch", "SalesOrderList", "OrderNote", "Error"} {
		if _, ok := schemas[name]; !ok {
			t.Errorf("no schema %s in %v", name, keys(schemas))
		}
	}
	read := dig(t, schemas, "SalesOrder", "properties").(map[string]any)
	for _, f := range []string{"name", "version", "customer", "amount", "status", "due", "tags", "lines", "notes", "extra", "approved"} {
		if _, ok := read[f]; !ok {
			t.Errorf("read schema lacks %s", f)
		}
	}
	if got := dig(t, read, "amount", "type"); got != "string" {
		t.Errorf("decimal type %v, want string", got)
	}
	if got := dig(t, read, "amount", "pattern"); got != openapi.DecimalPattern {
		t.Errorf("decimal pattern %v", got)
	}
	if got := dig(t, read, "status", "enum"); !reflect.DeepEqual(got, []any{"Draft", "Paid"}) {
		t.Errorf("status enum %v", got)
	}
	if got := dig(t, read, "due", "type"); !reflect.DeepEqual(got, []any{"string", "null"}) {
		t.Errorf("pointer time type %v", got)
	}
	if got := dig(t, read, "notes", "items", "$ref"); got != "#/components/schemas/OrderNote" {
		t.Errorf("child table items %v, want a ref to OrderNote", got)
	}
	if got := dig(t, read, "lines", "items", "properties", "rate", "pattern"); got != openapi.DecimalPattern {
		t.Errorf("nested decimal %v", got)
	}
	if got := dig(t, read, "customer", "maxLength"); got != 140.0 {
		t.Errorf("maxLength %v", got)
	}
	if got := dig(t, read, "approved", "readOnly"); got != true {
		t.Errorf("approved not readOnly: %v", read["approved"])
	}

	create := dig(t, schemas, "SalesOrderCreate").(map[string]any)
	cprops := create["properties"].(map[string]any)
	for _, f := range []string{"version", "owner", "approved", "tenant_id", "created_at"} {
		if _, ok := cprops[f]; ok {
			t.Errorf("create schema has read-only %s", f)
		}
	}
	req, _ := create["required"].([]any)
	if !slices.Contains(req, any("name")) || !slices.Contains(req, any("customer")) {
		t.Errorf("create required %v, want name (naming prompt) and customer (tag)", req)
	}
	if got := dig(t, cprops, "amount", "type"); !reflect.DeepEqual(got, []any{"string", "number", "null"}) {
		t.Errorf("decimal input type %v", got)
	}
	if create["additionalProperties"] != false {
		t.Errorf("create schema open: %v", create["additionalProperties"])
	}

	patch := dig(t, schemas, "SalesOrderPatch").(map[string]any)
	if patch["required"] != nil {
		t.Errorf("patch requires %v", patch["required"])
	}
	if _, ok := dig(t, patch, "properties").(map[string]any)["version"]; !ok {
		t.Error("patch lacks version")
	}
	list := dig(t, schemas, "SalesOrderList", "properties").(map[string]any)
	if got := dig(t, list, "data", "items", "$ref"); got != "#/components/schemas/SalesOrder" {
		t.Errorf("list items %v", got)
	}

	// UUID naming: name is not accepted on create.
	if _, ok := dig(t, schemas, "OrderNoteCreate", "properties").(map[string]any)["name"]; ok {
		t.Error("OrderNoteCreate accepts name with uuid naming")
	}
}

// TestHiddenFieldsAppearNowhere: not in the DocType's schemas, nor in a
// child table's inside another DocType's — also when the reader may see
// the parent but not the child (regression test: a review found the
// child's fields spelled out, Hidden ones included).
func TestHiddenFieldsAppearNowhere(t *testing.T) {
	for name, visible := range map[string]func(*doctype.DocType) bool{
		"every DocType": nil,
		"parent only":   func(dt *doctype.DocType) bool { return dt.Name == "Sales Order" },
	} {
		d, _ := build(t, visible)
		b, _ := json.Marshal(d)
		for _, hidden := range []string{"secret_sauce", "internal", "Internal", "whisper"} {
			if strings.Contains(string(b), hidden) {
				t.Errorf("%s: hidden field %q in the document", name, hidden)
			}
		}
	}
}

func TestVisibleFilter(t *testing.T) {
	_, m := build(t, func(dt *doctype.DocType) bool { return dt.Name == "Order Note" })
	schemas := dig(t, m, "components", "schemas").(map[string]any)
	if _, ok := schemas["SalesOrder"]; ok {
		t.Error("a DocType left out by the filter has schemas")
	}
	paths := m["paths"].(map[string]any)
	if _, ok := paths["/api/v1/resource/Sales Order"]; ok {
		t.Error("a DocType left out by the filter has paths")
	}
	if _, ok := paths["/api/v1/resource/Order Note/{name}"]; !ok {
		t.Errorf("no paths of Order Note: %v", keys(paths))
	}
}

func TestResourceOperations(t *testing.T) {
	_, m := build(t, nil)
	coll := dig(t, m, "paths", "/api/v1/resource/Sales Order").(map[string]any)
	if _, ok := coll["get"]; !ok {
		t.Error("no list")
	}
	params := dig(t, coll, "get", "parameters").([]any)
	var refs []string
	for _, p := range params {
		refs = append(refs, p.(map[string]any)["$ref"].(string))
	}
	for _, want := range []string{"filters", "fields", "order_by", "limit", "offset", "skip_total"} {
		if !slices.Contains(refs, "#/components/parameters/"+want) {
			t.Errorf("list lacks %s: %v", want, refs)
		}
	}
	one := dig(t, m, "paths", "/api/v1/resource/Sales Order/{name}").(map[string]any)
	for _, method := range []string{"get", "patch", "delete"} {
		if _, ok := one[method]; !ok {
			t.Errorf("no %s on one document", method)
		}
	}
	if got := dig(t, one, "patch", "parameters").([]any)[0].(map[string]any)["$ref"]; got != "#/components/parameters/If-Match" {
		t.Errorf("patch parameters %v", got)
	}
	if _, ok := dig(t, one, "get", "responses", "200", "headers").(map[string]any)["ETag"]; !ok {
		t.Error("get has no ETag header")
	}
	// Unsafe operations pair the session cookie with its CSRF header.
	sec := dig(t, one, "patch", "security").([]any)
	if !slices.ContainsFunc(sec, func(r any) bool { _, ok := r.(map[string]any)["csrfToken"]; return ok }) {
		t.Errorf("patch security %v lacks the CSRF header", sec)
	}
}

func TestSecuritySchemesOnlyConfigured(t *testing.T) {
	d := openapi.New(openapi.Options{Security: openapi.Security{APIKeyHeader: "X-API-Key"}})
	if len(d.Components.SecuritySchemes) != 1 || d.Components.SecuritySchemes[openapi.SchemeAPIKey] == nil {
		t.Errorf("schemes %v, want only the API key", d.Components.SecuritySchemes)
	}
	if len(d.Security) != 1 {
		t.Errorf("document security %v", d.Security)
	}
	none := openapi.New(openapi.Options{})
	if len(none.Components.SecuritySchemes) != 0 || len(none.Security) != 0 {
		t.Errorf("no strategy configured, yet %v", none.Components.SecuritySchemes)
	}
}

func TestNullable(t *testing.T) {
	s := openapi.Nullable(&openapi.Schema{Type: "string", Enum: []any{"a"}})
	if !reflect.DeepEqual(s.Type, []string{"string", "null"}) || len(s.Enum) != 2 || s.Enum[1] != nil {
		t.Errorf("nullable string %+v", s)
	}
	r := openapi.Nullable(openapi.Ref("X"))
	if len(r.AnyOf) != 2 {
		t.Errorf("nullable ref %+v", r)
	}
	if again := openapi.Nullable(s); !reflect.DeepEqual(again.Type, []string{"string", "null"}) {
		t.Errorf("nullable twice %+v", again)
	}
}

func TestAddDeclaresPathParams(t *testing.T) {
	d := openapi.New(openapi.Options{})
	op := &openapi.Operation{Summary: "x"}
	if !d.Add("GET", "/a/{id}/b/{n}", op) {
		t.Fatal("Add refused GET")
	}
	if len(op.Parameters) != 2 || op.Parameters[0].Name != "id" || op.Parameters[1].Name != "n" || !op.Parameters[0].Required {
		t.Errorf("path parameters %+v", op.Parameters)
	}
	if op.Responses["default"] == nil {
		t.Error("no default error response")
	}
	if d.Add("CONNECT", "/a", &openapi.Operation{}) {
		t.Error("Add accepted CONNECT")
	}
}
