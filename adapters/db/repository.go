package db

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
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
	// insert is every column a new row is written with, in order, and
	// insertFields the struct fields that hold them (InsertBatch's COPY);
	// none when the DocType has child tables.
	insert       []string
	insertFields []*schema.Field
}

// Repository is the GORM implementation of ports.Repository. On SQLite it
// reads through the read-only pool and writes through the one write
// connection, queueing writers fairly (see writer.go).
type Repository struct {
	db       *gorm.DB // writes, transactions (and reads where there is no reader pool)
	read     *gorm.DB // reads outside transactions
	slot     writeSlot
	reg      *doctype.Registry
	postgres bool
	blocks   seriesBlocks

	mu     sync.RWMutex
	tables map[string]*table
}

// New returns a Repository over gdb for the DocTypes in reg.
func New(gdb *gorm.DB, reg *doctype.Registry) *Repository {
	r := &Repository{db: gdb, read: gdb, reg: reg, postgres: gdb.Name() == "postgres", tables: map[string]*table{}}
	if sp := splitOf(gdb); sp != nil {
		r.slot = sp.slot
		if sp.read != nil {
			r.read = sp.read
		}
	}
	return r
}

// DB returns the underlying GORM handle (on SQLite its write connection),
// joined to the transaction in ctx if any. Use it for queries the Repository
// port does not express; remember to scope them to the tenant yourself. On
// SQLite, inside InTx use the handle of that transaction's context: the one
// write connection is the transaction's until it ends.
func (r *Repository) DB(ctx context.Context) *gorm.DB {
	if tx := txOf(ctx); tx != nil {
		return tx
	}
	return r.db.WithContext(ctx)
}

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

// conn is the handle reads use: the transaction in ctx, or the reader pool.
func (r *Repository) conn(ctx context.Context) *gorm.DB {
	if tx := txOf(ctx); tx != nil {
		return tx
	}
	return r.read.WithContext(ctx)
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
	} else if err := r.slot.acquire(ctx); err != nil {
		return err
	}
	hooks := &hookList{}
	err := conn.Transaction(func(tx *gorm.DB) error {
		return fn(context.WithValue(context.WithValue(ctx, txKey{}, tx), hooksKey{}, hooks))
	})
	if parent == nil {
		r.slot.release()
	}
	if err != nil {
		return translate(err)
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
	if err := r.slot.acquire(ctx); err != nil {
		return err
	}
	defer r.slot.release()
	return fn(r.db.WithContext(ctx))
}

// Ping checks the database answers (on SQLite, through both handles).
func (r *Repository) Ping(ctx context.Context) error {
	for _, h := range []*gorm.DB{r.db, r.read} {
		sqlDB, err := h.DB()
		if err != nil {
			return err
		}
		if err := sqlDB.PingContext(ctx); err != nil {
			return err
		}
	}
	return nil
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
	if len(sch.Relationships.Relations) == 0 { // a COPY writes no child rows
		for _, c := range sch.DBNames {
			if sf := sch.FieldsByDBName[c]; sf.Creatable {
				t.insert = append(t.insert, c)
				t.insertFields = append(t.insertFields, sf)
			}
		}
	}
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

// nameText is how errors name a document of t: quoted, or "(name withheld)"
// for DocTypes whose names are credentials (Meta.SecretNames).
func (t *table) nameText(name string) string {
	if t.dt.SecretNames {
		return "(name withheld)"
	}
	return strconv.Quote(name)
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

// Get returns one document of the current tenant. Outside a transaction, a
// read that failed because the server ended its connection is tried once more,
// on another.
func (r *Repository) Get(ctx context.Context, doctypeName, name string) (any, error) {
	doc, err := r.get(ctx, doctypeName, name)
	if err != nil && txOf(ctx) == nil && connectionEnded(err) {
		return r.get(ctx, doctypeName, name)
	}
	return doc, err
}

func (r *Repository) get(ctx context.Context, doctypeName, name string) (any, error) {
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
		return nil, fmt.Errorf("get %s %s: %w", t.dt.Name, t.nameText(name), translate(err))
	}
	return doc, nil
}
