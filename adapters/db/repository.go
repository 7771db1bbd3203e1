package db

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// DefaultLimit is the page size of a List that asks for none.
const DefaultLimit = 20

// table is what the repository knows of one DocType's table.
type table struct {
	dt      *doctype.DocType
	columns map[string]string // JSON field name → column
	update  []string          // columns Update writes
	decimal map[string]bool   // columns holding doctype.Decimal
	times   [][]int           // index paths of time.Time and *time.Time fields
}

// Repository is the GORM implementation of ports.Repository.
type Repository struct {
	db       *gorm.DB
	reg      *doctype.Registry
	postgres bool

	mu     sync.RWMutex
	tables map[string]*table
}

// New returns a Repository over gdb for the DocTypes in reg.
func New(gdb *gorm.DB, reg *doctype.Registry) *Repository {
	return &Repository{db: gdb, reg: reg, postgres: gdb.Name() == "postgres", tables: map[string]*table{}}
}

// DB returns the underlying GORM handle, joined to the transaction in ctx if any.
// Use it for queries the Repository port does not express; remember to scope
// them to the tenant yourself.
func (r *Repository) DB(ctx context.Context) *gorm.DB { return r.conn(ctx) }

type (
	txKey    struct{}
	hooksKey struct{}
)

// hookList collects AfterCommit functions of one transaction level.
type hookList struct{ fns []func(ctx context.Context) }

func txOf(ctx context.Context) *gorm.DB {
	tx, _ := ctx.Value(txKey{}).(*gorm.DB)
	return tx
}

func (r *Repository) conn(ctx context.Context) *gorm.DB {
	if tx := txOf(ctx); tx != nil {
		return tx
	}
	return r.db.WithContext(ctx)
}

// AfterCommit runs fn when the transaction in ctx commits, or now.
func (r *Repository) AfterCommit(ctx context.Context, fn func(ctx context.Context)) {
	if hooks, ok := ctx.Value(hooksKey{}).(*hookList); ok && hooks != nil && txOf(ctx) != nil {
		hooks.fns = append(hooks.fns, fn)
		return
	}
	fn(ctx)
}

// detached returns ctx without its transaction.
func detached(ctx context.Context) context.Context {
	return context.WithValue(context.WithValue(ctx, txKey{}, (*gorm.DB)(nil)), hooksKey{}, (*hookList)(nil))
}

// InTx runs fn in one transaction. A nested call runs in a savepoint of the
// outer transaction: if fn fails, only its own work is undone and the outer
// transaction stays usable (on PostgreSQL a failed statement would otherwise
// abort the whole transaction).
func (r *Repository) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	conn := r.db.WithContext(ctx)
	parent := txOf(ctx)
	if parent != nil {
		conn = parent
	}
	hooks := &hookList{}
	err := conn.Transaction(func(tx *gorm.DB) error {
		return fn(context.WithValue(context.WithValue(ctx, txKey{}, tx), hooksKey{}, hooks))
	})
	if err != nil {
		return err
	}
	if parent != nil { // a savepoint: its hooks wait for the outer commit
		if outer, ok := ctx.Value(hooksKey{}).(*hookList); ok && outer != nil {
			outer.fns = append(outer.fns, hooks.fns...)
			return nil
		}
	}
	after := detached(ctx)
	for _, h := range hooks.fns {
		h(after)
	}
	return nil
}

// write runs one writing statement. Inside a transaction it runs under a
// savepoint, so a statement that fails (a unique violation, say) leaves the
// caller's transaction usable.
func (r *Repository) write(ctx context.Context, fn func(conn *gorm.DB) error) error {
	if tx := txOf(ctx); tx != nil {
		return tx.Transaction(fn)
	}
	return fn(r.db.WithContext(ctx))
}

// Ping checks the database answers.
func (r *Repository) Ping(ctx context.Context) error {
	sqlDB, err := r.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

func (r *Repository) table(name string) (*table, error) {
	r.mu.RLock()
	t, ok := r.tables[name]
	r.mu.RUnlock()
	if ok {
		return t, nil
	}
	dt, ok := r.reg.Get(name)
	if !ok {
		return nil, core.Publicf(core.ErrNotFound, "unknown doctype %q", name)
	}
	sch, err := schema.Parse(dt.NewZero(), &sync.Map{}, r.db.NamingStrategy)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", dt.Name, err)
	}
	t = &table{dt: dt, columns: map[string]string{}, decimal: map[string]bool{}}
	for _, f := range dt.Fields() {
		if !f.Stored {
			continue
		}
		sf := sch.LookUpField(f.GoName)
		if sf == nil || sf.DBName == "" {
			continue
		}
		t.columns[f.Name] = sf.DBName
		switch f.Type {
		case decimalType, reflect.PointerTo(decimalType):
			t.decimal[sf.DBName] = true
		case timeType, reflect.PointerTo(timeType):
			t.times = append(t.times, f.Index)
		}
		switch f.Name {
		case doctype.FieldTenantID, doctype.FieldName, doctype.FieldOwner, doctype.FieldCreatedAt:
		default:
			t.update = append(t.update, sf.DBName)
		}
	}
	r.mu.Lock()
	r.tables[name] = t
	r.mu.Unlock()
	return t, nil
}

func col(name string) clause.Column { return clause.Column{Name: name} }

// scoped starts a query on t's table limited to the tenant in ctx.
func (r *Repository) scoped(ctx context.Context, t *table) (*gorm.DB, string, error) {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, "", err
	}
	return r.conn(ctx).Table(t.dt.Table).Where(clause.Eq{Column: col("tenant_id"), Value: tid}), tid, nil
}

// Get returns one document of the current tenant.
func (r *Repository) Get(ctx context.Context, doctypeName, name string) (any, error) {
	t, err := r.table(doctypeName)
	if err != nil {
		return nil, err
	}
	q, _, err := r.scoped(ctx, t)
	if err != nil {
		return nil, err
	}
	doc := t.dt.NewZero()
	err = q.Where(clause.Eq{Column: col("name"), Value: name}).Take(doc).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, core.Publicf(core.ErrNotFound, "%s %q not found", t.dt.Name, name)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %q: %w", t.dt.Name, name, translate(err))
	}
	return doc, nil
}

// List returns one page of documents and the count of all that match.
func (r *Repository) List(ctx context.Context, doctypeName string, q ports.Query) (ports.ListResult, error) {
	t, err := r.table(doctypeName)
	if err != nil {
		return ports.ListResult{}, err
	}
	base, _, err := r.scoped(ctx, t)
	if err != nil {
		return ports.ListResult{}, err
	}
	for _, f := range q.Filters {
		expr, err := r.filterExpr(t, f)
		if err != nil {
			return ports.ListResult{}, err
		}
		if expr != nil {
			base = base.Where(expr)
		}
	}
	base = base.Session(&gorm.Session{})
	res := ports.ListResult{Total: -1}
	if !q.SkipCount {
		if err := base.Count(&res.Total).Error; err != nil {
			return ports.ListResult{}, fmt.Errorf("count %s: %w", t.dt.Name, translate(err))
		}
	}
	orders := q.Orders
	if len(orders) == 0 {
		orders = t.dt.DefaultOrder
	}
	var (
		orderSQL  []string
		orderVars []any
		hasName   bool
	)
	addOrder := func(c string, desc bool) {
		dir := " ASC"
		if desc {
			dir = " DESC"
		}
		orderSQL = append(orderSQL, "?"+dir)
		orderVars = append(orderVars, r.operand(t, c))
	}
	for _, o := range orders {
		c, ok := t.columns[o.Field]
		if !ok {
			return ports.ListResult{}, core.Invalidf(o.Field, "cannot sort by unknown field")
		}
		hasName = hasName || o.Field == doctype.FieldName
		addOrder(c, o.Desc)
	}
	if !hasName {
		// Break ties by name, so pages never overlap or skip rows. Its direction
		// follows the last sort key's, so an index on (tenant_id, key, name)
		// serves the whole ORDER BY in one scan.
		addOrder("name", orders[len(orders)-1].Desc)
	}
	page := base.Order(clause.OrderBy{Expression: clause.Expr{SQL: strings.Join(orderSQL, ", "), Vars: orderVars}})
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	page = page.Limit(limit)
	if q.Offset > 0 {
		page = page.Offset(q.Offset)
	}
	slice := reflect.New(reflect.SliceOf(reflect.PointerTo(t.dt.Type)))
	if err := page.Find(slice.Interface()).Error; err != nil {
		return ports.ListResult{}, fmt.Errorf("list %s: %w", t.dt.Name, translate(err))
	}
	s := slice.Elem()
	res.Items = make([]any, s.Len())
	for i := range s.Len() {
		res.Items[i] = s.Index(i).Interface()
	}
	return res, nil
}

// operand is how a column takes part in comparisons and sorting. SQLite keeps
// decimals as exact text, so they compare by their numeric value via CAST.
func (r *Repository) operand(t *table, c string) any {
	if !r.postgres && t.decimal[c] {
		return clause.Expr{SQL: "CAST(? AS REAL)", Vars: []any{col(c)}}
	}
	return col(c)
}

// value prepares a filter value for column c: decimals cast like the column
// (SQLite), times in UTC (SQLite compares its time text as text).
func (r *Repository) value(t *table, c string, v any) any {
	switch tm := v.(type) {
	case time.Time:
		v = tm.UTC()
	case *time.Time:
		if tm != nil {
			v = tm.UTC()
		}
	}
	if !r.postgres && t.decimal[c] {
		return clause.Expr{SQL: "CAST(? AS REAL)", Vars: []any{v}}
	}
	return v
}

func (r *Repository) filterExpr(t *table, f ports.Filter) (clause.Expression, error) {
	if f.IsGroup() {
		return r.groupExpr(t, f.Any)
	}
	c, ok := t.columns[f.Field]
	if !ok {
		return nil, core.Invalid(f.Field, "unknown field")
	}
	column := r.operand(t, c)
	v := r.value(t, c, f.Value)
	switch f.Op {
	case ports.OpEq:
		return clause.Eq{Column: column, Value: v}, nil
	case ports.OpNe:
		return clause.Neq{Column: column, Value: v}, nil
	case ports.OpLt:
		return clause.Lt{Column: column, Value: v}, nil
	case ports.OpLe:
		return clause.Lte{Column: column, Value: v}, nil
	case ports.OpGt:
		return clause.Gt{Column: column, Value: v}, nil
	case ports.OpGe:
		return clause.Gte{Column: column, Value: v}, nil
	case ports.OpIn, ports.OpNotIn:
		rv := reflect.ValueOf(f.Value)
		if !rv.IsValid() || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Type().Elem().Kind() == reflect.Uint8 {
			return nil, core.Invalidf(f.Field, "%s needs a list", f.Op)
		}
		vals := make([]any, rv.Len())
		for i := range vals {
			vals[i] = r.value(t, c, rv.Index(i).Interface())
		}
		if len(vals) == 0 {
			if f.Op == ports.OpIn {
				return clause.Expr{SQL: "1 = 0"}, nil // in () matches nothing
			}
			return nil, nil // not in () matches everything
		}
		if f.Op == ports.OpIn {
			return clause.IN{Column: column, Values: vals}, nil
		}
		return clause.Not(clause.IN{Column: column, Values: vals}), nil
	case ports.OpLike:
		if r.postgres {
			return clause.Expr{SQL: "? ILIKE ?", Vars: []any{col(c), f.Value}}, nil
		}
		return clause.Like{Column: col(c), Value: f.Value}, nil // SQLite LIKE ignores ASCII case
	case ports.OpIsNull:
		return clause.Expr{SQL: "? IS NULL", Vars: []any{col(c)}}, nil
	case ports.OpIsNotNull:
		return clause.Expr{SQL: "? IS NOT NULL", Vars: []any{col(c)}}, nil
	}
	return nil, core.Invalidf(f.Field, "unknown operator %q", f.Op)
}

// groupExpr is (g1a AND g1b) OR (g2a) …; no group matches nothing.
func (r *Repository) groupExpr(t *table, groups [][]ports.Filter) (clause.Expression, error) {
	var ors []clause.Expression
	for _, g := range groups {
		var ands []clause.Expression
		for _, f := range g {
			e, err := r.filterExpr(t, f)
			if err != nil {
				return nil, err
			}
			if e != nil {
				ands = append(ands, e)
			}
		}
		if len(ands) == 0 { // an empty group matches everything
			return nil, nil
		}
		ors = append(ors, clause.And(ands...))
	}
	if len(ors) == 0 {
		return clause.Expr{SQL: "1 = 0"}, nil
	}
	return clause.Or(ors...), nil
}

// Create inserts doc into the current tenant, naming it if needed.
func (r *Repository) Create(ctx context.Context, doctypeName string, doc any) error {
	t, err := r.table(doctypeName)
	if err != nil {
		return err
	}
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return err
	}
	b, err := doctype.BaseOf(doc)
	if err != nil {
		return err
	}
	now := doctype.Now()
	actor := actorID(ctx)
	normalizeTimes(t, doc)
	b.TenantID = tid
	b.CreatedAt, b.ModifiedAt = now, now
	b.ModifiedBy = actor
	b.Version = 1
	if b.Owner == "" {
		b.Owner = actor
	}
	named := b.Name != "" || t.dt.IsSingle
	return r.InTx(ctx, func(ctx context.Context) error {
		conn := r.conn(ctx)
		switch {
		case t.dt.IsSingle:
			b.Name = t.dt.Name
		case b.Name != "":
			if err := doctype.CheckName(b.Name); err != nil {
				return core.Invalid(doctype.FieldName, err.Error())
			}
		default:
			name, err := t.dt.NewName(doc, now, func(key string) (int64, error) {
				return r.nextSeries(conn, tid, key)
			})
			if err != nil {
				return err
			}
			b.Name = name
		}
		if err := conn.Table(t.dt.Table).Create(doc).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return duplicateError(t.dt, b.Name, named)
			}
			return fmt.Errorf("create %s: %w", t.dt.Name, translate(err))
		}
		return nil
	})
}

// duplicateError explains a unique violation on create: the name (when the
// caller chose it) or one of the DocType's unique field sets.
func duplicateError(dt *doctype.DocType, name string, named bool) error {
	switch {
	case len(dt.Unique) == 0:
		return core.Publicf(core.ErrConflict, "%s %q already exists", dt.Name, name)
	case named:
		return core.Publicf(core.ErrConflict, "%s %q already exists, or another %s has the same %s", dt.Name, name, dt.Name, uniqueDesc(dt))
	}
	return core.Publicf(core.ErrConflict, "another %s has the same %s", dt.Name, uniqueDesc(dt))
}

func uniqueDesc(dt *doctype.DocType) string {
	if len(dt.Unique) == 0 {
		return "name"
	}
	var parts []string
	for _, u := range dt.Unique {
		parts = append(parts, strings.Join(u, "+"))
	}
	return strings.Join(parts, " or ")
}

// seriesRow is one naming-series counter.
type seriesRow struct {
	TenantID string `gorm:"primaryKey;size:140"`
	Prefix   string `gorm:"primaryKey;size:140"`
	Current  int64
}

// SeriesTable holds naming-series counters.
const SeriesTable = "fm_series"

func (r *Repository) nextSeries(conn *gorm.DB, tenantID, prefix string) (int64, error) {
	var n int64
	err := conn.Raw(`INSERT INTO `+SeriesTable+` (tenant_id, prefix, current) VALUES (?, ?, 1)
ON CONFLICT (tenant_id, prefix) DO UPDATE SET current = `+SeriesTable+`.current + 1
RETURNING current`, tenantID, prefix).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("series %q: %w", prefix, err)
	}
	return n, nil
}

// Update saves doc if nobody changed it since it was read.
func (r *Repository) Update(ctx context.Context, doctypeName string, doc any) error {
	t, err := r.table(doctypeName)
	if err != nil {
		return err
	}
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return err
	}
	b, err := doctype.BaseOf(doc)
	if err != nil {
		return err
	}
	if b.TenantID != "" && b.TenantID != tid {
		return core.Publicf(core.ErrNotFound, "%s %q not found", t.dt.Name, b.Name)
	}
	prev := *b
	expected := b.Version
	normalizeTimes(t, doc)
	b.TenantID = tid
	b.Version = expected + 1
	b.ModifiedAt = doctype.Now()
	b.ModifiedBy = actorID(ctx)
	var affected int64
	err = r.write(ctx, func(conn *gorm.DB) error {
		res := conn.Table(t.dt.Table).
			Where(clause.Eq{Column: col("tenant_id"), Value: tid}).
			Where(clause.Eq{Column: col("name"), Value: b.Name}).
			Where(clause.Eq{Column: col("version"), Value: expected}).
			Select(t.update).Updates(doc)
		affected = res.RowsAffected
		return res.Error
	})
	if err != nil {
		*b = prev
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return core.Publicf(core.ErrConflict, "another %s has the same %s", t.dt.Name, uniqueDesc(t.dt))
		}
		return fmt.Errorf("update %s %q: %w", t.dt.Name, b.Name, translate(err))
	}
	if affected == 0 {
		*b = prev
		current, err := r.Get(ctx, doctypeName, b.Name)
		if err != nil {
			return err
		}
		cur, _ := doctype.BaseOf(current)
		return &core.ConflictError{
			Message: fmt.Sprintf("%s %q was changed by someone else: version %d is stale, the current version is %d", t.dt.Name, b.Name, expected, cur.Version),
			Current: current,
		}
	}
	return nil
}

// Delete removes one document of the current tenant.
func (r *Repository) Delete(ctx context.Context, doctypeName, name string) error {
	t, err := r.table(doctypeName)
	if err != nil {
		return err
	}
	if _, err := core.RequireTenant(ctx); err != nil {
		return err
	}
	var affected int64
	err = r.write(ctx, func(conn *gorm.DB) error {
		res := conn.Table(t.dt.Table).
			Where(clause.Eq{Column: col("tenant_id"), Value: ports.TenantIDFrom(ctx)}).
			Where(clause.Eq{Column: col("name"), Value: name}).
			Delete(t.dt.NewZero())
		affected = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", t.dt.Name, name, translate(err))
	}
	if affected == 0 {
		return core.Publicf(core.ErrNotFound, "%s %q not found", t.dt.Name, name)
	}
	return nil
}

var (
	decimalType = reflect.TypeFor[doctype.Decimal]()
	timeType    = reflect.TypeFor[time.Time]()
)

// normalizeTimes stores every time of doc in UTC at microsecond precision:
// SQLite compares its time text as text, and PostgreSQL keeps microseconds.
func normalizeTimes(t *table, doc any) {
	v := reflect.ValueOf(doc).Elem()
	for _, idx := range t.times {
		f := v.FieldByIndex(idx)
		switch tm := f.Interface().(type) {
		case time.Time:
			if !tm.IsZero() {
				f.Set(reflect.ValueOf(tm.UTC().Truncate(time.Microsecond)))
			}
		case *time.Time:
			if tm != nil {
				u := tm.UTC().Truncate(time.Microsecond)
				f.Set(reflect.ValueOf(&u))
			}
		}
	}
}

func actorID(ctx context.Context) string {
	if u := ports.UserFrom(ctx); u != nil && u.ID != "" {
		return u.ID
	}
	return ports.SystemUser.ID
}

var _ ports.Repository = (*Repository)(nil)
