package memrepo

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
)

// table is what the repository knows of one DocType.
type table struct {
	dt     *doctype.DocType
	fields map[string]*doctype.Field // stored fields by JSON name
	unique [][]*doctype.Field
}

func (r *Repository) table(name string) (*table, error) {
	dt, ok := r.reg.Get(name)
	if !ok {
		return nil, core.Publicf(core.ErrNotFound, "unknown doctype %q", name)
	}
	if t, ok := r.tables.Load(dt); ok {
		return t.(*table), nil
	}
	t := &table{dt: dt, fields: map[string]*doctype.Field{}}
	fields := dt.Fields()
	for i := range fields {
		if fields[i].Stored {
			t.fields[fields[i].Name] = &fields[i]
		}
	}
	for _, set := range dt.Unique {
		var fs []*doctype.Field
		for _, name := range set {
			fs = append(fs, t.fields[name])
		}
		t.unique = append(t.unique, fs)
	}
	got, _ := r.tables.LoadOrStore(dt, t)
	return got.(*table), nil
}

func (t *table) key(tenant string) docKey { return docKey{table: t.dt.Table, tenant: tenant} }

func (t *table) notFound(name string) error {
	return core.Publicf(core.ErrNotFound, "%s %q not found", t.dt.Name, name)
}

// baseOf returns doc's Base after checking doc is a pointer to the DocType's struct.
func (t *table) baseOf(doc any) (*doctype.Base, error) {
	v := reflect.ValueOf(doc)
	if !v.IsValid() || v.Type() != reflect.PointerTo(t.dt.Type) || v.IsNil() {
		return nil, fmt.Errorf("memrepo: a %s document is a non-nil *%s, not %T", t.dt.Name, t.dt.Type, doc)
	}
	return doctype.BaseOf(doc)
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	decimalType = reflect.TypeFor[doctype.Decimal]()
	valuerType  = reflect.TypeFor[driver.Valuer]()
	scannerType = reflect.TypeFor[sql.Scanner]()
)

// normalizeTimes sets every stored time of doc to UTC at microsecond
// precision, as adapters/db does with the document it writes.
func (t *table) normalizeTimes(doc any) {
	v := reflect.ValueOf(doc).Elem()
	for _, f := range t.fields {
		fv := v.FieldByIndex(f.Index)
		switch tm := fv.Interface().(type) {
		case time.Time:
			if !tm.IsZero() {
				fv.Set(reflect.ValueOf(tm.UTC().Truncate(time.Microsecond)))
			}
		case *time.Time:
			if tm != nil {
				u := tm.UTC().Truncate(time.Microsecond)
				fv.Set(reflect.ValueOf(&u))
			}
		}
	}
}

// store returns the copy of doc to keep: fields the database does not keep
// are zero, and Valuer/Scanner fields went through Value and Scan. A string
// PostgreSQL would refuse (too long, NUL characters) is a validation error.
func (t *table) store(doc any) (any, error) {
	c := clone(doc)
	v := reflect.ValueOf(c).Elem()
	for _, f := range t.dt.Fields() {
		fv := v.FieldByIndex(f.Index)
		if !f.Stored {
			fv.SetZero()
			continue
		}
		if err := roundTrip(fv); err != nil {
			return nil, fmt.Errorf("memrepo: store %s.%s: %w", t.dt.Name, f.Name, err)
		}
		if fv.Kind() == reflect.String {
			s := fv.String()
			if f.MaxLength > 0 && utf8.RuneCountInString(s) > f.MaxLength {
				return nil, core.Invalidf(f.Name, "must be at most %d characters", f.MaxLength)
			}
			if strings.ContainsRune(s, 0) {
				return nil, core.Invalid(f.Name, "must not contain NUL characters")
			}
		}
	}
	return c, nil
}

// roundTrip passes a field whose type has a driver.Valuer and an sql.Scanner
// through Value and Scan, as a write and a read of a database would.
func roundTrip(fv reflect.Value) error {
	if fv.Kind() == reflect.Pointer {
		if fv.IsNil() {
			return nil
		}
		fv = fv.Elem()
	}
	typ := fv.Type()
	if !typ.Implements(valuerType) || !reflect.PointerTo(typ).Implements(scannerType) {
		return nil
	}
	val, err := fv.Interface().(driver.Valuer).Value()
	if err != nil {
		return err
	}
	fresh := reflect.New(typ)
	if err := fresh.Interface().(sql.Scanner).Scan(val); err != nil {
		return err
	}
	fv.Set(fresh.Elem())
	return nil
}

// clashes reports whether doc (named name) has the values of one of the
// DocType's unique field sets that another document of k has. As in SQL, a
// set with a NULL value clashes with nothing.
func (t *table) clashes(l *layer, k docKey, doc any, name string) bool {
	if len(t.unique) == 0 {
		return false
	}
	v := reflect.ValueOf(doc).Elem()
	others := l.all(k)
	for _, set := range t.unique {
		want := make([]value, len(set))
		null := false
		for i, f := range set {
			want[i] = fieldValue(v.FieldByIndex(f.Index))
			null = null || want[i].kind == vNull
		}
		if null {
			continue
		}
	next:
		for n, other := range others {
			if n == name {
				continue
			}
			ov := reflect.ValueOf(other).Elem()
			for i, f := range set {
				got := fieldValue(ov.FieldByIndex(f.Index))
				if got.kind != want[i].kind || compare(got, want[i]) != 0 {
					continue next
				}
			}
			return true
		}
	}
	return false
}

// clone returns a deep copy of v: pointers, slices, maps and interfaces are
// copied, exported struct fields recursively. Unexported fields are copied as
// they are (time.Time's location, doctype.Decimal's digits: both immutable).
func clone(v any) any {
	if v == nil {
		return nil
	}
	return deepCopy(reflect.ValueOf(v)).Interface()
}

func deepCopy(src reflect.Value) reflect.Value {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return reflect.Zero(src.Type())
		}
		dst := reflect.New(src.Type().Elem())
		dst.Elem().Set(deepCopy(src.Elem()))
		return dst
	case reflect.Slice:
		if src.IsNil() {
			return reflect.Zero(src.Type())
		}
		dst := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			dst.Index(i).Set(deepCopy(src.Index(i)))
		}
		return dst
	case reflect.Array:
		dst := reflect.New(src.Type()).Elem()
		for i := range src.Len() {
			dst.Index(i).Set(deepCopy(src.Index(i)))
		}
		return dst
	case reflect.Map:
		if src.IsNil() {
			return reflect.Zero(src.Type())
		}
		dst := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			dst.SetMapIndex(deepCopy(it.Key()), deepCopy(it.Value()))
		}
		return dst
	case reflect.Interface:
		dst := reflect.New(src.Type()).Elem()
		if !src.IsNil() {
			dst.Set(deepCopy(src.Elem()))
		}
		return dst
	case reflect.Struct:
		dst := reflect.New(src.Type()).Elem()
		dst.Set(src)
		for i := range src.NumField() {
			if src.Type().Field(i).IsExported() {
				dst.Field(i).Set(deepCopy(src.Field(i)))
			}
		}
		return dst
	}
	return src
}
