package doctypes

import (
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// ActivityLog is one entry of the audit trail kept in the database ([audit]
// backend = "database"): a committed change with its field-level diff, an
// audited read, or a security event. Its name is the entry's id. Nobody can
// change or delete it through any API, admins included.
type ActivityLog struct {
	doctype.Base
	Timestamp  time.Time       `json:"timestamp"`
	UserID     string          `json:"user_id" gorm:"size:140"`
	Action     string          `json:"action" gorm:"size:40"`
	RefDocType string          `json:"doctype" gorm:"size:140"`
	DocumentID string          `json:"document_id" gorm:"size:140"`
	Changes    doctype.JSONMap `json:"changes"`
	Metadata   doctype.JSONMap `json:"metadata"`
}

// ActivityLogDocType is the ActivityLog DocType's name.
const ActivityLogDocType = "Activity Log"

// ActivityLogMeta describes ActivityLog: append-only, not audited itself,
// readable by admins through the resource API (everyone reads the entries
// they may see through /api/v1/activity).
//
// A row's modified_at is its timestamp (rows never change), so the index
// every table has (tenant, modified_at, name) serves the whole feed newest
// first and its from/to ranges; the two others serve a document's timeline
// and a user's entries. Every index costs each audited write its share of
// the database's time, so there are no more: a filter on action alone reads
// the feed's index.
var ActivityLogMeta = doctype.Meta{
	Name:        ActivityLogDocType,
	Description: "The audit trail: changes, audited reads and security events.",
	Naming:      "prompt",
	Immutable:   true,
	AppendOnly:  true,
	NotAudited:  true,
	Permissions: []doctype.Rule{{Role: ports.RoleAdmin, Actions: doctype.Read}},
	Indexes:     [][]string{{"doctype", "document_id"}, {"user_id"}},
}
