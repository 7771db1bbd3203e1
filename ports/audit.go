package ports

import (
	"context"
	"time"
)

// AuditEntry is one audited event: a committed change of a document (with
// its field-level diff), a read of a DocType whose Meta asks for it, or a
// security event of the identity part. Entries are never changed once
// written.
type AuditEntry struct {
	// ID is unique and time-ordered (a UUIDv7).
	ID string `json:"id"`
	// Timestamp is when the event happened (UTC).
	Timestamp time.Time `json:"timestamp"`
	// TenantID is the tenant the event happened in.
	TenantID string `json:"tenant_id"`
	// UserID is who did it ("" for the system, or an unknown user's failed
	// login, whose attempted login is in Metadata["login"]).
	UserID string `json:"user_id,omitempty"`
	// Action is what happened: an AuditAction.
	Action string `json:"action"`
	// DocType and DocumentID name the document concerned, when one is.
	DocType    string `json:"doctype,omitempty"`
	DocumentID string `json:"document_id,omitempty"`
	// Changes maps each changed field to its [old, new] values (old is nil
	// on create, new on delete). Hidden fields and secrets are masked.
	Changes map[string][2]any `json:"changes,omitempty"`
	// Metadata holds request_id, ip and user_agent of the request the event
	// happened in, and what else the event carries (a failed login's reason).
	Metadata map[string]any `json:"metadata,omitempty"`
}

// The actions of audit entries.
const (
	AuditCreate = "create"
	AuditUpdate = "update"
	AuditDelete = "delete"
	AuditRead   = "read"

	AuditLogin          = "login"
	AuditLoginFailed    = "login_failed"
	AuditLogout         = "logout"
	AuditPasswordChange = "password_change"
	AuditAPIKeyCreate   = "api_key_create"
	AuditAPIKeyRevoke   = "api_key_revoke"
	AuditSessionRevoke  = "session_revoke"
	AuditAccountErase   = "account_erase"
)

// AuditMasked replaces the value of a hidden or secret field in
// AuditEntry.Changes: that it changed is recorded, never what it holds.
const AuditMasked = "***"

// AuditFilter selects audit entries. Zero fields select everything; TenantID
// is always set by the framework.
type AuditFilter struct {
	TenantID   string
	UserID     string
	Action     string
	DocType    string
	DocumentID string
	// From and To bound Timestamp (From inclusive, To exclusive) when not zero.
	From, To time.Time
}

// Matches reports whether f selects e: every non-zero field of f equals
// e's, and e.Timestamp is at or after From and before To (when set). For
// backends that filter in memory.
func (f AuditFilter) Matches(e AuditEntry) bool {
	switch {
	case f.TenantID != "" && e.TenantID != f.TenantID,
		f.UserID != "" && e.UserID != f.UserID,
		f.Action != "" && e.Action != f.Action,
		f.DocType != "" && e.DocType != f.DocType,
		f.DocumentID != "" && e.DocumentID != f.DocumentID,
		!f.From.IsZero() && e.Timestamp.Before(f.From),
		!f.To.IsZero() && !e.Timestamp.Before(f.To):
		return false
	}
	return true
}

// NewestFirst orders entries as AuditLog.Query returns them: by Timestamp,
// then by ID, both descending (a comparison function for slices.SortFunc).
func NewestFirst(a, b AuditEntry) int {
	if c := b.Timestamp.Compare(a.Timestamp); c != 0 {
		return c
	}
	switch {
	case a.ID > b.ID:
		return -1
	case a.ID < b.ID:
		return 1
	}
	return 0
}

// AuditPage is a page of entries, newest first.
type AuditPage struct {
	Limit  int
	Offset int
	// SkipTotal leaves AuditResult.Total at -1 (counting is costly).
	SkipTotal bool
}

// AuditResult is a page of entries, newest first, and how many match in all
// (-1 when not counted).
type AuditResult struct {
	Entries []AuditEntry
	Total   int64
}

// AuditLog keeps audit entries where nobody can alter them: a table, JSONL
// files, Elasticsearch. The framework batches entries off the request path
// (core/audit) and calls Log with each batch.
type AuditLog interface {
	// Log stores entries, all or none where the backend allows; an error
	// makes the framework retry the batch.
	Log(ctx context.Context, entries ...AuditEntry) error
	// Query returns the entries filter selects, newest first. A backend that
	// cannot read back what it wrote returns an error wrapping
	// ErrAuditNotQueryable.
	Query(ctx context.Context, filter AuditFilter, page AuditPage) (AuditResult, error)
}

// AuditRecorder takes audit entries to be written later, off the caller's
// path: Record never blocks and never fails (what cannot be kept is
// counted and logged). Fields left empty are filled from ctx: ID, Timestamp,
// TenantID, UserID (the principal) and the request's metadata.
type AuditRecorder interface {
	Record(ctx context.Context, entries ...AuditEntry)
}

// ErrAuditNotQueryable is wrapped by AuditLog.Query when the backend keeps
// entries for others to read (a log shipper, say).
var ErrAuditNotQueryable = auditError("this audit backend cannot be queried")

type auditError string

func (e auditError) Error() string { return string(e) }
