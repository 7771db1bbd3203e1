package db

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// List returns one page of documents and the count of all that match. Outside
// a transaction, a read that failed because the server ended its connection
// is tried once more, on another.
func (r *Repository) List(ctx context.Context, doctypeName string, q ports.Query) (ports.ListResult, error) {
	res, err := r.list(ctx, doctypeName, q)
	if err != nil && txOf(ctx) == nil && connectionEnded(err) {
		return r.list(ctx, doctypeName, q)
	}
	return res, err
}

func (r *Repository) list(ctx context.Context, doctypeName string, q ports.Query) (ports.ListResult, error) {
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
