// Package database keeps the audit trail in the app's database, as
// Activity Log rows ([audit] backend = "database", the default): one
// transaction per batch, queried with the repository's filters and indexes.
package database

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// maxPage caps one Query's page.
const maxPage = 1000

// Log writes and reads Activity Log rows through a repository.
type Log struct {
	repo ports.Repository
	// timeField orders and bounds queries: modified_at, which the indexes
	// hold, where rows are stored as they are (a ports.BatchInserter's,
	// whose modified_at is the entry's timestamp); else timestamp, as a
	// repository's Create stamps modified_at with its own clock.
	timeField string
}

// New returns a Log over repo, in which the Activity Log DocType is
// registered. Pass the repository without change events: Activity Log rows
// are not audited, and nobody needs to hear of them.
func New(repo ports.Repository) *Log {
	l := &Log{repo: repo, timeField: "timestamp"}
	if _, ok := repo.(ports.BatchInserter); ok {
		l.timeField = doctype.FieldModifiedAt
	}
	return l
}

// Log stores entries all or nothing: through the repository's InsertBatch
// when it is a ports.BatchInserter (one COPY on PostgreSQL, a few multi-row
// statements on SQLite), else one create each in one transaction. An entry
// already stored (a batch tried again after its commit was not confirmed)
// is skipped.
func (l *Log) Log(ctx context.Context, entries ...ports.AuditEntry) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store audit entries: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	docs := make([]*doctypes.ActivityLog, len(entries))
	for i := range entries {
		d, err := toDoc(entries[i])
		if err != nil {
			return err
		}
		docs[i] = d
	}
	if bi, ok := l.repo.(ports.BatchInserter); ok {
		return bi.InsertBatch(ctx, doctypes.ActivityLogDocType, docs)
	}
	err := l.insert(ctx, docs, false)
	if errors.Is(err, core.ErrConflict) {
		return l.insert(ctx, docs, true)
	}
	return err
}

// insert creates docs in one transaction; with skipExisting, a row that is
// there already is left alone.
func (l *Log) insert(ctx context.Context, docs []*doctypes.ActivityLog, skipExisting bool) error {
	first := ports.WithTenantID(ctx, docs[0].TenantID)
	return l.repo.InTx(first, func(tx context.Context) error {
		for _, d := range docs {
			tctx := ports.WithTenantID(tx, d.TenantID)
			if skipExisting {
				if _, err := l.repo.Get(tctx, doctypes.ActivityLogDocType, d.Name); err == nil {
					continue
				}
			}
			doc := *d // the repository stamps what it writes
			if err := l.repo.Create(tctx, doctypes.ActivityLogDocType, &doc); err != nil {
				return fmt.Errorf("store audit entry %s: %w", d.Name, err)
			}
		}
		return nil
	})
}

// toDoc is e as an Activity Log row.
func toDoc(e ports.AuditEntry) (*doctypes.ActivityLog, error) {
	if e.TenantID == "" || e.ID == "" {
		return nil, fmt.Errorf("audit entry without tenant or id: %w", core.ErrValidation)
	}
	d := &doctypes.ActivityLog{
		Timestamp:  e.Timestamp.UTC(),
		UserID:     e.UserID,
		Action:     e.Action,
		RefDocType: e.DocType,
		DocumentID: e.DocumentID,
		Metadata:   e.Metadata,
	}
	d.TenantID, d.Name, d.Owner, d.ModifiedBy = e.TenantID, e.ID, e.UserID, e.UserID
	d.CreatedAt, d.ModifiedAt, d.Version = d.Timestamp, d.Timestamp, 1
	if len(e.Changes) > 0 {
		d.Changes = make(doctype.JSONMap, len(e.Changes))
		for k, v := range e.Changes {
			d.Changes[k] = []any{v[0], v[1]}
		}
	}
	return d, nil
}

// Query returns the rows filter selects, newest first.
func (l *Log) Query(ctx context.Context, f ports.AuditFilter, page ports.AuditPage) (ports.AuditResult, error) {
	if f.TenantID == "" {
		return ports.AuditResult{}, fmt.Errorf("audit query without a tenant: %w", core.ErrValidation)
	}
	q := ports.Query{
		Orders:    []ports.Order{{Field: l.timeField, Desc: true}, {Field: doctype.FieldName, Desc: true}},
		Limit:     min(max(page.Limit, 1), maxPage),
		Offset:    max(page.Offset, 0),
		SkipCount: page.SkipTotal,
	}
	for _, c := range []struct{ field, v string }{
		{"user_id", f.UserID}, {"action", f.Action}, {"doctype", f.DocType}, {"document_id", f.DocumentID},
	} {
		if c.v != "" {
			q.Filters = append(q.Filters, ports.Filter{Field: c.field, Op: ports.OpEq, Value: c.v})
		}
	}
	if !f.From.IsZero() {
		q.Filters = append(q.Filters, ports.Filter{Field: l.timeField, Op: ports.OpGe, Value: f.From.UTC()})
	}
	if !f.To.IsZero() {
		q.Filters = append(q.Filters, ports.Filter{Field: l.timeField, Op: ports.OpLt, Value: f.To.UTC()})
	}
	res, err := l.repo.List(ports.WithTenantID(ctx, f.TenantID), doctypes.ActivityLogDocType, q)
	if err != nil {
		return ports.AuditResult{}, err
	}
	out := ports.AuditResult{Entries: make([]ports.AuditEntry, 0, len(res.Items)), Total: res.Total}
	if page.SkipTotal {
		out.Total = -1
	}
	for _, it := range res.Items {
		out.Entries = append(out.Entries, fromDoc(it.(*doctypes.ActivityLog)))
	}
	return out, nil
}

// fromDoc is the entry a row holds.
func fromDoc(d *doctypes.ActivityLog) ports.AuditEntry {
	e := ports.AuditEntry{
		ID: d.Name, Timestamp: d.Timestamp.UTC(), TenantID: d.TenantID, UserID: d.UserID, Action: d.Action,
		DocType: d.RefDocType, DocumentID: d.DocumentID, Metadata: d.Metadata,
	}
	if len(d.Changes) > 0 {
		e.Changes = make(map[string][2]any, len(d.Changes))
		for k, v := range d.Changes {
			pair, _ := v.([]any)
			if len(pair) == 2 {
				e.Changes[k] = [2]any{pair[0], pair[1]}
				continue
			}
			b, _ := json.Marshal(v)
			e.Changes[k] = [2]any{nil, json.RawMessage(b)}
		}
	}
	return e
}

var _ ports.AuditLog = (*Log)(nil)
