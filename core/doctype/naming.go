package doctype

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
)

// Naming rules other than series.
const (
	NamingUUID   = "uuid"
	NamingPrompt = "prompt"
	namingField  = "field:"
)

// MaxNameLength is the longest document name.
const MaxNameLength = 140

// MaxSeriesBlock is the largest Meta.SeriesBlock.
const MaxSeriesBlock = 1000

type seriesPart struct {
	literal string
	date    string // YYYY YY MM DD
	digits  int    // > 0 for the counter
}

type series struct{ parts []seriesPart }

func (d *DocType) parseNaming() error {
	n := d.Naming
	switch {
	case n == "" || n == NamingUUID || n == NamingPrompt:
		return nil
	case strings.HasPrefix(n, namingField):
		name := strings.TrimPrefix(n, namingField)
		f, ok := d.byName[name]
		if !ok {
			return fmt.Errorf("no field %q", name)
		}
		if d.fields[f].Type.Kind() != reflect.String {
			return fmt.Errorf("field %q is not a string", name)
		}
		d.namingField = name
		return nil
	case strings.Contains(n, "#"):
		s, err := parseSeries(n)
		d.series = s
		return err
	}
	return errors.New(`want "uuid", "prompt", "field:NAME" or a series such as "INV-.YYYY.-.#####"`)
}

func parseSeries(pattern string) (*series, error) {
	s := &series{}
	counters := 0
	for _, p := range strings.Split(pattern, ".") {
		switch {
		case p == "":
		case p == "YYYY" || p == "YY" || p == "MM" || p == "DD":
			s.parts = append(s.parts, seriesPart{date: p})
		case strings.Trim(p, "#") == "":
			counters++
			s.parts = append(s.parts, seriesPart{digits: len(p)})
		case strings.Contains(p, "#"):
			return nil, fmt.Errorf("part %q mixes # with other characters", p)
		default:
			if strings.ContainsAny(p, "/?%") {
				return nil, fmt.Errorf("part %q contains / ? or %%", p)
			}
			s.parts = append(s.parts, seriesPart{literal: p})
		}
	}
	if counters != 1 {
		return nil, errors.New("a series needs exactly one run of #")
	}
	return s, nil
}

// Counter returns the next value of the series counter key (1, 2, 3 …) within
// the current tenant and transaction.
type Counter func(key string) (int64, error)

// IsSeries reports whether the DocType is named by a series.
func (d *DocType) IsSeries() bool { return d.series != nil }

// NewName returns the name for a new document doc, created at now, following
// the DocType's naming rule. next supplies series counters.
func (d *DocType) NewName(doc any, now time.Time, next Counter) (string, error) {
	if d.IsSingle {
		return d.Name, nil
	}
	b, err := BaseOf(doc)
	if err != nil {
		return "", err
	}
	switch {
	case d.series != nil:
		return d.series.render(now, next)
	case d.namingField != "":
		f, _ := d.Field(d.namingField)
		v := reflect.ValueOf(doc).Elem().FieldByIndex(f.Index).String()
		if err := CheckName(v); err != nil {
			return "", core.Invalid(d.namingField, err.Error())
		}
		return v, nil
	case d.Naming == NamingPrompt:
		if b.Name == "" {
			return "", core.Invalid(FieldName, "is required")
		}
		if err := CheckName(b.Name); err != nil {
			return "", core.Invalid(FieldName, err.Error())
		}
		return b.Name, nil
	}
	return NewUUIDv7(), nil
}

func (s *series) render(now time.Time, next Counter) (string, error) {
	var prefix, suffix strings.Builder
	out := &prefix
	digits := 0
	for _, p := range s.parts {
		switch {
		case p.digits > 0:
			digits = p.digits
			out = &suffix
		case p.date != "":
			out.WriteString(formatDate(now, p.date))
		default:
			out.WriteString(p.literal)
		}
	}
	if next == nil {
		return "", errors.New("doctype: a series name needs a counter")
	}
	n, err := next(prefix.String())
	if err != nil {
		return "", fmt.Errorf("next series value: %w", err)
	}
	num := strconv.FormatInt(n, 10)
	if len(num) < digits {
		num = strings.Repeat("0", digits-len(num)) + num
	}
	return prefix.String() + num + suffix.String(), nil
}

func formatDate(t time.Time, part string) string {
	switch part {
	case "YYYY":
		return t.Format("2006")
	case "YY":
		return t.Format("06")
	case "MM":
		return t.Format("01")
	}
	return t.Format("02")
}

// CheckName reports whether name may name a document: not blank, at most
// MaxNameLength characters, no surrounding spaces, no control characters, no '/'.
func CheckName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("is required")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return fmt.Errorf("must be at most %d characters", MaxNameLength)
	case strings.TrimSpace(name) != name:
		return errors.New("must not start or end with spaces")
	case strings.ContainsRune(name, '/'):
		return errors.New("must not contain '/'")
	}
	for _, c := range name {
		if unicode.IsControl(c) {
			return errors.New("must not contain control characters")
		}
	}
	return nil
}

var uuidMu sync.Mutex
var uuidLast [16]byte

// NewUUIDv7 returns a random, time-ordered RFC 9562 version 7 UUID. Ids made by
// one process are strictly increasing.
func NewUUIDv7() string {
	var u [16]byte
	if _, err := rand.Read(u[6:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	ms := uint64(time.Now().UnixMilli())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(u[:6], ts[2:])
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	uuidMu.Lock()
	if string(u[:]) <= string(uuidLast[:]) {
		// Same millisecond (or a clock step back): continue from the last id.
		u = nextUUIDv7(uuidLast)
	}
	uuidLast = u
	uuidMu.Unlock()
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
	return string(buf[:])
}

// nextUUIDv7 returns the smallest version 7 UUID greater than u: it counts up
// in the 62 random bits after the variant, carrying into the 12 random bits
// after the version and then into the timestamp, never touching version or
// variant bits.
func nextUUIDv7(u [16]byte) [16]byte {
	for i := 15; i >= 9; i-- {
		if u[i]++; u[i] != 0 {
			return u
		}
	}
	if u[8]&0x3f != 0x3f {
		u[8]++
		return u
	}
	u[8] = 0x80
	if u[7]++; u[7] != 0 {
		return u
	}
	if u[6]&0x0f != 0x0f {
		u[6]++
		return u
	}
	u[6] = 0x70
	for i := 5; i >= 0; i-- {
		if u[i]++; u[i] != 0 {
			return u
		}
	}
	return u
}
