package doctype

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Decimal is an exact decimal number (money, quantities). It keeps the digits it
// was given ("12.50" stays "12.50"), travels in JSON as a string, accepts a JSON
// number or string, and is stored as NUMERIC so SQL compares and sorts it by value.
type Decimal struct{ s string }

var (
	errDecimal     = errors.New("must be a decimal number such as 12.50")
	errDecimalSize = fmt.Errorf("must have at most %d digits before the decimal point and %d after it", MaxDecimalIntegerDigits, MaxDecimalScale)
)

// Limits of a Decimal: enough for any amount of money or quantity, small
// enough that parsing and comparing stay cheap and every database stores it.
const (
	MaxDecimalIntegerDigits = 32
	MaxDecimalScale         = 18
)

// ParseDecimal parses a plain decimal ("-12.5", "0.001", "42"); no exponents.
func ParseDecimal(s string) (Decimal, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Decimal{}, errDecimal
	}
	body, neg := s, false
	switch s[0] {
	case '-':
		body, neg = s[1:], true
	case '+':
		body = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(body, ".")
	if (intPart == "" && frac == "") || !digits(intPart) || !digits(frac) || (hasDot && frac == "" && intPart == "") {
		return Decimal{}, errDecimal
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	if len(intPart) > MaxDecimalIntegerDigits || len(frac) > MaxDecimalScale {
		return Decimal{}, errDecimalSize
	}
	out := intPart
	if hasDot && frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return Decimal{s: out}, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MustDecimal is ParseDecimal that panics on bad input, for constants.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(fmt.Sprintf("doctype.MustDecimal(%q): %v", s, err))
	}
	return d
}

// String returns the decimal's digits ("0" for the zero value).
func (d Decimal) String() string {
	if d.s == "" {
		return "0"
	}
	return d.s
}

// Rat returns the value as a big.Rat for arithmetic.
func (d Decimal) Rat() *big.Rat {
	r, _ := new(big.Rat).SetString(d.String())
	return r
}

// Cmp compares d and o by value: -1, 0 or +1.
func (d Decimal) Cmp(o Decimal) int { return d.Rat().Cmp(o.Rat()) }

// IsZero reports whether the value is zero.
func (d Decimal) IsZero() bool { return d.Sign() == 0 }

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int {
	s := d.String()
	if strings.Trim(s, "-0.") == "" {
		return 0
	}
	if s[0] == '-' {
		return -1
	}
	return 1
}

// MarshalJSON encodes the decimal as a JSON string.
func (d Decimal) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON accepts a JSON number or a string holding a decimal.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*d = Decimal{}
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return errDecimal
		}
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Value stores the decimal as its digits.
func (d Decimal) Value() (driver.Value, error) { return d.String(), nil }

// Scan reads a NUMERIC column (text on PostgreSQL, a number on SQLite).
func (d *Decimal) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		*d = Decimal{}
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	case int64:
		s = strconv.FormatInt(v, 10)
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Errorf("doctype.Decimal: cannot scan %T", src)
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return fmt.Errorf("doctype.Decimal: %q: %w", s, err)
	}
	*d = v
	return nil
}

// GormDataType makes the column NUMERIC.
func (Decimal) GormDataType() string { return "numeric" }

// StringList is a list of strings stored as a JSON array in a text column.
type StringList []string

// MarshalJSON encodes nil as [].
func (l StringList) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(l))
}

// Value stores the list as JSON text.
func (l StringList) Value() (driver.Value, error) {
	b, err := l.MarshalJSON()
	return string(b), err
}

// Scan reads JSON text; NULL is an empty list.
func (l *StringList) Scan(src any) error {
	*l = nil
	return ScanJSON(src, (*[]string)(l))
}

// GormDataType makes the column text.
func (StringList) GormDataType() string { return "text" }

// JSONMap is a JSON object stored in a text column.
type JSONMap map[string]any

// Value stores the map as JSON text.
func (m JSONMap) Value() (driver.Value, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]any(m))
	return string(b), err
}

// Scan reads JSON text, replacing what m held; NULL is an empty map.
func (m *JSONMap) Scan(src any) error {
	*m = nil
	return ScanJSON(src, (*map[string]any)(m))
}

// GormDataType makes the column text.
func (JSONMap) GormDataType() string { return "text" }

// ScanJSON decodes a JSON text column (string or []byte; NULL and empty
// leave dst alone) into dst, for field types stored as JSON.
func ScanJSON(src any, dst any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("doctype: cannot scan %T as JSON", src)
	}
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, dst)
}

// JSONList is a list of any JSON-encodable values (structs included)
// stored as a JSON array in a text column, like StringList.
type JSONList[T any] []T

// MarshalJSON encodes nil as [].
func (l JSONList[T]) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]T(l))
}

// Value stores the list as JSON text.
func (l JSONList[T]) Value() (driver.Value, error) {
	b, err := l.MarshalJSON()
	return string(b), err
}

// Scan reads JSON text; NULL is an empty list.
func (l *JSONList[T]) Scan(src any) error {
	*l = nil
	return ScanJSON(src, (*[]T)(l))
}

// GormDataType makes the column text.
func (JSONList[T]) GormDataType() string { return "text" }
