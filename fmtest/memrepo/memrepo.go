// Package memrepo is an in-memory ports.Repository for tests: the behaviour of
// the SQL repository (adapters/db) without a database. It passes the
// repository contract suite (fmtest/repotest).
//
//	repo := memrepo.New(reg)
//	ctx := ports.WithTenantID(t.Context(), "acme")
//	err := repo.Create(ctx, "Invoice", &Invoice{Customer: "ACME"})
//
// Like the SQL repository it scopes every call to the tenant in the context
// (core.ErrNoTenant without one), names documents by their DocType's rule
// (UUIDv7, prompt, field or a series counted per tenant), stamps owner,
// timestamps and version, refuses duplicate names, unique keys and stale
// versions with core.ErrConflict, and filters (OR-groups included), sorts and
// pages lists the same way. Times are kept in UTC at microsecond precision;
// fields with database/sql Valuer and Scanner methods (doctype.Decimal,
// StringList, JSONMap) are stored as a database would store them, through
// Value and Scan, so what a test reads back is what SQL would return.
//
// Documents are stored as deep copies: changing a document after Create,
// Update or Get changes nothing stored.
//
// Transactions are serialized: one transaction — or one write outside any —
// runs at a time, and the others wait for it (at most WriteWait). A
// transaction sees its own writes; everything outside it sees the last
// committed state, and reads never wait. A nested InTx is a savepoint.
// AfterCommit functions run after the writer lock is released, so they may
// write again.
//
// Where SQL engines differ, memrepo follows SQLite, the default engine: NULLs
// sort before every value, LIKE has no escape character, strings compare
// byte by byte. LIKE ignores case for every letter (as PostgreSQL's ILIKE).
// String fields longer than their gorm size, or holding NUL characters, are
// refused as PostgreSQL refuses them.
package memrepo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// DefaultLimit is the page size of a List that asks for none (as adapters/db).
const DefaultLimit = 20

// WriteWait is how long a write waits for the transaction in progress to
// finish before it fails with core.ErrUnavailable. Waiting that long usually
// means a write inside a transaction used a context without the transaction.
const WriteWait = 10 * time.Second

// Repository is an in-memory ports.Repository. It is safe for concurrent use.
type Repository struct {
	reg *doctype.Registry
	// writer is held by the transaction in progress (or a write outside any).
	writer chan struct{}
	tables sync.Map // *doctype.DocType → *table

	mu   sync.RWMutex // guards base and every open transaction
	base *layer       // the committed state
}

// New returns an empty Repository for the DocTypes in reg. DocTypes
// registered later are usable too; there is nothing to migrate.
func New(reg *doctype.Registry) *Repository {
	return &Repository{reg: reg, writer: make(chan struct{}, 1), base: newLayer(nil)}
}

// txKey is the context key of r's transactions, so that contexts carrying a
// transaction of one Repository never join another's.
type txKey struct{ r *Repository }

type txState uint8

const (
	txOpen txState = iota
	txMerged
	txCommitted
	txRolledBack
)

// tx is one transaction or savepoint: its writes, and the AfterCommit
// functions registered in it.
type tx struct {
	*layer
	parent *tx // the enclosing transaction; nil at the top level
	state  txState
	hooks  []func(ctx context.Context)
}

var errTxDone = errors.New("memrepo: the transaction of this context has already committed or rolled back")

// txOf returns the open transaction ctx's calls join (nil for none): ctx's
// own, or the one a finished savepoint merged into. r.mu must be held.
func (r *Repository) txOf(ctx context.Context) (*tx, error) {
	t, _ := ctx.Value(txKey{r}).(*tx)
	for t != nil {
		switch t.state {
		case txOpen:
			return t, nil
		case txMerged:
			t = t.parent
		default:
			return nil, errTxDone
		}
	}
	return nil, nil
}

// view returns the state ctx's reads see. r.mu must be held.
func (r *Repository) view(ctx context.Context) (*layer, error) {
	t, err := r.txOf(ctx)
	if err != nil || t == nil {
		return r.base, err
	}
	return t.layer, nil
}

// lock takes the writer lock, waiting at most WriteWait.
func (r *Repository) lock(ctx context.Context) error {
	select {
	case r.writer <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(WriteWait)
	defer timer.Stop()
	select {
	case r.writer <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("memrepo: waited %s for the transaction in progress (a write inside a transaction with a context that does not carry it?): %w", WriteWait, core.ErrUnavailable)
	}
}

func (r *Repository) unlock() { <-r.writer }

// write runs op, which must check everything before it changes anything, on
// the layer ctx's writes go to: its transaction's, or — holding the writer
// lock — the committed state.
func (r *Repository) write(ctx context.Context, op func(l *layer) error) error {
	r.mu.Lock()
	t, err := r.txOf(ctx)
	if err != nil || t != nil {
		defer r.mu.Unlock()
		if err != nil {
			return err
		}
		return op(t.layer)
	}
	r.mu.Unlock()
	if err := r.lock(ctx); err != nil {
		return err
	}
	defer r.unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	return op(r.base)
}

// InTx runs fn in one transaction; a nested call is a savepoint whose failure
// undoes only its own work. On success the writes become visible at once and
// the AfterCommit functions run, in order, with a context without the
// transaction; an error (or a panic) from fn discards them.
func (r *Repository) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	r.mu.Lock()
	parent, err := r.txOf(ctx)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if parent == nil {
		if err := r.lock(ctx); err != nil {
			return err
		}
	}
	under := r.base
	if parent != nil {
		under = parent.layer
	}
	t := &tx{layer: newLayer(under), parent: parent}
	done := false
	defer func() {
		if done {
			return
		}
		r.mu.Lock()
		t.state = txRolledBack
		r.mu.Unlock()
		if parent == nil {
			r.unlock()
		}
	}()
	if err := fn(context.WithValue(ctx, txKey{r}, t)); err != nil {
		return err
	}
	r.mu.Lock()
	if parent != nil {
		if parent.state != txOpen {
			r.mu.Unlock()
			return errTxDone
		}
		t.mergeInto(parent.layer)
		parent.hooks = append(parent.hooks, t.hooks...)
		t.state, done = txMerged, true
		r.mu.Unlock()
		return nil
	}
	t.mergeInto(r.base)
	t.state, done = txCommitted, true
	hooks := t.hooks
	r.mu.Unlock()
	r.unlock()
	after := context.WithValue(ctx, txKey{r}, (*tx)(nil))
	for _, h := range hooks {
		h(after)
	}
	return nil
}

// AfterCommit runs fn once the transaction in ctx commits (a savepoint's
// functions wait for the outermost commit), at once when ctx carries none,
// and never when it rolls back.
func (r *Repository) AfterCommit(ctx context.Context, fn func(ctx context.Context)) {
	r.mu.Lock()
	t, _ := ctx.Value(txKey{r}).(*tx)
	for t != nil && t.state == txMerged {
		t = t.parent
	}
	switch {
	case t == nil:
		r.mu.Unlock()
		fn(ctx)
	case t.state == txOpen:
		t.hooks = append(t.hooks, fn)
		r.mu.Unlock()
	case t.state == txCommitted:
		r.mu.Unlock()
		fn(context.WithValue(ctx, txKey{r}, (*tx)(nil)))
	default: // rolled back
		r.mu.Unlock()
	}
}

// Ping reports ctx's error, if any: memory is always reachable.
func (r *Repository) Ping(ctx context.Context) error { return ctx.Err() }

// Get returns a copy of one document of the current tenant.
func (r *Repository) Get(ctx context.Context, doctypeName, name string) (any, error) {
	t, err := r.table(doctypeName)
	if err != nil {
		return nil, err
	}
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	view, err := r.view(ctx)
	var doc any
	found := false
	if err == nil {
		doc, found = view.get(t.key(tid), name)
	}
	r.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, t.notFound(name)
	}
	return clone(doc), nil
}

// List returns copies of one page of documents and the count of all that match.
func (r *Repository) List(ctx context.Context, doctypeName string, q ports.Query) (ports.ListResult, error) {
	t, err := r.table(doctypeName)
	if err != nil {
		return ports.ListResult{}, err
	}
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return ports.ListResult{}, err
	}
	match, err := t.compile(q.Filters)
	if err != nil {
		return ports.ListResult{}, err
	}
	keys, err := t.orderKeys(q.Orders)
	if err != nil {
		return ports.ListResult{}, err
	}
	r.mu.RLock()
	view, err := r.view(ctx)
	var docs []any
	if err == nil {
		for _, d := range view.all(t.key(tid)) {
			docs = append(docs, d)
		}
	}
	r.mu.RUnlock()
	if err != nil {
		return ports.ListResult{}, err
	}
	type row struct {
		doc  any
		keys []value
	}
	rows := make([]row, 0, len(docs))
	for _, d := range docs {
		v := reflect.ValueOf(d).Elem()
		if match != nil && !match(v) {
			continue
		}
		rw := row{doc: d, keys: make([]value, len(keys))}
		for i, k := range keys {
			rw.keys[i] = fieldValue(v.FieldByIndex(k.field.Index))
		}
		rows = append(rows, rw)
	}
	sort.Slice(rows, func(i, j int) bool {
		for k, key := range keys {
			c := compareNullsFirst(rows[i].keys[k], rows[j].keys[k])
			if key.desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
	res := ports.ListResult{Total: int64(len(rows))}
	if q.SkipCount {
		res.Total = -1
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	from := min(max(q.Offset, 0), len(rows))
	to := min(from+limit, len(rows))
	res.Items = make([]any, 0, to-from)
	for _, rw := range rows[from:to] {
		res.Items = append(res.Items, clone(rw.doc))
	}
	return res, nil
}

// Create inserts a copy of doc into the current tenant, naming it if needed,
// and stamps doc's tenant, name, owner, timestamps and version 1. A failed
// Create leaves doc's Base as it was.
func (r *Repository) Create(ctx context.Context, doctypeName string, doc any) error {
	t, tid, b, err := r.prepare(ctx, doctypeName, doc)
	if err != nil {
		return err
	}
	prev := *b
	now := doctype.Now()
	actor := doctype.ActorID(ctx)
	t.normalizeTimes(doc)
	b.TenantID = tid
	b.CreatedAt, b.ModifiedAt = now, now
	b.ModifiedBy = actor
	b.Version = 1
	if b.Owner == "" {
		b.Owner = actor
	}
	named := b.Name != "" || t.dt.IsSingle
	k := t.key(tid)
	err = r.write(ctx, func(l *layer) error {
		var (
			counter *seriesKey
			next    int64
		)
		switch {
		case t.dt.IsSingle:
			b.Name = t.dt.Name
		case b.Name != "":
			if err := doctype.CheckName(b.Name); err != nil {
				return core.Invalid(doctype.FieldName, err.Error())
			}
		default:
			name, err := t.dt.NewName(doc, now, func(prefix string) (int64, error) {
				sk := seriesKey{tenant: tid, prefix: prefix}
				counter, next = &sk, l.counter(sk)+1
				return next, nil
			})
			if err != nil {
				return err
			}
			b.Name = name
		}
		stored, err := t.store(doc)
		if err != nil {
			return err
		}
		if _, exists := l.get(k, b.Name); exists || t.clashes(l, k, stored, b.Name) {
			return t.dt.DuplicateError(b.Name, named)
		}
		if counter != nil {
			l.setCounter(*counter, next)
		}
		l.put(k, b.Name, stored)
		return nil
	})
	if err != nil {
		*b = prev
		return err
	}
	return nil
}

// prepare returns what a write of doc needs: its table, the tenant of ctx
// and doc's Base.
func (r *Repository) prepare(ctx context.Context, doctypeName string, doc any) (*table, string, *doctype.Base, error) {
	t, err := r.table(doctypeName)
	if err != nil {
		return nil, "", nil, err
	}
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	b, err := t.baseOf(doc)
	return t, tid, b, err
}

// errStale marks a version mismatch inside Update.
var errStale = errors.New("memrepo: stale version")

// Update saves a copy of doc if its version is still the stored one, and
// bumps doc's version, modified_at and modified_by. Owner and created_at keep
// their stored values. A failed Update leaves doc's Base as it was.
func (r *Repository) Update(ctx context.Context, doctypeName string, doc any) error {
	t, tid, b, err := r.prepare(ctx, doctypeName, doc)
	if err != nil {
		return err
	}
	if b.TenantID != "" && b.TenantID != tid {
		return t.notFound(b.Name)
	}
	prev := *b
	expected := b.Version
	t.normalizeTimes(doc)
	b.TenantID = tid
	b.Version = expected + 1
	b.ModifiedAt = doctype.Now()
	b.ModifiedBy = doctype.ActorID(ctx)
	k := t.key(tid)
	var current any
	err = r.write(ctx, func(l *layer) error {
		old, ok := l.get(k, b.Name)
		if !ok {
			return t.notFound(b.Name)
		}
		ob := old.(doctype.Document).DocBase()
		if ob.Version != expected {
			current = old
			return errStale
		}
		stored, err := t.store(doc)
		if err != nil {
			return err
		}
		sb := stored.(doctype.Document).DocBase()
		sb.Owner, sb.CreatedAt = ob.Owner, ob.CreatedAt
		if t.clashes(l, k, stored, b.Name) {
			return t.dt.DuplicateError("", false)
		}
		l.put(k, b.Name, stored)
		return nil
	})
	if err != nil {
		*b = prev
		if errors.Is(err, errStale) {
			cur := clone(current)
			return &core.ConflictError{
				Message: fmt.Sprintf("%s %q was changed by someone else: version %d is stale, the current version is %d",
					t.dt.Name, b.Name, expected, cur.(doctype.Document).DocBase().Version),
				Current: cur,
			}
		}
		return err
	}
	return nil
}

// Delete removes one document of the current tenant.
func (r *Repository) Delete(ctx context.Context, doctypeName, name string) error {
	t, err := r.table(doctypeName)
	if err != nil {
		return err
	}
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return err
	}
	k := t.key(tid)
	return r.write(ctx, func(l *layer) error {
		if _, ok := l.get(k, name); !ok {
			return t.notFound(name)
		}
		l.del(k, name)
		return nil
	})
}

var _ ports.Repository = (*Repository)(nil)
