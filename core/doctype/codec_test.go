package doctype_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

func decodeInvoice(t *testing.T, dt *doctype.DocType, body string) (*Invoice, error) {
	t.Helper()
	doc, err := dt.DecodeNew([]byte(body))
	if err != nil {
		assert.Nil(t, doc)
		return nil, err
	}
	inv, ok := doc.(*Invoice)
	require.True(t, ok, "DecodeNew returns a pointer to the DocType struct, got %T", doc)
	return inv, nil
}

func TestDecodeNew(t *testing.T) {
	dt := invoiceType(t)
	doc, err := decodeInvoice(t, dt, `{
		"customer": "ACME",
		"qty": 3,
		"count": 2,
		"ratio": 0.5,
		"paid": true,
		"total": "12.50",
		"due": "2026-01-31T09:30:00Z",
		"tags": ["a", "b"],
		"extra": {"k": "v"},
		"address": {"city": "Pune"},
		"computed": "c"
	}`)
	require.NoError(t, err)
	assert.Equal(t, "ACME", doc.Customer)
	assert.Equal(t, 3, doc.Qty, "input overrides the default")
	assert.Equal(t, "Draft", doc.Status, "defaults apply to fields the input leaves out")
	assert.Equal(t, uint(2), doc.Count)
	assert.Equal(t, 0.5, doc.Ratio)
	assert.True(t, doc.Paid)
	assert.Equal(t, "12.50", doc.Total.String())
	assert.True(t, doc.Due.Equal(time.Date(2026, 1, 31, 9, 30, 0, 0, time.UTC)))
	assert.Equal(t, doctype.StringList{"a", "b"}, doc.Tags)
	assert.Equal(t, doctype.JSONMap{"k": "v"}, doc.Extra)
	assert.Equal(t, Address{City: "Pune"}, doc.Addr)
	assert.Equal(t, "c", doc.Computed)
	assert.Equal(t, doctype.Base{}, doc.Base, "no base field comes from the client")
}

func TestDecodeNewAppliesDefaults(t *testing.T) {
	dt := invoiceType(t)
	doc, err := decodeInvoice(t, dt, `{}`)
	require.NoError(t, err)
	assert.Equal(t, "Draft", doc.Status)
	assert.Equal(t, 1, doc.Qty)

	doc, err = decodeInvoice(t, dt, `{"status": "Paid"}`)
	require.NoError(t, err)
	assert.Equal(t, "Paid", doc.Status)
	assert.Equal(t, 1, doc.Qty)
}

func TestDecodeNewNullSetsZero(t *testing.T) {
	dt := invoiceType(t)
	doc, err := decodeInvoice(t, dt, `{"status": null, "qty": null, "total": null, "tags": null, "due": null}`)
	require.NoError(t, err)
	assert.Equal(t, "", doc.Status)
	assert.Equal(t, 0, doc.Qty)
	assert.True(t, doc.Total.IsZero())
	assert.Nil(t, doc.Tags)
	assert.True(t, doc.Due.IsZero())
}

func TestDecodeNewRejectsBadFields(t *testing.T) {
	dt := invoiceType(t)
	tests := []struct {
		name   string
		body   string
		field  string
		reason string // substring
	}{
		{"unknown field", `{"nope": 1}`, "nope", "unknown field"},
		{"field by Go name", `{"Customer": "ACME"}`, "Customer", "unknown field"},
		{"hidden by Meta", `{"secret": "s"}`, "secret", "unknown field"},
		{"hidden by json tag", `{"password_hash": "h"}`, "password_hash", "unknown field"},
		{"hidden by Go name", `{"PasswordHash": "h"}`, "PasswordHash", "unknown field"},
		{"owner", `{"owner": "mallory"}`, "owner", "read-only field"},
		{"tenant_id", `{"tenant_id": "other"}`, "tenant_id", "read-only field"},
		{"version", `{"version": 7}`, "version", "read-only field"},
		{"created_at", `{"created_at": "2026-01-31T09:30:00Z"}`, "created_at", "read-only field"},
		{"modified_at", `{"modified_at": "2026-01-31T09:30:00Z"}`, "modified_at", "read-only field"},
		{"modified_by", `{"modified_by": "x"}`, "modified_by", "read-only field"},
		{"name without prompt naming", `{"name": "INV-1"}`, "name", "read-only field"},
		{"read-only by Meta", `{"approved_by": "boss"}`, "approved_by", "read-only field"},
		{"read-only even when null", `{"owner": null}`, "owner", "read-only field"},
		{"string from number", `{"customer": 5}`, "customer", "must be a string"},
		{"string from object", `{"customer": {}}`, "customer", "must be a string"},
		{"int from string", `{"qty": "3"}`, "qty", "must be an integer"},
		{"int from fraction", `{"qty": 1.5}`, "qty", "must be an integer"},
		{"int overflow", `{"qty": 1e40}`, "qty", "must be an integer"},
		{"uint from negative", `{"count": -1}`, "count", "must be a non-negative integer"},
		{"float from string", `{"ratio": "0.5"}`, "ratio", "must be a number"},
		{"bool from string", `{"paid": "yes"}`, "paid", "must be true or false"},
		{"bool from number", `{"paid": 1}`, "paid", "must be true or false"},
		{"list from string", `{"tags": "a,b"}`, "tags", "must be a list"},
		{"list of numbers", `{"tags": [1]}`, "tags", "must be a list"},
		{"object from list", `{"extra": [1]}`, "extra", "must be an object"},
		{"nested unknown field", `{"address": {"city": "x", "street": "y"}}`, "address", `unknown field "street"`},
		{"time from text", `{"due": "next tuesday"}`, "due", "RFC 3339"},
		{"time from number", `{"due": 1767225600}`, "due", "RFC 3339"},
		{"time without zone", `{"due": "2026-01-31T09:30:00"}`, "due", "RFC 3339"},
		{"decimal from text", `{"total": "twelve"}`, "total", "decimal"},
		{"decimal from bool", `{"total": true}`, "total", "decimal"},
		{"decimal with exponent", `{"total": 1e3}`, "total", "decimal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeInvoice(t, dt, tt.body)
			fe := fieldErrors(t, err)
			assert.Equal(t, []string{tt.field}, fieldKeys(fe))
			assert.Contains(t, fe[tt.field], tt.reason)
		})
	}
}

func TestDecodeNewReportsEveryBadField(t *testing.T) {
	dt := invoiceType(t)
	_, err := decodeInvoice(t, dt, `{"customer": 1, "qty": "x", "owner": "m", "nope": true, "secret": "s", "total": "bad", "status": "ok"}`)
	fe := fieldErrors(t, err)
	assert.ElementsMatch(t, []string{"customer", "qty", "owner", "nope", "secret", "total"}, fieldKeys(fe))
	assert.Equal(t, "must be a string", fe["customer"])
	assert.Equal(t, "must be an integer", fe["qty"])
	assert.Equal(t, "read-only field", fe["owner"])
	assert.Equal(t, "unknown field", fe["nope"])
	assert.Equal(t, "unknown field", fe["secret"])
}

func TestDecodeNewRejectsBadBodies(t *testing.T) {
	dt := invoiceType(t)
	tests := []struct {
		name string
		body string
		want string // prefix of the Message
	}{
		{"empty", ``, "request body must be a JSON object"},
		{"whitespace", " \n\t ", "request body must be a JSON object"},
		{"null", `null`, "request body must be a JSON object"},
		{"array", `[{"customer": "ACME"}]`, "request body must be a JSON object"},
		{"string", `"ACME"`, "request body must be a JSON object"},
		{"number", `42`, "request body must be a JSON object"},
		{"truncated", `{"customer": `, "malformed JSON"},
		{"trailing comma", `{"customer": "ACME",}`, "malformed JSON"},
		{"single quotes", `{'customer': 'ACME'}`, "malformed JSON"},
		{"two objects", `{"customer": "A"} {"customer": "B"}`, "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeInvoice(t, dt, tt.body)
			msg := validationMessage(t, err)
			assert.True(t, strings.HasPrefix(msg, tt.want), "message %q", msg)
			fe := fieldErrors(t, err)
			assert.Empty(t, fe)
		})
	}
}

func TestDecodeNewNameWithPromptNaming(t *testing.T) {
	meta := invoiceMeta()
	meta.Naming = doctype.NamingPrompt
	dt := register[Invoice](t, meta)

	doc, err := decodeInvoice(t, dt, `{"name": "INV-CUSTOM-1", "customer": "ACME"}`)
	require.NoError(t, err)
	assert.Equal(t, "INV-CUSTOM-1", doc.Name)
	assert.Equal(t, "ACME", doc.Customer)

	_, err = decodeInvoice(t, dt, `{"name": 12}`)
	fe := fieldErrors(t, err)
	assert.Equal(t, "must be a string", fe["name"])

	// Other base fields stay read-only.
	_, err = decodeInvoice(t, dt, `{"name": "X", "owner": "m"}`)
	fe = fieldErrors(t, err)
	assert.Equal(t, []string{"owner"}, fieldKeys(fe))

	// Series and field naming do not accept a name either.
	for _, naming := range []string{"INV-.####", "field:customer", "uuid"} {
		meta := invoiceMeta()
		meta.Naming = naming
		dt := register[Invoice](t, meta)
		_, err := decodeInvoice(t, dt, `{"name": "X"}`)
		fe := fieldErrors(t, err)
		assert.Equal(t, "read-only field", fe["name"], naming)
	}
}

// stored returns an invoice as it would be read from the store.
func stored() *Invoice {
	paidAt := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	doc := &Invoice{
		Customer:     "ACME",
		Status:       "Draft",
		Qty:          2,
		Total:        doctype.MustDecimal("12.50"),
		Due:          time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		PaidAt:       &paidAt,
		Tags:         doctype.StringList{"x"},
		ApprovedBy:   "boss",
		Secret:       "top-secret",
		PasswordHash: "hash-value",
	}
	doc.Base = doctype.Base{
		TenantID:   "acme",
		Name:       "INV-0001",
		Owner:      "alice",
		CreatedAt:  time.Date(2026, 1, 31, 9, 30, 0, 0, time.UTC),
		ModifiedAt: time.Date(2026, 1, 31, 10, 0, 0, 123000, time.UTC),
		ModifiedBy: "alice",
		Version:    4,
	}
	return doc
}

func TestApplyPatchMerges(t *testing.T) {
	dt := invoiceType(t)
	doc := stored()
	want := *stored()
	want.Qty = 5
	want.Customer = ""
	want.Tags = doctype.StringList{"y", "z"}

	version, hasVersion, err := dt.ApplyPatch(doc, []byte(`{"qty": 5, "customer": null, "tags": ["y", "z"]}`))
	require.NoError(t, err)
	assert.False(t, hasVersion)
	assert.Zero(t, version)
	assert.Equal(t, want, *doc, "absent fields keep their values; null clears")
}

func TestApplyPatchEmptyObject(t *testing.T) {
	dt := invoiceType(t)
	doc := stored()
	_, hasVersion, err := dt.ApplyPatch(doc, []byte(`{}`))
	require.NoError(t, err)
	assert.False(t, hasVersion)
	assert.Equal(t, *stored(), *doc)
}

func TestApplyPatchReturnsVersion(t *testing.T) {
	dt := invoiceType(t)
	doc := stored()
	version, hasVersion, err := dt.ApplyPatch(doc, []byte(`{"version": 3, "status": "Paid"}`))
	require.NoError(t, err)
	assert.True(t, hasVersion)
	assert.Equal(t, int64(3), version)
	assert.Equal(t, int64(4), doc.Version, "version is returned, not applied")
	assert.Equal(t, "Paid", doc.Status)

	_, _, err = dt.ApplyPatch(stored(), []byte(`{"version": "3"}`))
	fe := fieldErrors(t, err)
	assert.Equal(t, "must be an integer", fe["version"])
}

func TestApplyPatchReadOnlyFields(t *testing.T) {
	dt := invoiceType(t)
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"same owner", `{"owner": "alice"}`, true},
		{"other owner", `{"owner": "mallory"}`, false},
		{"same name", `{"name": "INV-0001"}`, true},
		{"other name", `{"name": "INV-0002"}`, false},
		{"same tenant", `{"tenant_id": "acme"}`, true},
		{"other tenant", `{"tenant_id": "evil"}`, false},
		{"null tenant", `{"tenant_id": null}`, false},
		{"same Meta read-only", `{"approved_by": "boss"}`, true},
		{"other Meta read-only", `{"approved_by": "me"}`, false},
		{"same time", `{"created_at": "2026-01-31T09:30:00Z"}`, true},
		{"same time, other offset", `{"created_at": "2026-01-31T11:00:00+01:30"}`, true},
		{"same time, fractional zeros", `{"created_at": "2026-01-31T09:30:00.000000Z"}`, true},
		{"same time with micros", `{"modified_at": "2026-01-31T10:00:00.000123Z"}`, true},
		{"other time", `{"created_at": "2026-01-31T09:30:01Z"}`, false},
		{"same pointer time", `{"paid_at": "2026-02-01T08:00:00Z"}`, true},
		{"other pointer time", `{"paid_at": "2026-02-01T08:00:01Z"}`, false},
		{"null pointer time", `{"paid_at": null}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := stored()
			_, _, err := dt.ApplyPatch(doc, []byte(tt.body))
			if tt.ok {
				require.NoError(t, err)
			} else {
				fe := fieldErrors(t, err)
				require.Len(t, fe, 1)
				for _, reason := range fe {
					assert.Equal(t, "read-only field", reason)
				}
			}
			assert.Equal(t, *stored(), *doc, "read-only fields never change")
		})
	}
}

// A read-only *time.Time field sent back in another offset is the same instant,
// as it is for time.Time fields.
func TestApplyPatchReadOnlyPointerTimeAcrossOffsets(t *testing.T) {
	dt := invoiceType(t)
	doc := stored()
	_, _, err := dt.ApplyPatch(doc, []byte(`{"paid_at": "2026-02-01T09:00:00+01:00"}`))
	require.NoError(t, err)
	assert.Equal(t, *stored(), *doc)
}

func TestApplyPatchAcceptsTheFetchedDocumentBack(t *testing.T) {
	dt := invoiceType(t)
	body, err := dt.MarshalDoc(stored(), nil)
	require.NoError(t, err)

	// The client edits one field of what it fetched and sends the whole thing back.
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	m["qty"] = 9
	body, err = json.Marshal(m)
	require.NoError(t, err)

	doc := stored()
	version, hasVersion, err := dt.ApplyPatch(doc, body)
	require.NoError(t, err)
	assert.True(t, hasVersion)
	assert.Equal(t, int64(4), version)
	want := *stored()
	want.Qty = 9
	assert.Equal(t, want, *doc)
}

func TestApplyPatchLeavesDocUnchangedOnError(t *testing.T) {
	dt := invoiceType(t)
	tests := []struct {
		name   string
		body   string
		fields []string
	}{
		{"unknown field", `{"qty": 9, "customer": "X", "nope": 1}`, []string{"nope"}},
		{"hidden field", `{"qty": 9, "secret": "new"}`, []string{"secret"}},
		{"json:- field", `{"qty": 9, "password_hash": "new"}`, []string{"password_hash"}},
		{"read-only", `{"qty": 9, "owner": "mallory"}`, []string{"owner"}},
		{"wrong type", `{"qty": 9, "customer": 5}`, []string{"customer"}},
		{"several", `{"qty": "nine", "customer": 5, "status": "Paid", "version": "x"}`, []string{"qty", "customer", "version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := stored()
			version, hasVersion, err := dt.ApplyPatch(doc, []byte(tt.body))
			fe := fieldErrors(t, err)
			assert.ElementsMatch(t, tt.fields, fieldKeys(fe))
			assert.Equal(t, *stored(), *doc)
			assert.Zero(t, version)
			assert.False(t, hasVersion)
		})
	}
}

func TestApplyPatchRejectsBadBodies(t *testing.T) {
	dt := invoiceType(t)
	for body, want := range map[string]string{
		``:               "request body must be a JSON object",
		`[]`:             "request body must be a JSON object",
		`null`:           "request body must be a JSON object",
		`{"qty": 1`:      "malformed JSON",
		`{"qty": 1} xyz`: "malformed JSON",
	} {
		doc := stored()
		_, _, err := dt.ApplyPatch(doc, []byte(body))
		msg := validationMessage(t, err)
		assert.True(t, strings.HasPrefix(msg, want), "%q: %q", body, msg)
		assert.Equal(t, *stored(), *doc)
	}
}

func TestMarshalDoc(t *testing.T) {
	dt := invoiceType(t)
	b, err := dt.MarshalDoc(stored(), nil)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "top-secret")
	assert.NotContains(t, string(b), "hash-value")

	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.ElementsMatch(t, dt.SortedFieldNames(), mapKeys(m), "every visible field and only those")
	assert.NotContains(t, m, "secret")
	assert.NotContains(t, m, "password_hash")
	assert.Equal(t, "ACME", m["customer"])
	assert.Equal(t, "12.50", m["total"], "decimals travel as strings")
	assert.Equal(t, "INV-0001", m["name"])
	assert.Equal(t, "acme", m["tenant_id"])
	assert.Equal(t, float64(4), m["version"])
	assert.Equal(t, "2026-01-31T09:30:00Z", m["created_at"])
	assert.Equal(t, []any{"x"}, m["tags"])

	// A value works as well as a pointer.
	b2, err := dt.MarshalDoc(*stored(), nil)
	require.NoError(t, err)
	assert.JSONEq(t, string(b), string(b2))
}

func TestMarshalDocProjection(t *testing.T) {
	dt := invoiceType(t)
	tests := []struct {
		name   string
		fields []string
		want   string
	}{
		{"some fields", []string{"customer", "total"}, `{"customer":"ACME","total":"12.50"}`},
		{"hidden and unknown are dropped", []string{"name", "secret", "password_hash", "nope"}, `{"name":"INV-0001"}`},
		{"only hidden", []string{"secret"}, `{}`},
		{"repeated", []string{"qty", "qty"}, `{"qty":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := dt.MarshalDoc(stored(), tt.fields)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(b))
		})
	}
}

func TestMarshalDocWithoutHiddenFields(t *testing.T) {
	dt := register[Note](t, doctype.Meta{Name: "Note"})
	doc := &Note{Title: "T", Body: "B", Stars: 3}
	doc.Name = "n1"
	b, err := dt.MarshalDoc(doc, nil)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.ElementsMatch(t, dt.SortedFieldNames(), mapKeys(m))
	assert.Equal(t, "T", m["title"])
	assert.Equal(t, float64(3), m["stars"])

	b, err = dt.MarshalDoc(doc, []string{"title"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"title":"T"}`, string(b))
}

func TestToMap(t *testing.T) {
	dt := invoiceType(t)
	m := dt.ToMap(stored(), nil)
	assert.ElementsMatch(t, dt.SortedFieldNames(), mapKeys(m))
	assert.Equal(t, doctype.MustDecimal("12.50"), m["total"], "Go values, not JSON")
	assert.Equal(t, 2, m["qty"])
	assert.Equal(t, "INV-0001", m["name"])
	assert.NotContains(t, m, "secret")
	assert.NotContains(t, m, "password_hash")

	m = dt.ToMap(*stored(), []string{"qty", "secret", "owner", "nope"})
	assert.Equal(t, map[string]any{"qty": 2, "owner": "alice"}, m)
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCoerceFilter(t *testing.T) {
	dt := invoiceType(t)
	due := time.Date(2026, 1, 31, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   ports.Filter
		want any // the coerced value
	}{
		{"string", ports.Filter{Field: "customer", Op: ports.OpEq, Value: "ACME"}, "ACME"},
		{"numeric text stays text on a string field", ports.Filter{Field: "customer", Op: ports.OpEq, Value: "5"}, "5"},
		{"int from text", ports.Filter{Field: "qty", Op: ports.OpGt, Value: "5"}, 5},
		{"int from JSON number", ports.Filter{Field: "qty", Op: ports.OpLe, Value: float64(5)}, 5},
		{"int from int", ports.Filter{Field: "qty", Op: ports.OpNe, Value: 7}, 7},
		{"uint from text", ports.Filter{Field: "count", Op: ports.OpEq, Value: "3"}, uint(3)},
		{"float from text", ports.Filter{Field: "ratio", Op: ports.OpLt, Value: "0.5"}, 0.5},
		{"bool from text", ports.Filter{Field: "paid", Op: ports.OpEq, Value: "true"}, true},
		{"bool", ports.Filter{Field: "paid", Op: ports.OpEq, Value: false}, false},
		{"decimal from text", ports.Filter{Field: "total", Op: ports.OpGe, Value: "12.50"}, doctype.MustDecimal("12.50")},
		{"decimal from number", ports.Filter{Field: "total", Op: ports.OpGe, Value: 12.5}, doctype.MustDecimal("12.5")},
		{"decimal", ports.Filter{Field: "total", Op: ports.OpGe, Value: doctype.MustDecimal("1.10")}, doctype.MustDecimal("1.10")},
		{"time from text", ports.Filter{Field: "due", Op: ports.OpLt, Value: "2026-01-31T09:30:00Z"}, due},
		{"time", ports.Filter{Field: "due", Op: ports.OpLt, Value: due}, due},
		{"base time", ports.Filter{Field: "modified_at", Op: ports.OpGt, Value: "2026-01-31T09:30:00Z"}, due},
		{"version from text", ports.Filter{Field: "version", Op: ports.OpEq, Value: "2"}, int64(2)},
		{"read-only field is filterable", ports.Filter{Field: "approved_by", Op: ports.OpEq, Value: "boss"}, "boss"},
		{"like", ports.Filter{Field: "customer", Op: ports.OpLike, Value: "AC%"}, "AC%"},
		{"in list", ports.Filter{Field: "qty", Op: ports.OpIn, Value: []any{"1", float64(2), 3}}, []any{1, 2, 3}},
		{"in comma text", ports.Filter{Field: "qty", Op: ports.OpIn, Value: "1, 2,3"}, []any{1, 2, 3}},
		{"not in strings", ports.Filter{Field: "status", Op: ports.OpNotIn, Value: "Draft,Cancelled"}, []any{"Draft", "Cancelled"}},
		{"in single", ports.Filter{Field: "status", Op: ports.OpIn, Value: "Draft"}, []any{"Draft"}},
		{"in empty list", ports.Filter{Field: "status", Op: ports.OpIn, Value: []any{}}, []any{}},
		{"in decimals", ports.Filter{Field: "total", Op: ports.OpIn, Value: []any{"1.5", 2}}, []any{doctype.MustDecimal("1.5"), doctype.MustDecimal("2")}},
		{"is null ignores value", ports.Filter{Field: "customer", Op: ports.OpIsNull, Value: "whatever"}, nil},
		{"is not null", ports.Filter{Field: "paid_at", Op: ports.OpIsNotNull}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dt.CoerceFilter(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.in.Field, got.Field)
			assert.Equal(t, tt.in.Op, got.Op)
			if wt, ok := tt.want.(time.Time); ok {
				gt, ok := got.Value.(time.Time)
				require.True(t, ok, "got %T", got.Value)
				assert.True(t, wt.Equal(gt))
				return
			}
			assert.Equal(t, tt.want, got.Value)
		})
	}
}

func TestCoerceFilterAlwaysAllowsName(t *testing.T) {
	meta := invoiceMeta()
	meta.Filterable = []string{"customer"}
	dt := register[Invoice](t, meta)

	got, err := dt.CoerceFilter(ports.Filter{Field: "name", Op: ports.OpEq, Value: "INV-1"})
	require.NoError(t, err)
	assert.Equal(t, "INV-1", got.Value)
	_, err = dt.CoerceFilter(ports.Filter{Field: "customer", Op: ports.OpEq, Value: "A"})
	require.NoError(t, err)

	_, err = dt.CoerceFilter(ports.Filter{Field: "qty", Op: ports.OpEq, Value: 1})
	fe := fieldErrors(t, err)
	assert.Equal(t, "cannot be filtered on", fe["qty"])
}

func TestCoerceFilterRejects(t *testing.T) {
	dt := invoiceType(t)
	tests := []struct {
		name   string
		in     ports.Filter
		reason string // substring
	}{
		{"unknown field", ports.Filter{Field: "nope", Op: ports.OpEq, Value: "x"}, "unknown field"},
		{"hidden field", ports.Filter{Field: "secret", Op: ports.OpEq, Value: "x"}, "unknown field"},
		{"json:- field", ports.Filter{Field: "password_hash", Op: ports.OpEq, Value: "x"}, "unknown field"},
		{"list field", ports.Filter{Field: "tags", Op: ports.OpEq, Value: "x"}, "cannot be filtered on"},
		{"map field", ports.Filter{Field: "extra", Op: ports.OpIsNull}, "cannot be filtered on"},
		{"struct field", ports.Filter{Field: "address", Op: ports.OpIsNull}, "cannot be filtered on"},
		{"unstored field", ports.Filter{Field: "computed", Op: ports.OpEq, Value: "x"}, "cannot be filtered on"},
		{"unknown operator", ports.Filter{Field: "customer", Op: "~", Value: "x"}, `unknown operator "~"`},
		{"empty operator", ports.Filter{Field: "customer", Value: "x"}, "unknown operator"},
		{"like on int", ports.Filter{Field: "qty", Op: ports.OpLike, Value: "1%"}, "like needs a text field"},
		{"like on decimal", ports.Filter{Field: "total", Op: ports.OpLike, Value: "1%"}, "like needs a text field"},
		{"like with number", ports.Filter{Field: "customer", Op: ports.OpLike, Value: 5}, "like needs a text pattern"},
		{"like with nil", ports.Filter{Field: "customer", Op: ports.OpLike}, "like needs a text pattern"},
		{"in with number", ports.Filter{Field: "qty", Op: ports.OpIn, Value: 5}, "in needs a list"},
		{"not in with nil", ports.Filter{Field: "qty", Op: ports.OpNotIn}, "not in needs a list"},
		{"in with bad item", ports.Filter{Field: "qty", Op: ports.OpIn, Value: []any{1, "two"}}, "must be an integer"},
		{"in comma text with bad item", ports.Filter{Field: "qty", Op: ports.OpIn, Value: "1,x"}, "must be an integer"},
		{"nil value for =", ports.Filter{Field: "customer", Op: ports.OpEq}, `use "is null"`},
		{"nil value for <", ports.Filter{Field: "qty", Op: ports.OpLt}, "needs a value"},
		{"int from text", ports.Filter{Field: "qty", Op: ports.OpEq, Value: "abc"}, "must be an integer"},
		{"int from fraction", ports.Filter{Field: "qty", Op: ports.OpEq, Value: "1.5"}, "must be an integer"},
		{"bool from text", ports.Filter{Field: "paid", Op: ports.OpEq, Value: "yes"}, "true or false"},
		{"string from number", ports.Filter{Field: "customer", Op: ports.OpEq, Value: 5}, "must be a string"},
		{"decimal from text", ports.Filter{Field: "total", Op: ports.OpEq, Value: "abc"}, "decimal"},
		{"time from text", ports.Filter{Field: "due", Op: ports.OpEq, Value: "yesterday"}, "RFC 3339"},
		{"unmarshalable value", ports.Filter{Field: "customer", Op: ports.OpEq, Value: make(chan int)}, "invalid filter value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dt.CoerceFilter(tt.in)
			fe := fieldErrors(t, err)
			assert.Equal(t, []string{tt.in.Field}, fieldKeys(fe), "the error names the filter's field")
			assert.Contains(t, fe[tt.in.Field], tt.reason)
		})
	}
}

// ports.Filter documents Value for in/not in as "a slice": a typed Go slice
// from app code must work like the []any a JSON decoder produces.
func TestCoerceFilterAcceptsTypedSlices(t *testing.T) {
	dt := invoiceType(t)
	got, err := dt.CoerceFilter(ports.Filter{Field: "status", Op: ports.OpIn, Value: []string{"Draft", "Paid"}})
	require.NoError(t, err)
	assert.Equal(t, []any{"Draft", "Paid"}, got.Value)

	got, err = dt.CoerceFilter(ports.Filter{Field: "qty", Op: ports.OpNotIn, Value: []int{1, 2}})
	require.NoError(t, err)
	assert.Equal(t, []any{1, 2}, got.Value)
}
