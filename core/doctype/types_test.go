package doctype_test

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/doctype"
)

// Compile-time checks: the field types work with database/sql.
var (
	_ sql.Scanner    = (*doctype.Decimal)(nil)
	_ driver.Valuer  = doctype.Decimal{}
	_ sql.Scanner    = (*doctype.StringList)(nil)
	_ driver.Valuer  = doctype.StringList(nil)
	_ sql.Scanner    = (*doctype.JSONMap)(nil)
	_ driver.Valuer  = doctype.JSONMap(nil)
	_ json.Marshaler = doctype.Decimal{}
)

func TestParseDecimal(t *testing.T) {
	valid := []struct{ in, want string }{
		{"0", "0"},
		{"42", "42"},
		{"-12.5", "-12.5"},
		{"12.50", "12.50"},
		{"0.001", "0.001"},
		{"007.50", "7.50"},
		{"000", "0"},
		{"00.10", "0.10"},
		{"+3", "3"},
		{"+3.25", "3.25"},
		{"-0", "0"},
		{"-0.00", "0.00"},
		{"-000", "0"},
		{".5", "0.5"},
		{"-.5", "-0.5"},
		{"1.", "1"},
		{" 12.5 ", "12.5"},
		{"12345678901234567890123456789012.123456789012345678", "12345678901234567890123456789012.123456789012345678"},
		{"00000000000000000000000000000000000001.5", "1.5"},
	}
	for _, tt := range valid {
		t.Run(tt.in, func(t *testing.T) {
			d, err := doctype.ParseDecimal(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, d.String())
		})
	}

	invalid := []string{
		"", " ", "abc", "1e5", "1E5", "1.5e-3", "1.2.3", ".", "-", "+", "-.", "--1", "++1", "+-1", "-+1",
		"1,5", "1 000", "0x10", "12a", "a12", "NaN", "Inf", "-Infinity", "1_000", "١٢", "½",
	}
	for _, in := range invalid {
		t.Run("invalid/"+in, func(t *testing.T) {
			d, err := doctype.ParseDecimal(in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "decimal")
			assert.Equal(t, doctype.Decimal{}, d)
		})
	}
}

func TestMustDecimal(t *testing.T) {
	assert.Equal(t, "1.50", doctype.MustDecimal("1.50").String())
	assert.Panics(t, func() { doctype.MustDecimal("1e3") })
}

func TestDecimalZeroValue(t *testing.T) {
	var d doctype.Decimal
	assert.Equal(t, "0", d.String())
	assert.True(t, d.IsZero())
	assert.Equal(t, 0, d.Sign())
	assert.Equal(t, 0, d.Cmp(doctype.MustDecimal("0.000")))
	v, err := d.Value()
	require.NoError(t, err)
	assert.Equal(t, "0", v)
	b, err := json.Marshal(d)
	require.NoError(t, err)
	assert.JSONEq(t, `"0"`, string(b))
}

func TestDecimalCompare(t *testing.T) {
	tests := []struct {
		a, b string
		cmp  int
	}{
		{"12.50", "12.5", 0},
		{"2", "10", -1}, // by value, not by text
		{"10", "9.99", 1},
		{"-1", "-2", 1},
		{"-0.5", "0", -1},
		{"0.1", "0.10000", 0},
		{"1000000000000000000000.000000000000000001", "1000000000000000000000", 1},
	}
	for _, tt := range tests {
		a, b := doctype.MustDecimal(tt.a), doctype.MustDecimal(tt.b)
		assert.Equal(t, tt.cmp, a.Cmp(b), "%s cmp %s", tt.a, tt.b)
		assert.Equal(t, -tt.cmp, b.Cmp(a), "%s cmp %s", tt.b, tt.a)
	}
}

func TestDecimalSignAndIsZero(t *testing.T) {
	tests := []struct {
		in   string
		sign int
	}{
		{"-0.5", -1}, {"-12", -1}, {"0", 0}, {"0.000", 0}, {"-0.0", 0}, {"0.01", 1}, {"3", 1},
	}
	for _, tt := range tests {
		d := doctype.MustDecimal(tt.in)
		assert.Equal(t, tt.sign, d.Sign(), tt.in)
		assert.Equal(t, tt.sign == 0, d.IsZero(), tt.in)
	}
}

func TestDecimalRat(t *testing.T) {
	assert.Equal(t, big.NewRat(25, 2), doctype.MustDecimal("12.50").Rat())
	assert.Equal(t, big.NewRat(-1, 1000), doctype.MustDecimal("-0.001").Rat())
	var zero doctype.Decimal
	assert.Equal(t, 0, zero.Rat().Sign())
}

func TestDecimalMarshalJSON(t *testing.T) {
	type line struct {
		Amount doctype.Decimal `json:"amount"`
	}
	for in, want := range map[string]string{"12.50": `{"amount":"12.50"}`, "-3": `{"amount":"-3"}`, "0.001": `{"amount":"0.001"}`} {
		b, err := json.Marshal(line{Amount: doctype.MustDecimal(in)})
		require.NoError(t, err)
		assert.Equal(t, want, string(b))
	}
	b, err := json.Marshal(line{})
	require.NoError(t, err)
	assert.Equal(t, `{"amount":"0"}`, string(b))
}

func TestDecimalUnmarshalJSON(t *testing.T) {
	valid := []struct{ in, want string }{
		{`12.5`, "12.5"},
		{`12.50`, "12.50"},
		{`"12.50"`, "12.50"},
		{`-3`, "-3"},
		{`"-0.001"`, "-0.001"},
		{`0`, "0"},
		{`" 7 "`, "7"},
		{`null`, "0"},
	}
	for _, tt := range valid {
		t.Run(tt.in, func(t *testing.T) {
			d := doctype.MustDecimal("99.99") // null and values replace what was there
			require.NoError(t, json.Unmarshal([]byte(tt.in), &d))
			assert.Equal(t, tt.want, d.String())
		})
	}

	invalid := []string{`"abc"`, `""`, `1e5`, `"1e5"`, `1.5E-3`, `true`, `false`, `[]`, `[1]`, `{}`, `{"v":1}`, `"12,5"`}
	for _, in := range invalid {
		t.Run("invalid/"+in, func(t *testing.T) {
			d := doctype.MustDecimal("99.99")
			err := json.Unmarshal([]byte(in), &d)
			require.Error(t, err)
			assert.Equal(t, "99.99", d.String(), "a failed decode leaves the value alone")
		})
	}

	// Inside a struct, from a number and from a string.
	var v struct {
		A doctype.Decimal `json:"a"`
		B doctype.Decimal `json:"b"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"a": 1.25, "b": "2.50"}`), &v))
	assert.Equal(t, "1.25", v.A.String())
	assert.Equal(t, "2.50", v.B.String())
}

func TestDecimalScan(t *testing.T) {
	tests := []struct {
		name string
		src  any
		want string
	}{
		{"string", "12.50", "12.50"},
		{"bytes", []byte("-3.5"), "-3.5"},
		{"int64", int64(42), "42"},
		{"negative int64", int64(-7), "-7"},
		{"float64", float64(0.1), "0.1"},
		{"float64 whole", float64(2), "2"},
		{"big float64 without exponent", float64(1e21), "1000000000000000000000"},
		{"nil", nil, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := doctype.MustDecimal("99")
			require.NoError(t, d.Scan(tt.src))
			assert.Equal(t, tt.want, d.String())
		})
	}

	for name, src := range map[string]any{"bool": true, "text": "abc", "exponent text": "1e5", "time": struct{}{}} {
		t.Run("invalid/"+name, func(t *testing.T) {
			var d doctype.Decimal
			assert.Error(t, d.Scan(src))
		})
	}
}

func TestDecimalValueRoundTrip(t *testing.T) {
	for _, in := range []string{"12.50", "-0.001", "42", "0"} {
		d := doctype.MustDecimal(in)
		v, err := d.Value()
		require.NoError(t, err)
		assert.Equal(t, in, v)
		var back doctype.Decimal
		require.NoError(t, back.Scan(v))
		assert.Equal(t, d, back)
	}
	assert.Equal(t, "numeric", doctype.Decimal{}.GormDataType())
}

func TestStringListJSON(t *testing.T) {
	tests := []struct {
		name string
		in   doctype.StringList
		want string
	}{
		{"nil", nil, `[]`},
		{"empty", doctype.StringList{}, `[]`},
		{"items", doctype.StringList{"a", "b c", `q"uote`}, `["a","b c","q\"uote"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(b))

			// Inside a struct as well.
			b, err = json.Marshal(struct {
				Tags doctype.StringList `json:"tags"`
			}{tt.in})
			require.NoError(t, err)
			assert.Equal(t, `{"tags":`+tt.want+`}`, string(b))

			v, err := tt.in.Value()
			require.NoError(t, err)
			assert.Equal(t, tt.want, v, "stored as JSON text")
		})
	}
}

func TestStringListScan(t *testing.T) {
	tests := []struct {
		name string
		src  any
		want doctype.StringList
	}{
		{"string", `["a","b"]`, doctype.StringList{"a", "b"}},
		{"bytes", []byte(`["x"]`), doctype.StringList{"x"}},
		{"empty array", `[]`, doctype.StringList{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := doctype.StringList{"old", "values", "here"}
			require.NoError(t, l.Scan(tt.src))
			assert.Equal(t, tt.want, l)
		})
	}

	var l doctype.StringList
	assert.Error(t, l.Scan(`not json`))
	assert.Error(t, l.Scan(`{"a":1}`))
	assert.Error(t, l.Scan(int64(3)))

	// Round trip through Value.
	in := doctype.StringList{"one", "two", "ü"}
	v, err := in.Value()
	require.NoError(t, err)
	var out doctype.StringList
	require.NoError(t, out.Scan(v))
	assert.Equal(t, in, out)
	assert.Equal(t, "text", doctype.StringList{}.GormDataType())
}

// A NULL column scanned into a reused value must not leave the old items behind.
func TestStringListScanNullClears(t *testing.T) {
	l := doctype.StringList{"stale"}
	require.NoError(t, l.Scan(nil))
	assert.Empty(t, l)
}

func TestJSONMapValue(t *testing.T) {
	v, err := doctype.JSONMap(nil).Value()
	require.NoError(t, err)
	assert.Equal(t, "{}", v)

	v, err = doctype.JSONMap{}.Value()
	require.NoError(t, err)
	assert.Equal(t, "{}", v)

	v, err = doctype.JSONMap{"a": 1, "b": "x", "c": []any{true, nil}}.Value()
	require.NoError(t, err)
	require.IsType(t, "", v)
	assert.JSONEq(t, `{"a":1,"b":"x","c":[true,null]}`, v.(string))

	_, err = doctype.JSONMap{"bad": make(chan int)}.Value()
	assert.Error(t, err)
}

func TestJSONMapScan(t *testing.T) {
	in := doctype.JSONMap{"n": 1.5, "s": "x", "nested": map[string]any{"k": []any{"v"}}, "null": nil}
	v, err := in.Value()
	require.NoError(t, err)

	var out doctype.JSONMap
	require.NoError(t, out.Scan(v))
	assert.Equal(t, in, out)

	var fromBytes doctype.JSONMap
	require.NoError(t, fromBytes.Scan([]byte(`{"a":"b"}`)))
	assert.Equal(t, doctype.JSONMap{"a": "b"}, fromBytes)

	var bad doctype.JSONMap
	assert.Error(t, bad.Scan(`[1,2]`))
	assert.Error(t, bad.Scan(`{`))
	assert.Error(t, bad.Scan(3.5))
	assert.Equal(t, "text", doctype.JSONMap{}.GormDataType())
}

// Scanning into a reused map must give exactly the stored object, not a merge
// with the keys that were there before; NULL must clear it.
func TestJSONMapScanReplacesPreviousContent(t *testing.T) {
	m := doctype.JSONMap{"stale": true}
	require.NoError(t, m.Scan(`{"fresh":1}`))
	assert.Equal(t, doctype.JSONMap{"fresh": float64(1)}, m)

	m = doctype.JSONMap{"stale": true}
	require.NoError(t, m.Scan(nil))
	assert.Empty(t, m)
}

func TestParseDecimalBoundsSize(t *testing.T) {
	for _, in := range []string{
		"123456789012345678901234567890123",   // 33 integer digits
		"1.1234567890123456789",               // scale 19
		"0." + strings.Repeat("1", 1_000_000), // a megabyte of digits: refused at once, not parsed
	} {
		_, err := doctype.ParseDecimal(in)
		require.Error(t, err, "%.40s", in)
		assert.Contains(t, err.Error(), "at most")
	}
	for in, sign := range map[string]int{"0": 0, "-0.000": 0, "12.5": 1, "-0.01": -1, "+3": 1} {
		assert.Equal(t, sign, doctype.MustDecimal(in).Sign(), in)
	}
	assert.True(t, doctype.Decimal{}.IsZero())
}
