package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Repository is a ports.Repository that passes every call to the repository
// it wraps and publishes, through its Feed, one ports.ChangeEvent for each
// successful Create, Update and Delete of any DocType. An event is delivered
// through the wrapped repository's AfterCommit: once the surrounding
// transaction commits (at once outside one), never when it — or the savepoint
// the write ran in — rolls back. A failed write publishes nothing.
//
// The event's Before and After are the documents the write read and wrote,
// shared with the writer and every subscriber, not copies: subscribers must
// not modify them.
//
// When nobody subscribes to a DocType its writes cost one map lookup more
// than the wrapped repository's. When somebody does, Update and Delete first
// read the stored document (Before) in one transaction with the write.
//
// Only the port's methods are forwarded: keep the wrapped repository for its
// own extras (migrations, say).
type Repository struct {
	inner ports.Repository
	feed  *Feed
	now   func() time.Time
}

// NewRepository returns inner publishing its changes through feed, stamped
// with now (time.Now when nil).
func NewRepository(inner ports.Repository, feed *Feed, now func() time.Time) *Repository {
	if now == nil {
		now = time.Now
	}
	return &Repository{inner: inner, feed: feed, now: now}
}

// Get passes through.
func (r *Repository) Get(ctx context.Context, doctypeName, name string) (any, error) {
	return r.inner.Get(ctx, doctypeName, name)
}

// List passes through.
func (r *Repository) List(ctx context.Context, doctypeName string, q ports.Query) (ports.ListResult, error) {
	return r.inner.List(ctx, doctypeName, q)
}

// InTx passes through: the writes fn makes with its context go through r.
func (r *Repository) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return r.inner.InTx(ctx, fn)
}

// AfterCommit passes through.
func (r *Repository) AfterCommit(ctx context.Context, fn func(ctx context.Context)) {
	r.inner.AfterCommit(ctx, fn)
}

// Ping passes through.
func (r *Repository) Ping(ctx context.Context) error { return r.inner.Ping(ctx) }

// Create inserts doc and publishes its creation.
func (r *Repository) Create(ctx context.Context, doctypeName string, doc any) error {
	if err := r.inner.Create(ctx, doctypeName, doc); err != nil {
		return err
	}
	if hs := r.feed.handlers(doctypeName); len(hs) > 0 {
		r.publish(ctx, hs, ports.ChangeEvent{DocType: doctypeName, Name: nameOf(doc), Action: ports.ActionCreate, After: doc})
	}
	return nil
}

// Update saves doc and publishes the change with the document it replaced.
func (r *Repository) Update(ctx context.Context, doctypeName string, doc any) error {
	hs := r.feed.handlers(doctypeName)
	if len(hs) == 0 {
		return r.inner.Update(ctx, doctypeName, doc)
	}
	b, err := doctype.BaseOf(doc)
	if err != nil { // not a document: the wrapped repository says so
		return r.inner.Update(ctx, doctypeName, doc)
	}
	name, expected := b.Name, b.Version
	var before any
	err = r.inner.InTx(ctx, func(ctx context.Context) error {
		stored, err := r.stored(ctx, doctypeName, name)
		if err != nil {
			return err
		}
		// Only the version doc expects can be replaced; any other makes the
		// update conflict (and publish nothing).
		if sb, err := doctype.BaseOf(stored); err == nil && sb.Version == expected {
			before = stored
		}
		return r.inner.Update(ctx, doctypeName, doc)
	})
	if err != nil {
		return err
	}
	r.publish(ctx, hs, ports.ChangeEvent{DocType: doctypeName, Name: name, Action: ports.ActionWrite, Before: before, After: doc})
	return nil
}

// Delete removes doctype/name and publishes the removal with the document
// removed.
//
// The stored document is read in the same transaction as the delete. On a
// database that lets another transaction commit a change to the row between
// the two (PostgreSQL at READ COMMITTED) Before can miss that last change.
func (r *Repository) Delete(ctx context.Context, doctypeName, name string) error {
	hs := r.feed.handlers(doctypeName)
	if len(hs) == 0 {
		return r.inner.Delete(ctx, doctypeName, name)
	}
	var before any
	err := r.inner.InTx(ctx, func(ctx context.Context) error {
		var err error
		if before, err = r.stored(ctx, doctypeName, name); err != nil {
			return err
		}
		return r.inner.Delete(ctx, doctypeName, name)
	})
	if err != nil {
		return err
	}
	r.publish(ctx, hs, ports.ChangeEvent{DocType: doctypeName, Name: name, Action: ports.ActionDelete, Before: before})
	return nil
}

// stored reads doctype/name before a write; a missing document is nil, left
// for the write to report.
func (r *Repository) stored(ctx context.Context, doctypeName, name string) (any, error) {
	doc, err := r.inner.Get(ctx, doctypeName, name)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %q before writing it: %w", doctypeName, name, err)
	}
	return doc, nil
}

// publish completes ev from ctx and runs hs with it once ctx's transaction
// commits.
func (r *Repository) publish(ctx context.Context, hs []ports.ChangeHandler, ev ports.ChangeEvent) {
	ev.TenantID = ports.TenantIDFrom(ctx)
	ev.Principal = ports.UserFrom(ctx)
	ev.Request = ports.RequestInfoFrom(ctx)
	ev.At = r.now()
	r.inner.AfterCommit(ctx, func(ctx context.Context) {
		for _, h := range hs {
			h(ctx, ev)
		}
	})
}

func nameOf(doc any) string {
	if b, err := doctype.BaseOf(doc); err == nil {
		return b.Name
	}
	return ""
}

var _ ports.Repository = (*Repository)(nil)
