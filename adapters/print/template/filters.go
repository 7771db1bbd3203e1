package template

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/framework-m/framework-m/core/doctype"
)

// Formatting filters of the print templates: date, datetime, currency and
// number. They are pure functions; the engine puts them in its FuncMap. Each
// returns an error (which html/template turns into a template error) for a
// value it cannot format, naming the value's type, and "" for nil.

// Limits that keep a filter cheap whatever a template passes it.
const (
	// MaxNumberDigits is the most digits a number may have (before and
	// after the decimal point together, once any exponent is applied).
	MaxNumberDigits = 100
	// MaxNumberDecimals is the most decimals FormatNumber may be asked for.
	MaxNumberDecimals = 12
	// maxFormatLen bounds a date or time format string.
	maxFormatLen = 100
	// maxDateStringLen bounds a date or time string worth trying to parse.
	maxDateStringLen = 64
)

// Defaults used when a Locale leaves a format empty (System Settings' own).
const (
	DefaultDateFormat = "yyyy-mm-dd"
	DefaultTimeFormat = "HH:mm:ss"
)

// Locale is what the filters follow, from System Settings.
type Locale struct {
	// Location is the time zone times are shown in; nil means UTC.
	Location *time.Location
	// DateFormat is System Settings' date_format ("yyyy-mm-dd",
	// "dd-mm-yyyy", "mm/dd/yyyy", "dd.mm.yyyy" …); "" means yyyy-mm-dd.
	DateFormat string
	// TimeFormat is System Settings' time_format ("HH:mm:ss", "HH:mm", or
	// 12-hour "hh:mm a"); "" means HH:mm:ss.
	TimeFormat string
}

// ---------------------------------------------------------------------------
// Date and time formats

type fmtToken int

const (
	tokLiteral fmtToken = iota
	tokYear4
	tokYear2
	tokMM // month or minute, decided by its neighbours
	tokDay
	tokHour24
	tokHour12
	tokSecond
	tokAMPM
	tokMonth
	tokMinute
)

var formatTokens = []struct {
	text string
	tok  fmtToken
}{
	{"yyyy", tokYear4},
	{"yy", tokYear2},
	{"mm", tokMM},
	{"dd", tokDay},
	{"HH", tokHour24},
	{"hh", tokHour12},
	{"ss", tokSecond},
	{"a", tokAMPM},
}

var goLayoutOf = map[fmtToken]string{
	tokYear4:  "2006",
	tokYear2:  "06",
	tokMonth:  "01",
	tokDay:    "02",
	tokHour24: "15",
	tokHour12: "03",
	tokMinute: "04",
	tokSecond: "05",
	tokAMPM:   "PM",
}

type fmtPart struct {
	tok  fmtToken
	text string // the literal, for tokLiteral
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// parseFormat splits a System Settings format into tokens and literals.
func parseFormat(format string) ([]fmtPart, error) {
	if format == "" {
		return nil, fmt.Errorf("empty date/time format")
	}
	if len(format) > maxFormatLen {
		return nil, fmt.Errorf("date/time format longer than %d bytes", maxFormatLen)
	}
	var parts []fmtPart
	for i := 0; i < len(format); {
		c := format[i]
		switch {
		case isASCIILetter(c):
			matched := false
			for _, t := range formatTokens {
				if strings.HasPrefix(format[i:], t.text) {
					parts = append(parts, fmtPart{tok: t.tok})
					i += len(t.text)
					matched = true
					break
				}
			}
			if !matched {
				j := i
				for j < len(format) && isASCIILetter(format[j]) {
					j++
				}
				return nil, fmt.Errorf("unknown token %q in date/time format %q (known: yyyy yy mm dd HH hh mm ss a)", format[i:j], format)
			}
		case c >= '0' && c <= '9', c == '_':
			// Digits and '_' mean something in a Go layout: no literal can hold them.
			return nil, fmt.Errorf("character %q cannot be used in date/time format %q", format[i:i+1], format)
		default:
			if n := len(parts); n > 0 && parts[n-1].tok == tokLiteral {
				parts[n-1].text += format[i : i+1]
			} else {
				parts = append(parts, fmtPart{tok: tokLiteral, text: format[i : i+1]})
			}
			i++
		}
	}
	// "mm" is minutes right after an hour or right before seconds, else the month.
	for i, p := range parts {
		if p.tok != tokMM {
			continue
		}
		parts[i].tok = tokMonth
		if prev := neighbourToken(parts, i, -1); prev == tokHour24 || prev == tokHour12 {
			parts[i].tok = tokMinute
		} else if neighbourToken(parts, i, +1) == tokSecond {
			parts[i].tok = tokMinute
		}
	}
	return parts, nil
}

// neighbourToken is the nearest non-literal token before (dir -1) or after
// (dir +1) parts[i], or tokLiteral when there is none.
func neighbourToken(parts []fmtPart, i, dir int) fmtToken {
	for j := i + dir; j >= 0 && j < len(parts); j += dir {
		if parts[j].tok != tokLiteral {
			return parts[j].tok
		}
	}
	return tokLiteral
}

// GoLayout converts a System Settings date/time format to a Go time layout.
// Tokens: yyyy (2026), yy (26), mm (month 03, or minutes 04 right after an
// hour token or right before ss), dd (day), HH (00–23), hh (01–12), ss
// (seconds), a (AM/PM).
// Other characters (punctuation, spaces, non-ASCII text such as 年) are kept
// as literals. An unknown token (other ASCII letters), a digit or '_' is an
// error.
//
//	GoLayout("dd.mm.yyyy") == "02.01.2006"
//	GoLayout("hh:mm a")    == "03:04 PM"
func GoLayout(format string) (string, error) {
	parts, err := parseFormat(format)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range parts {
		if p.tok == tokLiteral {
			b.WriteString(p.text)
		} else {
			b.WriteString(goLayoutOf[p.tok])
		}
	}
	return b.String(), nil
}

func (l Locale) location() *time.Location {
	if l.Location == nil {
		return time.UTC
	}
	return l.Location
}

func (l Locale) dateFormat() string {
	if l.DateFormat == "" {
		return DefaultDateFormat
	}
	return l.DateFormat
}

func (l Locale) timeFormat() string {
	if l.TimeFormat == "" {
		return DefaultTimeFormat
	}
	return l.TimeFormat
}

// overrideFormat returns the one optional format argument, or "" for none.
func overrideFormat(filter string, format []string) (string, error) {
	switch len(format) {
	case 0:
		return "", nil
	case 1:
		return format[0], nil
	default:
		return "", fmt.Errorf("%s: takes at most one format, got %d", filter, len(format))
	}
}

// FormatDate is the "date" filter: v's date in the locale's date_format, or
// in format when given (same tokens as GoLayout).
//
// v is a time.Time or *time.Time (an instant: its date is taken in
// l.Location), or a string: RFC 3339 (an instant, likewise converted),
// "2006-01-02T15:04:05" (a wall time in l.Location, not shifted) or
// "2006-01-02" (a calendar date, never shifted by time zone). nil, a nil
// *time.Time, a zero time.Time and "" give "". Any other type is an error
// naming it.
func (l Locale) FormatDate(v any, format ...string) (string, error) {
	f, err := overrideFormat("date", format)
	if err != nil {
		return "", err
	}
	if f == "" {
		f = l.dateFormat()
	}
	layout, err := GoLayout(f)
	if err != nil {
		return "", fmt.Errorf("date: %w", err)
	}
	t, ok, err := toTime("date", v, l.location())
	if err != nil || !ok {
		return "", err
	}
	return t.Format(layout), nil
}

// FormatDatetime is the "datetime" filter: v converted to l.Location and
// shown as date_format + " " + time_format, or in format when given (one
// format for the whole value, same tokens as GoLayout). It accepts the same
// values as FormatDate; a date-only string is midnight of that calendar date.
func (l Locale) FormatDatetime(v any, format ...string) (string, error) {
	f, err := overrideFormat("datetime", format)
	if err != nil {
		return "", err
	}
	var layout string
	if f != "" {
		layout, err = GoLayout(f)
	} else {
		var dl, tl string
		if dl, err = GoLayout(l.dateFormat()); err == nil {
			if tl, err = GoLayout(l.timeFormat()); err == nil {
				layout = dl + " " + tl
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("datetime: %w", err)
	}
	t, ok, err := toTime("datetime", v, l.location())
	if err != nil || !ok {
		return "", err
	}
	return t.Format(layout), nil
}

// Wall-clock layouts of strings without a zone, read in the locale's zone.
var wallLayouts = []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05"}

// toTime turns v into a time in loc; ok is false for an empty value.
func toTime(filter string, v any, loc *time.Location) (t time.Time, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		if x.IsZero() {
			return time.Time{}, false, nil
		}
		return x.In(loc), true, nil
	case *time.Time:
		if x == nil || x.IsZero() {
			return time.Time{}, false, nil
		}
		return x.In(loc), true, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return time.Time{}, false, nil
		}
		if len(s) > maxDateStringLen {
			return time.Time{}, false, fmt.Errorf("%s: a %d-byte string is not a date or time", filter, len(s))
		}
		if len(s) == len("2006-01-02") {
			if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
				return t, true, nil // a calendar date: midnight where it is shown
			}
		}
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.In(loc), true, nil
		}
		for _, layout := range wallLayouts {
			if t, err := time.ParseInLocation(layout, s, loc); err == nil {
				return t, true, nil
			}
		}
		return time.Time{}, false, fmt.Errorf("%s: cannot read %q as a date or time (want RFC 3339, 2006-01-02T15:04:05 or 2006-01-02)", filter, s)
	default:
		return time.Time{}, false, fmt.Errorf("%s: cannot format a %T as a date or time", filter, v)
	}
}

// ---------------------------------------------------------------------------
// Numbers

// decimal is an exact decimal number as digit strings.
type decimal struct {
	neg  bool
	ints string // integer digits without leading zeros; "" for zero
	frac string // fraction digits as written (trailing zeros kept)
}

func (d decimal) isZero() bool {
	return strings.Trim(d.ints, "0") == "" && strings.Trim(d.frac, "0") == ""
}

// round returns d with exactly n decimals, rounding half away from zero.
func (d decimal) round(n int) decimal {
	if len(d.frac) <= n {
		d.frac += strings.Repeat("0", n-len(d.frac))
		return d
	}
	drop := len(d.frac) - n
	whole, _ := new(big.Int).SetString("0"+d.ints+d.frac, 10)
	div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(drop)), nil)
	q, r := new(big.Int).QuoRem(whole, div, new(big.Int))
	if r.Lsh(r, 1).Cmp(div) >= 0 { // magnitudes: half rounds away from zero
		q.Add(q, big.NewInt(1))
	}
	s := q.String()
	if len(s) <= n {
		s = strings.Repeat("0", n-len(s)+1) + s
	}
	d.ints = strings.TrimLeft(s[:len(s)-n], "0")
	d.frac = s[len(s)-n:]
	return d
}

// format writes d with its integer digits grouped: in threes, or for indian
// grouping the last three then twos (12,34,567).
func (d decimal) format(indian bool) string {
	var b strings.Builder
	if d.neg && !d.isZero() {
		b.WriteByte('-')
	}
	ints := d.ints
	if ints == "" {
		ints = "0"
	}
	for i := 0; i < len(ints); i++ {
		left := len(ints) - i // digits from here to the end
		if i > 0 && (left == 3 || (left > 3 && ((!indian && left%3 == 0) || (indian && (left-3)%2 == 0)))) {
			b.WriteByte(',')
		}
		b.WriteByte(ints[i])
	}
	if d.frac != "" {
		b.WriteByte('.')
		b.WriteString(d.frac)
	}
	return b.String()
}

type errNotNumber string

func (e errNotNumber) Error() string { return fmt.Sprintf("%q is not a number", string(e)) }

var errTooManyDigits = fmt.Errorf("more than %d digits", MaxNumberDigits)

// parseDecimal reads a plain or exponent-notation decimal ("-1,5" is not
// one): [+-]digits[.digits][e[+-]digits], refusing more than MaxNumberDigits.
func parseDecimal(s string) (decimal, error) {
	bad := errNotNumber(s)
	if len(s) > MaxNumberDigits+16 {
		return decimal{}, errTooManyDigits
	}
	var d decimal
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		d.neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	ints := s[start:i]
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[start:i]
	}
	if ints == "" && frac == "" {
		return decimal{}, bad
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			expNeg = s[i] == '-'
			i++
		}
		start = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return decimal{}, bad
		}
		if i-start > 4 {
			return decimal{}, errTooManyDigits
		}
		exp, _ = strconv.Atoi(s[start:i])
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return decimal{}, bad
	}
	ints = strings.TrimLeft(ints, "0")
	if exp != 0 {
		all := ints + frac
		point := len(ints) + exp
		switch {
		case point <= 0:
			if len(all)-point > MaxNumberDigits {
				return decimal{}, errTooManyDigits
			}
			ints, frac = "", strings.Repeat("0", -point)+all
		case point >= len(all):
			if point > MaxNumberDigits {
				return decimal{}, errTooManyDigits
			}
			ints, frac = all+strings.Repeat("0", point-len(all)), ""
		default:
			ints, frac = all[:point], all[point:]
		}
		ints = strings.TrimLeft(ints, "0")
	}
	if len(ints)+len(frac) > MaxNumberDigits {
		return decimal{}, errTooManyDigits
	}
	d.ints, d.frac = ints, frac
	return d, nil
}

// toDecimal turns a number-like value into a decimal; ok is false for an
// empty value (nil, a nil *doctype.Decimal, "").
func toDecimal(filter string, v any) (d decimal, ok bool, err error) {
	var s string
	switch x := v.(type) {
	case nil:
		return decimal{}, false, nil
	case doctype.Decimal:
		s = x.String()
	case *doctype.Decimal:
		if x == nil {
			return decimal{}, false, nil
		}
		s = x.String()
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
		if s == "" {
			return decimal{}, false, nil
		}
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			s = strconv.FormatInt(rv.Int(), 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			s = strconv.FormatUint(rv.Uint(), 10)
		case reflect.Float32, reflect.Float64:
			f := rv.Float()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return decimal{}, false, fmt.Errorf("%s: cannot format %v", filter, f)
			}
			bits := 64
			if rv.Kind() == reflect.Float32 {
				bits = 32
			}
			s = strconv.FormatFloat(f, 'f', -1, bits)
		default:
			return decimal{}, false, fmt.Errorf("%s: cannot format a %T as a number", filter, v)
		}
	}
	d, err = parseDecimal(s)
	if err != nil {
		return decimal{}, false, fmt.Errorf("%s: %w", filter, err)
	}
	return d, true, nil
}

// FormatNumber is the "number" filter: v with its integer digits grouped by
// commas and a dot decimal point, never in exponent notation
// (1e21 → "1,000,000,000,000,000,000,000").
//
// With decimals (0–12) it shows exactly that many, rounding half away from
// zero exactly (2.675 → 2.68). Without, it shows the digits the value has: a
// doctype.Decimal or numeric string as written ("12.50" → "12.50"), a float
// in its shortest form (0.1 → "0.1").
//
// v is any int, uint or float kind, a doctype.Decimal or *doctype.Decimal, a
// json.Number or a numeric string (exponents allowed). nil, a nil
// *doctype.Decimal and "" give "". Other types, NaN, infinities and numbers
// of more than MaxNumberDigits digits are errors.
func FormatNumber(v any, decimals ...int) (string, error) {
	n := -1
	switch len(decimals) {
	case 0:
	case 1:
		n = decimals[0]
		if n < 0 || n > MaxNumberDecimals {
			return "", fmt.Errorf("number: decimals must be 0 to %d, got %d", MaxNumberDecimals, n)
		}
	default:
		return "", fmt.Errorf("number: takes at most one decimals argument, got %d", len(decimals))
	}
	d, ok, err := toDecimal("number", v)
	if err != nil || !ok {
		return "", err
	}
	if n >= 0 {
		d = d.round(n)
	}
	return d.format(false), nil
}

// ---------------------------------------------------------------------------
// Currencies

// currencyDecimals lists ISO 4217 minor units other than 2.
var currencyDecimals = map[string]int{
	// no minor unit
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0,
	"KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0,
	"XAF": 0, "XOF": 0, "XPF": 0,
	// thousandths
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	// ten-thousandths
	"CLF": 4, "UYW": 4,
}

// currencySymbols are the symbols written before the amount; other codes
// are written as the code and a space ("XYZ 1,234.00").
var currencySymbols = map[string]string{
	"USD": "$",
	"EUR": "€",
	"GBP": "£",
	"JPY": "¥",
	"CNY": "¥",
	"INR": "₹",
	"KRW": "₩",
	"CHF": "CHF ",
	"CAD": "CA$",
	"AUD": "A$",
	"NZD": "NZ$",
	"HKD": "HK$",
	"SGD": "S$",
	"MXN": "MX$",
	"BRL": "R$",
	"RUB": "₽",
	"ILS": "₪",
	"NGN": "₦",
	"PHP": "₱",
	"THB": "฿",
	"TRY": "₺",
	"UAH": "₴",
	"VND": "₫",
	"ZAR": "R ",
}

// FormatCurrency is the "currency" filter: amount rounded to its currency's
// ISO 4217 minor units (JPY 0, KWD 3, most 2), half away from zero using
// exact decimal arithmetic ("2.675" USD → "$2.68"), grouped by commas with a
// dot decimal point (INR in lakhs: "₹12,34,567.50"), after the currency's
// symbol ("$", "€", "CHF "…) or, for a code without one, after the code and
// a space ("XYZ 1,234.00"). A negative amount starts with "-": "-$1,234.50".
//
// code is an ISO 4217 code, upper or lower case; absent or "" means USD. An
// unknown three-letter code is allowed (2 decimals); anything else is an
// error. amount accepts the values FormatNumber does; nil gives "".
func FormatCurrency(amount any, code ...string) (string, error) {
	c := "USD"
	switch len(code) {
	case 0:
	case 1:
		if code[0] != "" {
			c = code[0]
		}
	default:
		return "", fmt.Errorf("currency: takes at most one currency code, got %d", len(code))
	}
	if len(c) != 3 || !isASCIILetter(c[0]) || !isASCIILetter(c[1]) || !isASCIILetter(c[2]) {
		return "", fmt.Errorf("currency: %q is not an ISO 4217 currency code such as USD", c)
	}
	c = strings.ToUpper(c)
	d, ok, err := toDecimal("currency", amount)
	if err != nil || !ok {
		return "", err
	}
	places, listed := currencyDecimals[c]
	if !listed {
		places = 2
	}
	num := d.round(places).format(c == "INR")
	sign := ""
	if strings.HasPrefix(num, "-") {
		sign, num = "-", num[1:]
	}
	symbol, known := currencySymbols[c]
	if !known {
		symbol = c + " "
	}
	return sign + symbol + num, nil
}
