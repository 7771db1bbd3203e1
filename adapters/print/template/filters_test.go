package template

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below on machines without a zoneinfo database

	"github.com/framework-m/framework-m/core/doctype"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

func decPtr(s string) *doctype.Decimal {
	d := doctype.MustDecimal(s)
	return &d
}

func TestGoLayout(t *testing.T) {
	tests := []struct {
		format, want string
	}{
		{"yyyy-mm-dd", "2006-01-02"},
		{"dd-mm-yyyy", "02-01-2006"},
		{"mm/dd/yyyy", "01/02/2006"},
		{"dd.mm.yyyy", "02.01.2006"},
		{"dd/mm/yyyy", "02/01/2006"},
		{"mm-dd-yyyy", "01-02-2006"},
		{"dd/mm/yy", "02/01/06"},
		{"yyyymmdd", "20060102"},
		{"HH:mm:ss", "15:04:05"},
		{"HH:mm", "15:04"},
		{"hh:mm a", "03:04 PM"},
		{"mm:ss", "04:05"},                       // minutes: before seconds
		{"mm", "01"},                             // alone: the month
		{"HHmm", "1504"},                         // minutes: after an hour
		{"dd-mm-yyyy HH:mm", "02-01-2006 15:04"}, // month, then minutes
		{"yyyy年mm月dd日", "2006年01月02日"},           // non-ASCII literals
	}
	for _, tt := range tests {
		got, err := GoLayout(tt.format)
		if err != nil || got != tt.want {
			t.Errorf("GoLayout(%q) = %q, %v; want %q", tt.format, got, err, tt.want)
		}
	}
}

func TestGoLayoutErrors(t *testing.T) {
	tests := []struct {
		format, wantInErr string
	}{
		{"yyyy-MM-dd", `"MM"`},         // unknown token
		{"DD.mm.yyyy", `"DD"`},         // unknown token
		{"dd mmm yyyy", `"m"`},         // mm then a stray m
		{"yyy-mm-dd", `"y"`},           // yy then a stray y
		{"dd-mm-yyyy at HH:mm", `"t"`}, // a then a stray t
		{"", "empty"},
		{"dd_mm_yyyy", `'_'`},                // '_' means something in a Go layout
		{"dd 1 mm", `'1'`},                   // so do digits
		{strings.Repeat("dd", 51), "longer"}, // bounded
	}
	for _, tt := range tests {
		got, err := GoLayout(tt.format)
		if err == nil || !strings.Contains(err.Error(), strings.Trim(tt.wantInErr, "'")) {
			t.Errorf("GoLayout(%q) = %q, %v; want an error mentioning %s", tt.format, got, err, tt.wantInErr)
		}
	}
}

// TestGoLayoutNoAliasing formats random token sequences through GoLayout and
// time.Format and compares with the tokens' values written by hand, so that
// no sequence of tokens and literals turns into another Go layout element.
func TestGoLayoutNoAliasing(t *testing.T) {
	ref := time.Date(2009, 11, 23, 21, 47, 58, 0, time.UTC)
	values := map[string]string{"yyyy": "2009", "yy": "09", "dd": "23", "HH": "21", "hh": "09", "ss": "58", "a": "PM"}
	literals := []string{"", "-", "/", ".", ",", ":", " ", "+", "--", ". ", "年", "(", ")"}
	tokens := []string{"yyyy", "yy", "dd", "HH", "hh", "ss", "a", "mm"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		var format, want strings.Builder
		var prev string // previous token
		n := 1 + r.IntN(6)
		seq := make([]string, n)
		for i := range seq {
			seq[i] = tokens[r.IntN(len(tokens))]
		}
		for i, tok := range seq {
			if i > 0 {
				lit := literals[r.IntN(len(literals))]
				if lit == "" && strings.HasPrefix(seq[i-1], "y") && strings.HasPrefix(tok, "y") {
					lit = "-" // "yy"+"yy" is "yyyy": not what was meant
				}
				format.WriteString(lit)
				want.WriteString(lit)
			}
			format.WriteString(tok)
			switch {
			case tok != "mm":
				want.WriteString(values[tok])
			case prev == "HH" || prev == "hh" || (i+1 < len(seq) && seq[i+1] == "ss"):
				want.WriteString("47") // minutes
			default:
				want.WriteString("11") // month
			}
			prev = tok
		}
		layout, err := GoLayout(format.String())
		if err != nil {
			t.Fatalf("GoLayout(%q): %v", format.String(), err)
		}
		if got := ref.Format(layout); got != want.String() {
			t.Fatalf("format %q → layout %q → %q; want %q", format.String(), layout, got, want.String())
		}
	}
}

func TestFormatDate(t *testing.T) {
	tokyo := mustZone(t, "Asia/Tokyo")
	la := mustZone(t, "America/Los_Angeles")
	instant := time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC) // 2 March in Tokyo
	tests := []struct {
		name   string
		locale Locale
		v      any
		format []string
		want   string
	}{
		{"time converted to the zone", Locale{Location: tokyo}, instant, nil, "2026-03-02"},
		{"time in UTC by default", Locale{}, instant, nil, "2026-03-01"},
		{"*time.Time", Locale{Location: tokyo}, &instant, nil, "2026-03-02"},
		{"time west of UTC", Locale{Location: la}, time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC), nil, "2026-02-28"},
		{"date-only string not shifted east", Locale{Location: tokyo}, "2026-03-01", nil, "2026-03-01"},
		{"date-only string not shifted west", Locale{Location: la}, "2026-03-01", nil, "2026-03-01"},
		{"RFC 3339 string converted", Locale{Location: tokyo}, "2026-03-01T23:30:00Z", nil, "2026-03-02"},
		{"RFC 3339 offset converted", Locale{Location: la}, "2026-03-01T01:00:00+09:00", nil, "2026-02-28"},
		{"RFC 3339 fractional seconds", Locale{Location: tokyo}, "2026-03-01T23:30:00.123456Z", nil, "2026-03-02"},
		{"wall-clock string not shifted", Locale{Location: tokyo}, "2026-03-01T23:30:00", nil, "2026-03-01"},
		{"wall-clock string with a space", Locale{Location: la}, "2026-03-01 23:30:00", nil, "2026-03-01"},
		{"locale dd.mm.yyyy", Locale{DateFormat: "dd.mm.yyyy"}, "2026-03-01", nil, "01.03.2026"},
		{"locale mm/dd/yyyy", Locale{DateFormat: "mm/dd/yyyy"}, "2026-03-01", nil, "03/01/2026"},
		{"locale dd-mm-yyyy", Locale{DateFormat: "dd-mm-yyyy"}, "2026-03-01", nil, "01-03-2026"},
		{"format argument overrides", Locale{DateFormat: "mm/dd/yyyy"}, "2026-03-01", []string{"dd/mm/yy"}, "01/03/26"},
		{"empty format argument = locale's", Locale{DateFormat: "dd.mm.yyyy"}, "2026-03-01", []string{""}, "01.03.2026"},
		{"nil", Locale{}, nil, nil, ""},
		{"nil *time.Time", Locale{}, (*time.Time)(nil), nil, ""},
		{"zero time", Locale{}, time.Time{}, nil, ""},
		{"empty string", Locale{}, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.locale.FormatDate(tt.v, tt.format...)
			if err != nil || got != tt.want {
				t.Errorf("FormatDate(%#v, %q) = %q, %v; want %q", tt.v, tt.format, got, err, tt.want)
			}
		})
	}
}

func TestFormatDatetime(t *testing.T) {
	berlin := Locale{Location: mustZone(t, "Europe/Berlin"), DateFormat: "dd.mm.yyyy", TimeFormat: "HH:mm:ss"}
	la := mustZone(t, "America/Los_Angeles")
	utc := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}
	tests := []struct {
		name   string
		locale Locale
		v      any
		format []string
		want   string
	}{
		{"winter: CET +1", berlin, utc(2026, 1, 15, 12, 0, 0), nil, "15.01.2026 13:00:00"},
		{"summer: CEST +2", berlin, utc(2026, 7, 15, 12, 0, 0), nil, "15.07.2026 14:00:00"},
		{"just before spring forward", berlin, utc(2026, 3, 29, 0, 59, 59), nil, "29.03.2026 01:59:59"},
		{"spring forward skips 02:00", berlin, utc(2026, 3, 29, 1, 0, 0), nil, "29.03.2026 03:00:00"},
		{"fall back: first 02:30", berlin, utc(2026, 10, 25, 0, 30, 0), nil, "25.10.2026 02:30:00"},
		{"fall back: second 02:30", berlin, utc(2026, 10, 25, 1, 30, 0), nil, "25.10.2026 02:30:00"},
		{"crosses midnight", berlin, utc(2026, 12, 31, 23, 30, 0), nil, "01.01.2027 00:30:00"},
		{"RFC 3339 string converted", berlin, "2026-07-15T12:00:00Z", nil, "15.07.2026 14:00:00"},
		{"wall-clock string not shifted", berlin, "2026-07-15T12:00:00", nil, "15.07.2026 12:00:00"},
		{"date-only string is midnight, not shifted", Locale{Location: la}, "2026-03-01", nil, "2026-03-01 00:00:00"},
		{"defaults", Locale{}, utc(2026, 3, 1, 9, 5, 7), nil, "2026-03-01 09:05:07"},
		{"HH:mm", Locale{TimeFormat: "HH:mm"}, utc(2026, 3, 1, 9, 5, 7), nil, "2026-03-01 09:05"},
		{"12-hour afternoon", Locale{TimeFormat: "hh:mm a"}, utc(2026, 3, 1, 13, 5, 0), nil, "2026-03-01 01:05 PM"},
		{"12-hour midnight", Locale{TimeFormat: "hh:mm a"}, utc(2026, 3, 1, 0, 5, 0), nil, "2026-03-01 12:05 AM"},
		{"12-hour noon", Locale{TimeFormat: "hh:mm a"}, utc(2026, 3, 1, 12, 0, 0), nil, "2026-03-01 12:00 PM"},
		{"format argument is the whole format", berlin, utc(2026, 7, 15, 12, 5, 0), []string{"yyyy/mm/dd hh:mm a"}, "2026/07/15 02:05 PM"},
		{"*time.Time", berlin, func() *time.Time { x := utc(2026, 1, 15, 12, 0, 0); return &x }(), nil, "15.01.2026 13:00:00"},
		{"nil", berlin, nil, nil, ""},
		{"nil *time.Time", berlin, (*time.Time)(nil), nil, ""},
		{"zero time", berlin, time.Time{}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.locale.FormatDatetime(tt.v, tt.format...)
			if err != nil || got != tt.want {
				t.Errorf("FormatDatetime(%#v, %q) = %q, %v; want %q", tt.v, tt.format, got, err, tt.want)
			}
		})
	}
}

func TestFormatDateErrors(t *testing.T) {
	type custom struct{ X int }
	tests := []struct {
		name      string
		locale    Locale
		v         any
		format    []string
		wantInErr string
	}{
		{"int", Locale{}, 20260301, nil, "int"},
		{"bool", Locale{}, true, nil, "bool"},
		{"struct", Locale{}, custom{}, nil, "template.custom"},
		{"decimal", Locale{}, doctype.MustDecimal("1"), nil, "doctype.Decimal"},
		{"not a date", Locale{}, "yesterday", nil, `"yesterday"`},
		{"month 13", Locale{}, "2026-13-01", nil, "2026-13-01"},
		{"long string", Locale{}, strings.Repeat("9", 1000), nil, "1000-byte"},
		{"unknown token in argument", Locale{}, "2026-03-01", []string{"dd-MM-yyyy"}, `"MM"`},
		{"unknown token in locale", Locale{DateFormat: "DD/MM/YYYY"}, "2026-03-01", nil, `"DD"`},
		{"unknown token in locale, nil value", Locale{DateFormat: "DD/MM/YYYY"}, nil, nil, `"DD"`},
		{"two formats", Locale{}, "2026-03-01", []string{"dd", "mm"}, "at most one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for filter, fn := range map[string]func(any, ...string) (string, error){
				"date":     tt.locale.FormatDate,
				"datetime": tt.locale.FormatDatetime,
			} {
				got, err := fn(tt.v, tt.format...)
				if err == nil || !strings.Contains(err.Error(), tt.wantInErr) || !strings.HasPrefix(err.Error(), filter+": ") {
					t.Errorf("%s(%#v, %q) = %q, %v; want a %q error mentioning %s", filter, tt.v, tt.format, got, err, filter, tt.wantInErr)
				}
			}
		})
	}
	if _, err := (Locale{TimeFormat: "HH:MM"}).FormatDatetime(time.Now()); err == nil || !strings.Contains(err.Error(), `"MM"`) {
		t.Errorf("bad time_format: err = %v; want unknown token", err)
	}
}

type quantity int
type ratio float32

func TestFormatNumber(t *testing.T) {
	digits30 := "123456789012345678901234567890"
	tests := []struct {
		name     string
		v        any
		decimals []int
		want     string
	}{
		{"int", 1234567, nil, "1,234,567"},
		{"small int", 999, nil, "999"},
		{"negative int", -1234, nil, "-1,234"},
		{"int8", int8(-128), nil, "-128"},
		{"int64 min", int64(math.MinInt64), nil, "-9,223,372,036,854,775,808"},
		{"uint64 max", uint64(math.MaxUint64), nil, "18,446,744,073,709,551,615"},
		{"uint8", uint8(200), nil, "200"},
		{"named int kind", quantity(12000), nil, "12,000"},
		{"float", 1234.5, nil, "1,234.5"},
		{"float shortest", 0.1, nil, "0.1"},
		{"float no exponent, large", 1e21, nil, "1,000,000,000,000,000,000,000"},
		{"float no exponent, small", 1e-7, nil, "0.0000001"},
		{"float32 shortest", float32(0.1), nil, "0.1"},
		{"named float kind", ratio(2.5), nil, "2.5"},
		{"Decimal keeps trailing zeros", doctype.MustDecimal("1234.50"), nil, "1,234.50"},
		{"*Decimal", decPtr("-1234567.125"), nil, "-1,234,567.125"},
		{"30-digit Decimal", doctype.MustDecimal(digits30 + ".5"), nil, "123,456,789,012,345,678,901,234,567,890.5"},
		{"json.Number", json.Number("1234.5"), nil, "1,234.5"},
		{"json.Number exponent", json.Number("1e3"), nil, "1,000"},
		{"json.Number negative exponent", json.Number("-1.5E-3"), nil, "-0.0015"},
		{"numeric string", " 1234.50 ", nil, "1,234.50"},
		{"string with plus", "+12", nil, "12"},
		{"string leading zeros", "0001234", nil, "1,234"},
		{"string .5", ".5", nil, "0.5"},
		{"zero", 0, nil, "0"},
		{"negative zero string", "-0.0", nil, "0.0"},
		{"100 digits accepted", strings.Repeat("9", 100), nil, "9" + strings.Repeat(",999", 33)},
		{"100 digits by exponent accepted", "1e-100", nil, "0." + strings.Repeat("0", 99) + "1"},
		// decimals: exact half away from zero
		{"2.675 string → 2.68", "2.675", []int{2}, "2.68"},
		{"-2.675 string → -2.68", "-2.675", []int{2}, "-2.68"},
		{"2.675 float → 2.68 (not float rounding's 2.67)", 2.675, []int{2}, "2.68"},
		{"1.005 float → 1.01", 1.005, []int{2}, "1.01"},
		{"2.675 Decimal", doctype.MustDecimal("2.675"), []int{2}, "2.68"},
		{"2.674 rounds down", "2.674", []int{2}, "2.67"},
		{"0.5 → 1", "0.5", []int{0}, "1"},
		{"-0.5 → -1", "-0.5", []int{0}, "-1"},
		{"0.49999 → 0", "0.49999", []int{0}, "0"},
		{"carry into grouping", "999999.995", []int{2}, "1,000,000.00"},
		{"pads zeros", 5, []int{2}, "5.00"},
		{"Decimal pads", doctype.MustDecimal("1.5"), []int{3}, "1.500"},
		{"drops decimals", "12.3456", []int{0}, "12"},
		{"no negative zero", "-0.001", []int{2}, "0.00"},
		{"tiny rounds to zero", 1e-7, []int{2}, "0.00"},
		{"12 decimals", "0.1234567890125", []int{12}, "0.123456789013"},
		{"30-digit Decimal rounded", doctype.MustDecimal(digits30 + ".125"), []int{2}, "123,456,789,012,345,678,901,234,567,890.13"},
		// empty
		{"nil", nil, nil, ""},
		{"nil *Decimal", (*doctype.Decimal)(nil), nil, ""},
		{"empty string", "", []int{2}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FormatNumber(tt.v, tt.decimals...)
			if err != nil || got != tt.want {
				t.Errorf("FormatNumber(%#v, %v) = %q, %v; want %q", tt.v, tt.decimals, got, err, tt.want)
			}
		})
	}
}

func TestFormatNumberErrors(t *testing.T) {
	tests := []struct {
		name      string
		v         any
		decimals  []int
		wantInErr string
	}{
		{"bool", true, nil, "bool"},
		{"slice", []int{1}, nil, "[]int"},
		{"time", time.Now(), nil, "time.Time"},
		{"map", map[string]any{}, nil, "map[string]interface {}"},
		{"pointer to int", new(int), nil, "*int"},
		{"words", "abc", nil, `"abc"`},
		{"grouped string", "1,234", nil, `"1,234"`},
		{"two points", "1.2.3", nil, `"1.2.3"`},
		{"bare exponent", "1e", nil, `"1e"`},
		{"only a point", ".", nil, `"."`},
		{"only a sign", "-", nil, `"-"`},
		{"fraction", "1/3", nil, `"1/3"`},
		{"hex", "0x10", nil, `"0x10"`},
		{"NaN", math.NaN(), nil, "NaN"},
		{"+Inf", math.Inf(1), nil, "Inf"},
		{"decimals -1", 1, []int{-1}, "decimals"},
		{"decimals 13", 1, []int{13}, "decimals"},
		{"two decimals", 1, []int{1, 2}, "at most one"},
		{"101 digits", strings.Repeat("9", 101), nil, "more than 100 digits"},
		{"101 digits with fraction", strings.Repeat("9", 50) + "." + strings.Repeat("9", 51), nil, "more than 100 digits"},
		{"huge float", 1e200, nil, "more than 100 digits"},
		{"max float", math.MaxFloat64, []int{2}, "more than 100 digits"},
		{"huge exponent", "1e101", nil, "more than 100 digits"},
		{"enormous exponent", "1e999999999", nil, "more than 100 digits"},
		{"tiny exponent", "1e-101", nil, "more than 100 digits"},
		{"long string", strings.Repeat("1", 100000), nil, "more than 100 digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FormatNumber(tt.v, tt.decimals...)
			if err == nil || !strings.Contains(err.Error(), tt.wantInErr) || !strings.HasPrefix(err.Error(), "number: ") {
				t.Errorf("FormatNumber(%#v, %v) = %q, %v; want a number error mentioning %s", tt.v, tt.decimals, got, err, tt.wantInErr)
			}
		})
	}
}

func TestFormatCurrency(t *testing.T) {
	tests := []struct {
		name   string
		amount any
		code   []string
		want   string
	}{
		{"USD by default", 1234.5, nil, "$1,234.50"},
		{"empty code is USD", 1234.5, []string{""}, "$1,234.50"},
		{"lower case code", 1234.5, []string{"usd"}, "$1,234.50"},
		{"negative", -1234.5, []string{"USD"}, "-$1,234.50"},
		{"EUR", doctype.MustDecimal("1234.5"), []string{"EUR"}, "€1,234.50"},
		{"GBP", 3, []string{"GBP"}, "£3.00"},
		{"CHF with a space", 1234.5, []string{"CHF"}, "CHF 1,234.50"},
		{"negative CHF", -1234.5, []string{"chf"}, "-CHF 1,234.50"},
		{"CAD", 10, []string{"CAD"}, "CA$10.00"},
		{"AUD", 10, []string{"AUD"}, "A$10.00"},
		{"BRL", 10, []string{"BRL"}, "R$10.00"},
		{"RUB", 10, []string{"RUB"}, "₽10.00"},
		{"KRW 0 decimals", 1234567, []string{"KRW"}, "₩1,234,567"},
		{"CNY", 10, []string{"CNY"}, "¥10.00"},
		// ISO 4217 minor units
		{"JPY 0 decimals", 1234.5, []string{"JPY"}, "¥1,235"},
		{"JPY 0.5 → 1", "0.5", []string{"JPY"}, "¥1"},
		{"JPY -0.5 → -1", "-0.5", []string{"JPY"}, "-¥1"},
		{"JPY 0.4 → 0", 0.4, []string{"JPY"}, "¥0"},
		{"VND 0 decimals", 25000.5, []string{"VND"}, "₫25,001"},
		{"XOF 0 decimals, no symbol", 1500.4, []string{"XOF"}, "XOF 1,500"},
		{"KWD 3 decimals", 1234.5, []string{"KWD"}, "KWD 1,234.500"},
		{"KWD rounds at the third", "1.2345", []string{"KWD"}, "KWD 1.235"},
		{"BHD 3 decimals", "0.0005", []string{"BHD"}, "BHD 0.001"},
		{"OMR 3 decimals", 2, []string{"OMR"}, "OMR 2.000"},
		{"CLF 4 decimals", "1.23456", []string{"CLF"}, "CLF 1.2346"},
		// exact half away from zero
		{"2.675 string → 2.68", "2.675", []string{"USD"}, "$2.68"},
		{"-2.675 string → -2.68", "-2.675", []string{"USD"}, "-$2.68"},
		{"2.675 float → 2.68", 2.675, []string{"USD"}, "$2.68"},
		{"1.005 float → 1.01", 1.005, []string{"USD"}, "$1.01"},
		{"2.675 Decimal", doctype.MustDecimal("2.675"), []string{"EUR"}, "€2.68"},
		{"2.665 *Decimal", decPtr("2.665"), []string{"EUR"}, "€2.67"},
		{"no negative zero", "-0.001", []string{"USD"}, "$0.00"},
		// INR lakh grouping
		{"INR lakhs", 1234567.5, []string{"INR"}, "₹12,34,567.50"},
		{"INR crore", doctype.MustDecimal("123456789"), []string{"INR"}, "₹12,34,56,789.00"},
		{"INR one lakh", 100000, []string{"INR"}, "₹1,00,000.00"},
		{"INR thousands", 1234, []string{"INR"}, "₹1,234.00"},
		{"INR hundreds", 123, []string{"INR"}, "₹123.00"},
		{"INR negative", -1234567.5, []string{"inr"}, "-₹12,34,567.50"},
		{"USD does not use lakhs", 1234567.5, nil, "$1,234,567.50"},
		// unknown codes
		{"unknown code", 1234, []string{"XYZ"}, "XYZ 1,234.00"},
		{"unknown code lower case", 1234, []string{"xyz"}, "XYZ 1,234.00"},
		{"unknown code negative", -1234, []string{"XYZ"}, "-XYZ 1,234.00"},
		// other values
		{"int", 7, nil, "$7.00"},
		{"uint64", uint64(1e18), nil, "$1,000,000,000,000,000,000.00"},
		{"json.Number", json.Number("19.999"), nil, "$20.00"},
		{"30-digit Decimal", doctype.MustDecimal("123456789012345678901234567890.125"), nil, "$123,456,789,012,345,678,901,234,567,890.13"},
		{"float without exponent", 1e21, nil, "$1,000,000,000,000,000,000,000.00"},
		{"nil", nil, nil, ""},
		{"nil *Decimal", (*doctype.Decimal)(nil), []string{"EUR"}, ""},
		{"empty string", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FormatCurrency(tt.amount, tt.code...)
			if err != nil || got != tt.want {
				t.Errorf("FormatCurrency(%#v, %q) = %q, %v; want %q", tt.amount, tt.code, got, err, tt.want)
			}
		})
	}
}

func TestFormatCurrencyErrors(t *testing.T) {
	tests := []struct {
		name      string
		amount    any
		code      []string
		wantInErr string
	}{
		{"two letters", 1, []string{"US"}, `"US"`},
		{"four letters", 1, []string{"USDX"}, `"USDX"`},
		{"symbol", 1, []string{"$"}, `"$"`},
		{"digit", 1, []string{"U1D"}, `"U1D"`},
		{"non-ASCII", 1, []string{"€UR"}, `"€UR"`},
		{"bad code even for nil", nil, []string{"dollars"}, `"dollars"`},
		{"two codes", 1, []string{"USD", "EUR"}, "at most one"},
		{"bool", true, nil, "bool"},
		{"struct", struct{}{}, nil, "struct {}"},
		{"words", "ten", nil, `"ten"`},
		{"NaN", math.NaN(), nil, "NaN"},
		{"huge", "1e150", []string{"EUR"}, "more than 100 digits"},
		{"huge float", 1e150, nil, "more than 100 digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FormatCurrency(tt.amount, tt.code...)
			if err == nil || !strings.Contains(err.Error(), tt.wantInErr) || !strings.HasPrefix(err.Error(), "currency: ") {
				t.Errorf("FormatCurrency(%#v, %q) = %q, %v; want a currency error mentioning %s", tt.amount, tt.code, got, err, tt.wantInErr)
			}
		})
	}
}

// TestRoundingIsExact checks the rounding against an exact reference for
// many values of the form n/1000: the third decimal decides, and a 5 always
// rounds away from zero.
func TestRoundingIsExact(t *testing.T) {
	for n := -20000; n <= 20000; n++ {
		neg, m := n < 0, n
		if neg {
			m = -n
		}
		cents := m / 10
		if m%10 >= 5 {
			cents++
		}
		want := "$" + formatCents(cents)
		if neg && cents != 0 {
			want = "-" + want
		}
		s := formatMillis(n)
		if got, err := FormatCurrency(s); err != nil || got != want {
			t.Fatalf("FormatCurrency(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
}

func formatMillis(n int) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	frac := []byte{byte('0' + n/100%10), byte('0' + n/10%10), byte('0' + n%10)}
	return sign + itoa(n/1000) + "." + string(frac)
}

func formatCents(c int) string {
	s := itoa(c / 100)
	if len(s) > 3 {
		s = s[:len(s)-3] + "," + s[len(s)-3:]
	}
	return s + "." + string([]byte{byte('0' + c/10%10), byte('0' + c%10)})
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
