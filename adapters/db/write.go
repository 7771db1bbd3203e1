package db

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

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
	actor := doctype.ActorID(ctx)
	normalizeTimes(t, doc)
	b.TenantID = tid
	b.CreatedAt, b.ModifiedAt = now, now
	b.ModifiedBy = actor
	b.Version = 1
	if b.Owner == "" {
		b.Owner = actor
	}
	named := b.Name != "" || t.dt.IsSingle
	if !named && t.dt.SeriesGaps && r.postgres && txOf(ctx) == nil {
		// Gaps allowed: the number is taken (committed) before the create's
		// transaction, which then holds no lock others wait for.
		name, err := t.dt.NewName(doc, now, func(key string) (int64, error) {
			return r.blocks.next(ctx, r.db, tid, key, t.dt.SeriesBlock, false)
		})
		if err != nil {
			return err
		}
		b.Name = name
	}
	return r.InTx(ctx, func(ctx context.Context) error {
		conn := txOf(ctx)
		switch {
		case t.dt.IsSingle:
			b.Name = t.dt.Name
		case b.Name != "":
			if err := doctype.CheckName(b.Name); err != nil {
				return core.Invalid(doctype.FieldName, err.Error())
			}
		default:
			name, err := t.dt.NewName(doc, now, func(key string) (int64, error) {
				if t.dt.SeriesGaps && t.dt.SeriesBlock > 1 {
					// Inside a caller's transaction: a number of a block
					// already reserved, or one more in this transaction.
					return r.blocks.next(ctx, conn, tid, key, t.dt.SeriesBlock, true)
				}
				return advanceSeries(conn, tid, key, 1)
			})
			if err != nil {
				return err
			}
			b.Name = name
		}
		if err := conn.Table(t.dt.Table).Create(doc).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return t.dt.DuplicateError(b.Name, named)
			}
			return fmt.Errorf("create %s: %w", t.dt.Name, translate(err))
		}
		return nil
	})
}

// InsertBatch stores docs (a slice of pointers to the DocType's struct) as
// they are, skipping those whose tenant and name exist already
// (ports.BatchInserter). On PostgreSQL, outside a transaction, the rows go
// in one COPY, which costs the server about half as much per row as an
// INSERT's VALUES; a batch that meets a row stored already (sent again
// after an unconfirmed commit) is then inserted again with INSERT … ON
// CONFLICT DO NOTHING. Elsewhere it is INSERTs of 100 rows. A COPY runs
// beside GORM: it makes no trace span.
func (r *Repository) InsertBatch(ctx context.Context, doctypeName string, docs any) error {
	t, err := r.table(doctypeName)
	if err != nil {
		return err
	}
	v := reflect.ValueOf(docs)
	if v.Kind() != reflect.Slice || v.Type().Elem() != reflect.PointerTo(t.dt.Type) {
		return fmt.Errorf("insert batch of %s: want []*%s, not %T", t.dt.Name, t.dt.Type.Name(), docs)
	}
	if v.Len() == 0 {
		return nil
	}
	for i := range v.Len() {
		if v.Index(i).IsNil() {
			return fmt.Errorf("insert batch of %s: document %d is nil", t.dt.Name, i)
		}
		normalizeTimes(t, v.Index(i).Interface())
	}
	if r.postgres && txOf(ctx) == nil && len(t.insert) > 0 {
		err := r.copyRows(ctx, t, v)
		var pe *pgconn.PgError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &pe) && pe.Code == uniqueViolation, errors.Is(err, errNoCopy):
		default:
			return fmt.Errorf("insert batch of %s: %w", t.dt.Name, translate(err))
		}
	}
	return r.write(ctx, func(conn *gorm.DB) error {
		err := conn.Table(t.dt.Table).Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(docs, 100).Error
		if err != nil {
			return fmt.Errorf("insert batch of %s: %w", t.dt.Name, translate(err))
		}
		return nil
	})
}

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// errNoCopy: the pool's connections are not pgx's (a dialector of the
// app's own), so there is no COPY.
var errNoCopy = errors.New("the connection cannot COPY")

// copyRows writes docs (a non-empty slice of pointers to t's struct) in one
// COPY on a connection of the pool: all or nothing.
func (r *Repository) copyRows(ctx context.Context, t *table, docs reflect.Value) error {
	sqlDB, err := r.db.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errNoCopy
		}
		src := &copySource{ctx: ctx, fields: t.insertFields, docs: docs, i: -1, row: make([]any, len(t.insertFields))}
		_, err := pc.Conn().CopyFrom(ctx, pgx.Identifier{t.dt.Table}, t.insert, src)
		return err
	})
}

// copySource hands COPY the column values of one document after another,
// in one reused row.
type copySource struct {
	ctx    context.Context
	fields []*schema.Field
	docs   reflect.Value
	i      int
	row    []any
}

func (s *copySource) Next() bool {
	s.i++
	return s.i < s.docs.Len()
}

func (s *copySource) Values() ([]any, error) {
	doc := s.docs.Index(s.i).Elem()
	for j, f := range s.fields {
		s.row[j], _ = f.ValueOf(s.ctx, doc)
	}
	return s.row, nil
}

func (*copySource) Err() error { return nil }

// seriesRow is one naming-series counter.
type seriesRow struct {
	TenantID string `gorm:"primaryKey;size:140"`
	Prefix   string `gorm:"primaryKey;size:140"`
	Current  int64
}

// SeriesTable holds naming-series counters.
const SeriesTable = "fm_series"

// advanceSeries advances the counter of prefix by n on conn and returns its
// new value (the last of the n numbers reserved).
func advanceSeries(conn *gorm.DB, tenantID, prefix string, n int) (int64, error) {
	var last int64
	err := conn.Raw(`INSERT INTO `+SeriesTable+` (tenant_id, prefix, current) VALUES (?, ?, ?)
ON CONFLICT (tenant_id, prefix) DO UPDATE SET current = `+SeriesTable+`.current + ?
RETURNING current`, tenantID, prefix, n, n).Scan(&last).Error
	if err != nil {
		return 0, fmt.Errorf("series %q: %w", prefix, translate(err))
	}
	return last, nil
}

// seriesBlocks hands out the numbers of series blocks reserved by this
// instance (Meta.SeriesBlock), per tenant and prefix.
type seriesBlocks struct {
	mu sync.Mutex
	m  map[[2]string]*seriesBlock
}

// seriesBlock is one prefix's reserved numbers: next to last. Its mutex is
// held while a new block is reserved, so one instance reserves one at a time.
type seriesBlock struct {
	mu         sync.Mutex
	next, last int64
}

// next returns the next number of prefix: from the reserved block, or from a
// new block of size (at least 1) reserved on conn. With onlyReserved (inside
// a caller's transaction, which may roll back) a number is taken from the
// block if one is left, and otherwise the counter advances by one on conn,
// in that transaction, keeping nothing.
func (s *seriesBlocks) next(ctx context.Context, conn *gorm.DB, tenantID, prefix string, size int, onlyReserved bool) (int64, error) {
	if size <= 1 {
		return advanceSeries(conn.WithContext(ctx), tenantID, prefix, 1)
	}
	key := [2]string{tenantID, prefix}
	s.mu.Lock()
	if s.m == nil {
		s.m = map[[2]string]*seriesBlock{}
	}
	b := s.m[key]
	if b == nil {
		b = &seriesBlock{}
		s.m[key] = b
	}
	s.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next > 0 && b.next <= b.last {
		b.next++
		return b.next - 1, nil
	}
	if onlyReserved {
		return advanceSeries(conn, tenantID, prefix, 1)
	}
	last, err := advanceSeries(conn.WithContext(ctx), tenantID, prefix, size)
	if err != nil {
		return 0, err
	}
	b.next, b.last = last-int64(size)+2, last
	return last - int64(size) + 1, nil
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
	b.ModifiedBy = doctype.ActorID(ctx)
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
			return t.dt.DuplicateError("", false)
		}
		return fmt.Errorf("update %s %s: %w", t.dt.Name, t.nameText(b.Name), translate(err))
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
		return fmt.Errorf("delete %s %s: %w", t.dt.Name, t.nameText(name), translate(err))
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

var _ ports.Repository = (*Repository)(nil)

// PurgeBefore deletes every row of doctypeName, in every tenant, whose time
// field is before t (maintenance: expired sessions, revoked tokens). It
// bypasses tenant scoping on purpose and emits no change events.
func (r *Repository) PurgeBefore(ctx context.Context, doctypeName, field string, t time.Time) (int64, error) {
	tb, err := r.table(doctypeName)
	if err != nil {
		return 0, err
	}
	c, ok := tb.columns[field]
	if !ok {
		return 0, fmt.Errorf("purge %s: unknown field %q", doctypeName, field)
	}
	var n int64
	err = r.write(ctx, func(conn *gorm.DB) error {
		res := conn.Table(tb.dt.Table).Where(clause.Lt{Column: col(c), Value: t.UTC().Truncate(time.Microsecond)}).Delete(tb.dt.NewZero())
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("purge %s: %w", doctypeName, err)
	}
	return n, nil
}

// ListBefore returns up to limit documents of doctype, in every tenant,
// whose time field is before t, oldest first.
func (r *Repository) ListBefore(ctx context.Context, doctypeName, field string, t time.Time, limit int) ([]any, error) {
	tb, err := r.table(doctypeName)
	if err != nil {
		return nil, err
	}
	c, ok := tb.columns[field]
	if !ok {
		return nil, fmt.Errorf("list %s: unknown field %q", doctypeName, field)
	}
	rows := reflect.New(reflect.SliceOf(reflect.PointerTo(tb.dt.Type)))
	err = r.conn(ctx).Table(tb.dt.Table).
		Where(clause.Lt{Column: col(c), Value: t.UTC().Truncate(time.Microsecond)}).
		Order(clause.OrderByColumn{Column: col(c)}).Limit(limit).Find(rows.Interface()).Error
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", doctypeName, translate(err))
	}
	out := make([]any, rows.Elem().Len())
	for i := range out {
		out[i] = rows.Elem().Index(i).Interface()
	}
	return out, nil
}

var _ ports.Purger = (*Repository)(nil)
var _ ports.BatchInserter = (*Repository)(nil)
