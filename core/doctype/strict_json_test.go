package doctype_test

import (
	"encoding/json"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/jsonstrict"
)

func TestDecodeNewIsStrict(t *testing.T) {
	const dup, utf = jsonstrict.ReasonDuplicate, jsonstrict.ReasonUTF8
	dt := invoiceType(t)
	tests := []struct {
		name string
		body string
		want map[string]string
	}{
		{"top-level duplicate", `{"customer":"A","qty":1,"customer":"B"}`, map[string]string{"customer": dup}},
		{"escaped spelling of the same key", `{"customer":"A","\u0063ustomer":"B"}`, map[string]string{"customer": dup}},
		{"duplicate in a map field", `{"extra":{"k":"v","k":"w"}}`, map[string]string{"extra.k": dup}},
		{"duplicate in a list of objects", `{"extra":{"rows":[{"a":1},{"a":1,"a":2}]}}`, map[string]string{"extra.rows[1].a": dup}},
		// A struct-typed field is decoded by encoding/json, which matches keys
		// ignoring case: two spellings would let the last one win.
		{"struct field: case-folded duplicate", `{"address":{"city":"A","City":"B"}}`, map[string]string{"address.city": dup}},
		{"invalid UTF-8 in a value", "{\"customer\":\"AC\xffME\"}", map[string]string{"customer": utf}},
		{"invalid UTF-8 nested", "{\"extra\":{\"note\":\"\xc3\x28\"}}", map[string]string{"extra.note": utf}},
		{"invalid UTF-8 in a key", "{\"cust\xffomer\":\"A\"}", map[string]string{"body": jsonstrict.ReasonKeyUTF8}},
		{"lone surrogate escape", `{"customer":"\ud800"}`, map[string]string{"customer": utf}},
		{"lone low surrogate escape", `{"customer":"x\udfffy"}`, map[string]string{"customer": utf}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeInvoice(t, dt, tt.body)
			assert.Equal(t, tt.want, fieldErrors(t, err))
		})
	}
}

func TestDecodeNewStrictAcceptsWhatIsValid(t *testing.T) {
	dt := invoiceType(t)
	doc, err := decodeInvoice(t, dt, `{"customer":"\ud83d\ude00 caf\u00e9 😀","extra":{"k":1,"K":2},"address":{"city":"Pune","zip":"411001"}}`)
	require.NoError(t, err)
	assert.Equal(t, "😀 café 😀", doc.Customer)
	assert.Equal(t, doctype.JSONMap{"k": 1.0, "K": 2.0}, doc.Extra, "a map keeps keys that differ in case: JSON says they differ")
	assert.Equal(t, Address{City: "Pune", Zip: "411001"}, doc.Addr)

	// Case-variant top-level keys are not fields (names are matched exactly).
	_, err = decodeInvoice(t, dt, `{"customer":"A","Customer":"B"}`)
	assert.Equal(t, map[string]string{"Customer": "unknown field"}, fieldErrors(t, err))
}

func TestApplyPatchIsStrict(t *testing.T) {
	dt := invoiceType(t)
	for body, want := range map[string]map[string]string{
		`{"customer":"X","customer":"Y"}`:            {"customer": jsonstrict.ReasonDuplicate},
		`{"version":1,"customer":"X","version":2}`:   {"version": jsonstrict.ReasonDuplicate},
		`{"address":{"zip":"1","ZIP":"2"}}`:          {"address.zip": jsonstrict.ReasonDuplicate},
		"{\"customer\":\"\xff\"}":                    {"customer": jsonstrict.ReasonUTF8},
		`{"customer":"ok","status":"\ud83d"}`:        {"status": jsonstrict.ReasonUTF8},
		"{\"customer\":\"ok\",\"\xfe\":1,\"qty\":2}": {"body": jsonstrict.ReasonKeyUTF8},
	} {
		doc := stored()
		_, _, err := dt.ApplyPatch(doc, []byte(body))
		assert.Equal(t, want, fieldErrors(t, err), "%q", body)
		assert.Equal(t, *stored(), *doc, "%q: doc unchanged", body)
	}
	doc := stored()
	_, _, err := dt.ApplyPatch(doc, []byte(`{"customer":"\ud83d\ude00"}`))
	require.NoError(t, err)
	assert.Equal(t, "😀", doc.Customer)
}

// body300 is a typical resource body of about 300 bytes.
var body300 = []byte(`{"customer":"ACME Corporation Pvt Ltd","status":"Draft","qty":12,"count":3,"ratio":0.25,"paid":false,"total":"1249.50","due":"2026-01-31T09:30:00Z","tags":["priority","export","q1"],"extra":{"po":"PO-2026-0042","channel":"web"},"address":{"city":"Pune","zip":"411001"},"computed":"x"}`)

// BenchmarkStrictJSON measures the strict reader on the hot path: a 300-byte
// resource body. "split/*" compares the step it replaced (encoding/json into
// a map of raw values, keys sorted) with jsonstrict.Object; "DecodeNew" is the
// whole decode; "web" adds the check every JSON request body gets when it is
// read (jsonstrict.Check), the one extra pass over the bytes.
func BenchmarkStrictJSON(b *testing.B) {
	dt, err := doctype.Register[Invoice](doctype.NewRegistry(), invoiceMeta())
	require.NoError(b, err)
	b.Logf("body: %d bytes", len(body300))
	b.Run("split/before_json.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(body300)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body300, &m); err != nil {
				b.Fatal(err)
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
		}
	})
	b.Run("split/after_jsonstrict.Object", func(b *testing.B) {
		b.SetBytes(int64(len(body300)))
		b.ReportAllocs()
		for b.Loop() {
			ms, err := jsonstrict.Object(body300, jsonstrict.Exact)
			if err != nil {
				b.Fatal(err)
			}
			sort.Slice(ms, func(i, j int) bool { return ms[i].Key < ms[j].Key })
		}
	})
	b.Run("DecodeNew", func(b *testing.B) {
		b.SetBytes(int64(len(body300)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := dt.DecodeNew(body300); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("web_Check+DecodeNew", func(b *testing.B) {
		b.SetBytes(int64(len(body300)))
		b.ReportAllocs()
		for b.Loop() {
			if err := jsonstrict.Check(body300, jsonstrict.Exact); err != nil {
				b.Fatal(err)
			}
			if _, err := dt.DecodeNew(body300); err != nil {
				b.Fatal(err)
			}
		}
	})
}
