package doctype

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/framework-m/framework-m/ports"
)

// Field describes one field of a DocType as clients and queries see it.
type Field struct {
	// Name is the JSON name, used in the API, filters and permission conditions.
	Name string
	// GoName is the struct field's name.
	GoName string
	// Index is the reflect index path from the DocType struct.
	Index []int
	// Type is the Go type of the field.
	Type reflect.Type
	// System is true for the fields of Base.
	System bool
	// Hidden fields are never serialized nor accepted from clients.
	Hidden bool
	// ReadOnly fields cannot be set by clients.
	ReadOnly bool
	// Stored is false for fields the database does not keep (gorm:"-").
	Stored bool
	// MaxLength caps a string field's characters (from gorm:"size:N"; 0: no cap).
	MaxLength int
	// Filterable and Sortable say whether clients may filter and sort on it.
	Filterable bool
	Sortable   bool
}

// DocType is a registered DocType: its Meta, Go type and fields.
type DocType struct {
	Meta
	// Type is the DocType's struct type (not a pointer).
	Type reflect.Type

	fields      []Field
	byName      map[string]int
	series      *series
	plainJSON   bool // json.Marshal of the struct equals the API form
	namingField string
}

// New returns a pointer to a new zero document with its defaults applied.
func (d *DocType) New() any {
	v := reflect.New(d.Type).Interface()
	if df, ok := v.(Defaulter); ok {
		df.Defaults()
	}
	return v
}

// NewZero returns a pointer to a new zero document, without defaults.
func (d *DocType) NewZero() any { return reflect.New(d.Type).Interface() }

// Fields returns the DocType's API fields (visible and hidden) in struct order.
func (d *DocType) Fields() []Field { return d.fields }

// Field returns the field with JSON name, if any.
func (d *DocType) Field(name string) (*Field, bool) {
	i, ok := d.byName[name]
	if !ok {
		return nil, false
	}
	return &d.fields[i], true
}

// VisibleField returns the field with JSON name when clients may see it.
func (d *DocType) VisibleField(name string) (*Field, bool) {
	f, ok := d.Field(name)
	if !ok || f.Hidden {
		return nil, false
	}
	return f, true
}

// TableName returns the table that stores the DocType.
func (d *DocType) TableName() string { return d.Table }

// Allows reports whether any rule for role grants action (ignoring IfOwner).
func (d *DocType) Allows(role string, a ports.Action) bool {
	for _, r := range d.Permissions {
		if r.Role == role && r.Actions.Has(a) {
			return true
		}
	}
	return false
}

// BaseOf returns the Base of doc, which must be a pointer to a DocType struct.
func BaseOf(doc any) (*Base, error) {
	d, ok := doc.(Document)
	if !ok {
		return nil, fmt.Errorf("doctype: %T does not embed doctype.Base", doc)
	}
	return d.DocBase(), nil
}

// Registry holds the registered DocTypes. It is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]*DocType
	byKey  map[string]*DocType
	byType map[reflect.Type]*DocType
	order  []*DocType
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]*DocType{}, byKey: map[string]*DocType{}, byType: map[reflect.Type]*DocType{}}
}

// Register adds the DocType whose struct is T.
func Register[T any](r *Registry, meta Meta) (*DocType, error) {
	return r.Register(reflect.TypeFor[T](), meta)
}

// Register adds a DocType whose struct type is t (a struct embedding Base, or a
// pointer to one). It checks the Meta against the struct and returns every
// problem at once.
func (r *Registry) Register(t reflect.Type, meta Meta) (*DocType, error) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("doctype %q: %s is not a struct", meta.Name, t)
	}
	if !reflect.PointerTo(t).Implements(reflect.TypeFor[Document]()) {
		return nil, fmt.Errorf("doctype %q: %s does not embed doctype.Base", meta.Name, t)
	}
	d := &DocType{Meta: meta, Type: t}
	if err := d.build(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := lookupKey(d.Name)
	if _, dup := r.byName[d.Name]; dup {
		return nil, fmt.Errorf("doctype %q: already registered", d.Name)
	}
	if other, dup := r.byKey[key]; dup {
		return nil, fmt.Errorf("doctype %q: name clashes with %q", d.Name, other.Name)
	}
	if other, dup := r.byType[t]; dup {
		return nil, fmt.Errorf("doctype %q: type %s already registered as %q", d.Name, t, other.Name)
	}
	for _, o := range r.order {
		if o.Table == d.Table {
			return nil, fmt.Errorf("doctype %q: table %q already used by %q", d.Name, d.Table, o.Name)
		}
	}
	if err := r.checkChildTables(d); err != nil {
		return nil, err
	}
	r.byName[d.Name] = d
	r.byKey[key] = d
	r.byType[t] = d
	r.order = append(r.order, d)
	return d, nil
}

// checkChildTables refuses d when it holds rows of a registered DocType
// with Meta.Hidden fields (a child table: a field of that struct type, a
// pointer to it, or a list or map of them), or is such a DocType held by one
// registered already (d among them). A child table's rows live in their
// parent's document and are read and written whole with it, so their
// Hidden fields would be served and accepted there. Call with r.mu held.
func (r *Registry) checkChildTables(d *DocType) error {
	bad := func(parent *DocType, f Field, child *DocType) error {
		return fmt.Errorf("doctype %q: field %q holds %q rows, which has Hidden fields %v: a child table's rows are served whole "+
			"inside their parent; keep such fields out of the child (json:\"-\" keeps a field out of the API)",
			parent.Name, f.Name, child.Name, child.Meta.Hidden)
	}
	for _, f := range d.fields {
		c := r.byType[rowType(f.Type)]
		if rowType(f.Type) == d.Type {
			c = d
		}
		if c != nil && len(c.Meta.Hidden) > 0 {
			return bad(d, f, c)
		}
	}
	if len(d.Meta.Hidden) == 0 {
		return nil
	}
	for _, p := range r.order {
		for _, f := range p.fields {
			if rowType(f.Type) == d.Type {
				return bad(p, f, d)
			}
		}
	}
	return nil
}

// rowType is the struct type a field of type t holds rows of (t itself, a
// pointer to it, a slice, array or map of either), or nil.
func rowType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return t
}

// MustRegister is Register that panics on error, for package-level setup.
func MustRegister[T any](r *Registry, meta Meta) *DocType {
	d, err := Register[T](r, meta)
	if err != nil {
		panic(err)
	}
	return d
}

// Get returns the DocType called name. It also accepts the name in any case with
// spaces written as -, _ or nothing ("sales-invoice" finds "Sales Invoice").
func (r *Registry) Get(name string) (*DocType, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if d, ok := r.byName[name]; ok {
		return d, true
	}
	d, ok := r.byKey[lookupKey(name)]
	return d, ok
}

// Of returns the DocType of doc (a DocType struct or a pointer to one).
func (r *Registry) Of(doc any) (*DocType, bool) {
	t := reflect.TypeOf(doc)
	if t == nil {
		return nil, false
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.byType[t]
	return d, ok
}

// All returns the registered DocTypes in registration order.
func (r *Registry) All() []*DocType {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.order)
}

func lookupKey(name string) string {
	var b strings.Builder
	for _, c := range name {
		switch c {
		case ' ', '-', '_':
			continue
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// SnakeCase turns "Sales Invoice" or "SalesInvoice" into "sales_invoice".
func SnakeCase(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, c := range rs {
		switch {
		case c == ' ' || c == '-' || c == '.':
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
		case unicode.IsUpper(c):
			if i > 0 && b.Len() > 0 && !strings.HasSuffix(b.String(), "_") &&
				(unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(c))
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func (d *DocType) build() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("doctype %q: "+format, append([]any{d.Name}, args...)...))
	}
	if strings.TrimSpace(d.Name) == "" {
		return errors.New("doctype: Meta.Name is required")
	}
	if strings.ContainsAny(d.Name, "/?#%") {
		bad("name must not contain / ? # or %%")
	}
	if d.Table == "" {
		d.Table = SnakeCase(d.Name)
	}
	if !validIdent(d.Table) {
		bad("table %q: use lowercase letters, digits and _", d.Table)
	}
	d.byName = map[string]int{}
	collectFields(d.Type, nil, false, &d.fields)
	for i := range d.fields {
		f := &d.fields[i]
		if _, dup := d.byName[f.Name]; dup {
			bad("two fields named %q", f.Name)
			continue
		}
		d.byName[f.Name] = i
	}
	check := func(what string, names []string) {
		for _, n := range names {
			if _, ok := d.byName[n]; !ok {
				bad("%s: no field %q", what, n)
			}
		}
	}
	check("Hidden", d.Hidden)
	check("ReadOnly", d.ReadOnly)
	check("AdminFields", d.AdminFields)
	check("Filterable", d.Filterable)
	check("Sortable", d.Sortable)
	for _, u := range d.Unique {
		check("Unique", u)
	}
	for _, u := range d.Indexes {
		check("Indexes", u)
	}
	for _, o := range d.DefaultOrder {
		check("DefaultOrder", []string{o.Field})
	}
	if d.RLSField != "" {
		check("RLSField", []string{d.RLSField})
	} else {
		d.RLSField = FieldOwner
	}
	for i := range d.fields {
		f := &d.fields[i]
		if slices.Contains(d.Hidden, f.Name) {
			f.Hidden = true
		}
		if f.System || slices.Contains(d.ReadOnly, f.Name) {
			f.ReadOnly = true
		}
		queryable := f.Stored && !f.Hidden && scalar(f.Type)
		f.Filterable = queryable && (d.Filterable == nil || slices.Contains(d.Filterable, f.Name) || f.Name == FieldName)
		f.Sortable = queryable && (d.Sortable == nil || slices.Contains(d.Sortable, f.Name) || f.Name == FieldName)
	}
	if len(d.DefaultOrder) == 0 {
		d.DefaultOrder = []ports.Order{{Field: FieldModifiedAt, Desc: true}}
	}
	for i, r := range d.Permissions {
		if err := d.CheckRule(r); err != nil {
			bad("Permissions[%d]: %v", i, err)
		}
	}
	if err := d.parseNaming(); err != nil {
		bad("Naming %q: %v", d.Naming, err)
	}
	switch {
	case (d.SeriesGaps || d.SeriesBlock != 0) && d.series == nil:
		bad("SeriesGaps and SeriesBlock need a series Naming (such as \"INV-.YYYY.-.#####\"), not %q", d.Naming)
	case d.SeriesBlock < 0 || d.SeriesBlock > MaxSeriesBlock:
		bad("SeriesBlock %d: want 0 to %d", d.SeriesBlock, MaxSeriesBlock)
	case d.SeriesBlock > 1 && !d.SeriesGaps:
		bad("SeriesBlock %d needs SeriesGaps: blocks leave gaps", d.SeriesBlock)
	}
	d.plainJSON = true
	for _, f := range d.fields {
		if f.Hidden {
			d.plainJSON = false
		}
	}
	return errors.Join(errs...)
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// scalar reports whether a field type can be filtered and sorted in SQL.
func scalar(t reflect.Type) bool {
	if t == reflect.TypeFor[Decimal]() || t.String() == "time.Time" {
		return true
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
		if t.String() == "time.Time" || t == reflect.TypeFor[Decimal]() {
			return true
		}
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func collectFields(t reflect.Type, index []int, system bool, out *[]Field) {
	for i := range t.NumField() {
		sf := t.Field(i)
		idx := append(slices.Clone(index), i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct && sf.Tag.Get("json") == "" {
			collectFields(sf.Type, idx, system || sf.Type == reflect.TypeFor[Base](), out)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		name, hidden := jsonName(sf)
		gormTag := sf.Tag.Get("gorm")
		stored := gormTag != "-" && !strings.HasPrefix(gormTag, "-:")
		f := Field{Name: name, GoName: sf.Name, Index: idx, Type: sf.Type, System: system, Hidden: hidden, Stored: stored, MaxLength: gormSize(gormTag)}
		if hidden {
			// json:"-" fields are stored but never part of the API; key them by snake_case.
			f.Name = SnakeCase(sf.Name)
		}
		*out = append(*out, f)
	}
}

func jsonName(sf reflect.StructField) (name string, hidden bool) {
	tag := sf.Tag.Get("json")
	if tag == "-" {
		return "", true
	}
	name, _, _ = strings.Cut(tag, ",")
	if name == "" {
		name = sf.Name
	}
	return name, false
}

// SortedFieldNames returns the visible field names, sorted; for messages.
func (d *DocType) SortedFieldNames() []string {
	var out []string
	for _, f := range d.fields {
		if !f.Hidden {
			out = append(out, f.Name)
		}
	}
	sort.Strings(out)
	return out
}

// gormSize reads N from a gorm tag's "size:N".
func gormSize(tag string) int {
	for _, part := range strings.Split(tag, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "size:"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// CheckRule reports what is wrong with rule r for this DocType: a rule needs a
// role and actions; conditions need stored, filterable fields and a condition
// operator.
func (d *DocType) CheckRule(r Rule) error {
	if r.Role == "" || r.Actions == 0 || r.Actions&^All != 0 {
		return errors.New("a rule needs a Role and Actions")
	}
	for _, c := range r.Where {
		f, ok := d.byName[c.Field]
		if !ok || !d.fields[f].Stored || d.fields[f].Hidden {
			return fmt.Errorf("condition on unknown or hidden field %q", c.Field)
		}
		if !slices.Contains(ConditionOps, c.Op) {
			return fmt.Errorf("condition on %q: operator %q (want =, !=, in or not in)", c.Field, c.Op)
		}
	}
	return nil
}
