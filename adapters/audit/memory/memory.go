// Package memory keeps the audit trail in process memory ([audit] backend =
// "memory"): for tests and for trying the framework out, never for an app
// whose trail must outlive it.
//
// Log copies what it is given (callers may reuse their entries and maps) and
// stores a batch whole or not at all. An entry whose ID is stored already (a
// batch tried again) is skipped, so retries are idempotent. Query filters on
// every field of ports.AuditFilter and returns copies, newest first (by
// Timestamp, then ID, both descending).
package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// DefaultLimit is the page size of a Query whose AuditPage.Limit is 0 or
// less; MaxLimit is the largest page a Query returns.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Log is the in-memory implementation of ports.AuditLog. It is safe for
// concurrent use; the zero value is not usable (call New).
type Log struct {
	mu      sync.RWMutex
	entries []ports.AuditEntry
	ids     map[string]struct{}
}

// New returns an empty Log.
func New() *Log { return &Log{ids: map[string]struct{}{}} }

// Log stores copies of entries, in one step: with ctx done, or an entry
// without ID or TenantID (core.ErrValidation), it stores none of them.
// Entries whose ID is stored already are skipped.
func (l *Log) Log(ctx context.Context, entries ...ports.AuditEntry) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory audit log: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	if err := check(entries); err != nil {
		return fmt.Errorf("memory audit log: %w", err)
	}
	copies := make([]ports.AuditEntry, len(entries))
	for i := range entries {
		copies[i] = clone(entries[i])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range copies {
		if _, seen := l.ids[e.ID]; seen {
			continue
		}
		l.ids[e.ID] = struct{}{}
		l.entries = append(l.entries, e)
	}
	return nil
}

// Query returns copies of the entries filter selects, newest first, one page
// of them (Limit 0 or less means DefaultLimit, more than MaxLimit means
// MaxLimit; a negative Offset means 0), and how many match in all unless
// page.SkipTotal (then Total is -1).
func (l *Log) Query(ctx context.Context, filter ports.AuditFilter, page ports.AuditPage) (ports.AuditResult, error) {
	if err := ctx.Err(); err != nil {
		return ports.AuditResult{}, fmt.Errorf("memory audit log: %w", err)
	}
	l.mu.RLock()
	var found []ports.AuditEntry
	for _, e := range l.entries {
		if filter.Matches(e) {
			found = append(found, e) // cloned below, once paged
		}
	}
	l.mu.RUnlock()
	slices.SortFunc(found, ports.NewestFirst)
	limit, offset := pageBounds(page)
	res := ports.AuditResult{Total: int64(len(found)), Entries: []ports.AuditEntry{}}
	if page.SkipTotal {
		res.Total = -1
	}
	if offset < len(found) {
		for _, e := range found[offset:min(offset+limit, len(found))] {
			res.Entries = append(res.Entries, clone(e))
		}
	}
	return res, nil
}

// Entries returns copies of every stored entry, in the order they were
// logged: for an app's tests to look at what was audited.
func (l *Log) Entries() []ports.AuditEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]ports.AuditEntry, len(l.entries))
	for i := range l.entries {
		out[i] = clone(l.entries[i])
	}
	return out
}

// pageBounds is page's limit and offset after defaults and caps.
func pageBounds(page ports.AuditPage) (limit, offset int) {
	limit = page.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	return min(limit, MaxLimit), max(page.Offset, 0)
}

// check refuses (core.ErrValidation) a batch holding an entry without ID or
// TenantID.
func check(entries []ports.AuditEntry) error {
	for i := range entries {
		if entries[i].ID == "" {
			return core.Invalidf("id", "audit entry %d of %d has no id", i+1, len(entries))
		}
		if entries[i].TenantID == "" {
			return core.Invalidf("tenant_id", "audit entry %s has no tenant", entries[i].ID)
		}
	}
	return nil
}

// clone returns a copy of e that shares no map, slice or raw JSON with it.
func clone(e ports.AuditEntry) ports.AuditEntry {
	if e.Changes != nil {
		changes := make(map[string][2]any, len(e.Changes))
		for k, v := range e.Changes {
			changes[k] = [2]any{cloneValue(v[0]), cloneValue(v[1])}
		}
		e.Changes = changes
	}
	if e.Metadata != nil {
		e.Metadata = cloneValue(e.Metadata).(map[string]any)
	}
	return e
}

// cloneValue deep-copies the containers JSON values are made of; anything
// else is returned as it is.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			out[k] = cloneValue(v)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = cloneValue(v)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, v := range x {
			out[k] = v
		}
		return out
	case []string:
		return slices.Clone(x)
	case json.RawMessage:
		return slices.Clone(x)
	case []byte:
		return slices.Clone(x)
	}
	return v
}

var _ ports.AuditLog = (*Log)(nil)
