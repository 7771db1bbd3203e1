package jsonstrict_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/jsonstrict"
)

// fields returns err's field map, failing unless err is a *core.ValidationError.
func fields(t *testing.T, err error) map[string]string {
	t.Helper()
	var ve *core.ValidationError
	require.True(t, errors.As(err, &ve), "want *core.ValidationError, got %T %v", err, err)
	require.ErrorIs(t, err, core.ErrValidation)
	return ve.FieldMap()
}

func TestCheck(t *testing.T) {
	const dup, utf = jsonstrict.ReasonDuplicate, jsonstrict.ReasonUTF8
	tests := []struct {
		name  string
		body  string
		match jsonstrict.KeyMatch
		want  map[string]string // nil: accepted
	}{
		{"plain object", `{"username":"a","password":"b","n":[1,2.5e3,-0.1],"o":{"x":null,"y":true,"z":false}}`, jsonstrict.Exact, nil},
		{"top-level duplicate", `{"username":"a","username":"b"}`, jsonstrict.Exact, map[string]string{"username": dup}},
		{"duplicate thrice named once", `{"a":1,"a":2,"a":3}`, jsonstrict.Exact, map[string]string{"a": dup}},
		{"nested object", `{"address":{"city":"A","zip":"1","city":"B"}}`, jsonstrict.Exact, map[string]string{"address.city": dup}},
		{"inside an array of objects", `{"lines":[{"qty":1},{"qty":1,"qty":9}]}`, jsonstrict.Exact, map[string]string{"lines[1].qty": dup}},
		{"in a top-level array", `[{"a":1},{"a":1,"a":2}]`, jsonstrict.Exact, map[string]string{"[1].a": dup}},
		{"same key in sibling objects is fine", `{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}]}`, jsonstrict.Exact, nil},
		{"escaped spelling of the same key", `{"user":"a","\u0075ser":"b"}`, jsonstrict.Exact, map[string]string{"user": dup}},
		{"every duplicate named", `{"a":1,"b":2,"a":3,"b":4}`, jsonstrict.Exact, map[string]string{"a": dup, "b": dup}},
		{"case differs: not a JSON duplicate", `{"username":"a","Username":"b"}`, jsonstrict.Exact, nil},
		{"case differs: a struct duplicate", `{"username":"a","Username":"b"}`, jsonstrict.Fold, map[string]string{"username": dup}},
		{"fold: Kelvin sign folds to k", `{"k":1,"\u212a":2}`, jsonstrict.Fold, map[string]string{"k": dup}},
		{"fold: nested", `{"o":{"Zip":"1","ZIP":"2"}}`, jsonstrict.Fold, map[string]string{"o.Zip": dup}},
		{"invalid UTF-8 in a value", "{\"customer\":\"AC\xffME\"}", jsonstrict.Exact, map[string]string{"customer": utf}},
		{"invalid UTF-8 in a nested value", "{\"lines\":[{\"item\":\"ok\"},{\"item\":\"\xc3\x28\"}]}", jsonstrict.Exact, map[string]string{"lines[1].item": utf}},
		{"UTF-8 encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}", jsonstrict.Exact, map[string]string{"a": utf}},
		{"truncated UTF-8 sequence", "{\"a\":\"\xe2\x82\"}", jsonstrict.Exact, map[string]string{"a": utf}},
		{"invalid UTF-8 in a key", "{\"cust\xffomer\":\"a\"}", jsonstrict.Exact, map[string]string{"body": jsonstrict.ReasonKeyUTF8}},
		{"invalid UTF-8 in a nested key", "{\"o\":{\"\xff\":1}}", jsonstrict.Exact, map[string]string{"body": jsonstrict.ReasonKeyUTF8}},
		{"invalid UTF-8 in a top-level string", "\"\xff\"", jsonstrict.Exact, map[string]string{"body": utf}},
		{"escaped surrogate pair", `{"emoji":"\ud83d\ude00","upper":"\uD83D\uDE00"}`, jsonstrict.Exact, nil},
		{"raw emoji and escapes", `{"s":"😀 é \u00e9 \n\t\"\\\/ \b\f\r \ufffd"}`, jsonstrict.Exact, nil},
		{"lone high surrogate", `{"s":"\ud800"}`, jsonstrict.Exact, map[string]string{"s": utf}},
		{"lone low surrogate", `{"s":"a\udc00b"}`, jsonstrict.Exact, map[string]string{"s": utf}},
		{"high surrogate then a letter", `{"s":"\ud800\u0041"}`, jsonstrict.Exact, map[string]string{"s": utf}},
		{"two high surrogates", `{"s":"\ud83d\ud83d\ude00"}`, jsonstrict.Exact, map[string]string{"s": utf}},
		{"lone surrogate in a key", `{"\ud800":1}`, jsonstrict.Exact, map[string]string{"body": jsonstrict.ReasonKeyUTF8}},
		{"duplicate and invalid UTF-8 together", "{\"a\":1,\"a\":2,\"b\":\"\xff\"}", jsonstrict.Exact, map[string]string{"a": dup, "b": utf}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := jsonstrict.Check([]byte(tt.body), tt.match)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, tt.want, fields(t, err))
		})
	}
}

func TestCheckManyKeys(t *testing.T) {
	// Beyond the linear comparison: duplicates are still found, in both modes.
	var b strings.Builder
	b.WriteString(`{`)
	for i := range 200 {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	unique := b.String() + `"last":{"K7":1,"k7":2}}`
	assert.NoError(t, jsonstrict.Check([]byte(unique), jsonstrict.Exact))
	assert.Equal(t, map[string]string{"last.K7": jsonstrict.ReasonDuplicate}, fields(t, jsonstrict.Check([]byte(unique), jsonstrict.Fold)))
	assert.Equal(t, map[string]string{"k150": jsonstrict.ReasonDuplicate},
		fields(t, jsonstrict.Check([]byte(b.String()+`"k150":1}`), jsonstrict.Exact)))
	assert.Equal(t, map[string]string{"k150": jsonstrict.ReasonDuplicate},
		fields(t, jsonstrict.Check([]byte(b.String()+`"K150":1}`), jsonstrict.Fold)))

	// A hostile body gets a bounded answer.
	b.Reset()
	b.WriteString(`{`)
	for i := range 1000 {
		fmt.Fprintf(&b, `"d%d":1,"d%d":2,`, i, i)
	}
	b.WriteString(`"end":0}`)
	assert.Len(t, fields(t, jsonstrict.Check([]byte(b.String()), jsonstrict.Exact)), 20)
}

func TestCheckSyntax(t *testing.T) {
	for _, body := range []string{
		``, ` `, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `{'a':1}`, `{"a":1} {"a":2}`, `{"a":1}x`,
		`01`, `-`, `1.`, `1e`, `.5`, `+1`, `tru`, `nul`, `"a`, "\"a\x01\"", `"\x"`, `"\u12"`, `"\u12zz"`,
		strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001), "\xff",
	} {
		err := jsonstrict.Check([]byte(body), jsonstrict.Exact)
		var se *jsonstrict.SyntaxError
		assert.True(t, errors.As(err, &se), "%q: %v", body, err)
		assert.False(t, json.Valid([]byte(body)), "%q: the standard library agrees", body)
	}
	deep := strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000)
	assert.NoError(t, jsonstrict.Check([]byte(deep), jsonstrict.Exact), "encoding/json's depth limit, not less")
}

func TestObject(t *testing.T) {
	ms, err := jsonstrict.Object([]byte(` {"b": [1, {"x":2}] ,"\u0061":"s", "c":null} `), jsonstrict.Exact)
	require.NoError(t, err)
	require.Len(t, ms, 3)
	assert.Equal(t, jsonstrict.Member{Key: "b", Value: []byte(`[1, {"x":2}]`)}, ms[0])
	assert.Equal(t, jsonstrict.Member{Key: "a", Value: []byte(`"s"`)}, ms[1])
	assert.Equal(t, jsonstrict.Member{Key: "c", Value: []byte(`null`)}, ms[2])

	ms, err = jsonstrict.Object([]byte(`{}`), jsonstrict.Exact)
	require.NoError(t, err)
	assert.Empty(t, ms)

	for _, body := range []string{`[]`, `null`, `"s"`, `1`, `[{"a":1,"a":2}]`} {
		_, err := jsonstrict.Object([]byte(body), jsonstrict.Exact)
		assert.ErrorIs(t, err, jsonstrict.ErrNotObject, body)
	}
	for _, body := range []string{``, `[`, `{"a":1`, `{"a":1}{}`} {
		_, err := jsonstrict.Object([]byte(body), jsonstrict.Exact)
		var se *jsonstrict.SyntaxError
		assert.True(t, errors.As(err, &se), "%q: %v", body, err)
	}
	_, err = jsonstrict.Object([]byte(`{"a":1,"a":2}`), jsonstrict.Exact)
	assert.Equal(t, map[string]string{"a": jsonstrict.ReasonDuplicate}, fields(t, err))
}

func TestUnmarshal(t *testing.T) {
	type login struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	var l login
	require.NoError(t, jsonstrict.Unmarshal([]byte(`{"username":"ann","password":"p\u00e9"}`), &l))
	assert.Equal(t, login{"ann", "pé"}, l)

	for body, want := range map[string]map[string]string{
		`{"username":"a","username":"b","password":"p"}`: {"username": jsonstrict.ReasonDuplicate},
		`{"username":"a","Username":"b","password":"p"}`: {"username": jsonstrict.ReasonDuplicate},
		`{"USERNAME":"a","username":"b"}`:                {"USERNAME": jsonstrict.ReasonDuplicate},
		"{\"username\":\"a\xff\"}":                       {"username": jsonstrict.ReasonUTF8},
		`{"username":"\udfff"}`:                          {"username": jsonstrict.ReasonUTF8},
	} {
		l = login{}
		err := jsonstrict.Unmarshal([]byte(body), &l)
		assert.Equal(t, want, fields(t, err), body)
		assert.Equal(t, login{}, l, "%s: nothing decoded", body)
	}

	err := jsonstrict.Unmarshal([]byte(`{"username":"a","role":"admin"}`), &l)
	assert.ErrorContains(t, err, `unknown field "role"`)
	err = jsonstrict.Unmarshal([]byte(`{"username":1}`), &l)
	var te *json.UnmarshalTypeError
	assert.True(t, errors.As(err, &te), "%v", err)
	err = jsonstrict.Unmarshal([]byte(`{"username":"a"} {"username":"b"}`), &l)
	var se *jsonstrict.SyntaxError
	assert.True(t, errors.As(err, &se), "trailing data is refused, not ignored: %v", err)
}

// FuzzCheck holds the scanner to encoding/json's grammar: for input that is
// valid UTF-8 without escapes of surrogates and with no object naming a key
// twice, Check accepts exactly what json.Valid accepts; it never accepts what
// json.Valid refuses.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `[1,"x",{"b":[true,false,null]}]`, `{"a":{"a":{"a":1}}}`, `-0.5e+10`, `"\ud83d\ude00"`,
		`{"a":1,"a":2}`, "\"\xff\"", `{"a" : [ ] , "b" : { } }`, `{"a":1,}`, `01`, `"\u"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := jsonstrict.Check(data, jsonstrict.Exact)
		valid := json.Valid(data)
		if err == nil {
			if !valid {
				t.Fatalf("Check accepts what encoding/json refuses: %q", data)
			}
			return
		}
		var se *jsonstrict.SyntaxError
		if errors.As(err, &se) && valid {
			t.Fatalf("Check refuses valid JSON: %q: %v", data, err)
		}
		var ve *core.ValidationError
		if errors.As(err, &ve) && valid && utf8.Valid(data) && !strings.Contains(string(data), `\u`) && !hasDuplicate(t, data) {
			t.Fatalf("Check reports %v for clean JSON %q", err, data)
		}
	})
}

// hasDuplicate reports whether some object in data names a key twice, by
// walking json.Decoder's tokens.
func hasDuplicate(t *testing.T, data []byte) bool {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	type frame struct {
		obj   bool
		key   bool // the next token is a key
		names map[string]bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.key {
			if s, ok := tok.(string); ok {
				if top.names[s] {
					return true
				}
				top.names[s] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			if top != nil && top.obj {
				top.key = true
			}
			stack = append(stack, &frame{obj: true, key: true, names: map[string]bool{}})
		case json.Delim('['):
			if top != nil && top.obj {
				top.key = true
			}
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if top != nil && top.obj {
				top.key = true
			}
		}
	}
}

// A typical resource body of about 300 bytes.
var body300 = []byte(`{"customer":"ACME Corporation","status":"Draft","qty":12,"count":3,"ratio":0.25,"paid":false,"total":"1249.50","due":"2026-01-31T09:30:00Z","tags":["priority","export","q1"],"extra":{"po":"PO-2026-0042","channel":"web"},"address":{"city":"Pune","zip":"411001"},"notes":"Deliver to the back door"}`)

// BenchmarkCheck compares the strict check, the one extra pass a JSON body
// gets, with encoding/json's own validity scan of the same 300-byte body.
// core/doctype's BenchmarkStrictJSON measures the decode around it.
func BenchmarkCheck(b *testing.B) {
	b.Run("jsonstrict.Check", func(b *testing.B) {
		b.SetBytes(int64(len(body300)))
		b.ReportAllocs()
		for b.Loop() {
			if err := jsonstrict.Check(body300, jsonstrict.Exact); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(body300)))
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(body300) {
				b.Fatal("invalid")
			}
		}
	})
}
