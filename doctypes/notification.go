package doctypes

import (
	"slices"
	"strings"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Notification is an in-app notification for one user: listed at
// /api/v1/notifications and pushed to the user's open streams
// (/api/v1/notifications/stream) when it is created. Its name is a UUIDv7, so
// names sort in creation order.
type Notification struct {
	doctype.Base
	// UserID is the recipient: row-level security filters on it, so users
	// see, mark and delete only their own.
	UserID string `json:"user_id" gorm:"size:140"`
	// Subject is the one-line summary.
	Subject string `json:"subject" gorm:"size:255"`
	// Message is the body (plain text).
	Message string `json:"message" gorm:"size:10000"`
	// NotificationType is info, success, warning, error, mention or assignment.
	NotificationType string `json:"notification_type" gorm:"size:20"`
	// Read says the user has seen it.
	Read bool `json:"read"`
	// Doctype and DocumentID name the document the notification is about, if any.
	Doctype    string `json:"doctype" gorm:"column:doctype;size:140"`
	DocumentID string `json:"document_id" gorm:"size:140"`
	// Timestamp is when it was created.
	Timestamp time.Time `json:"timestamp"`
	// FromUser is who caused it (empty: the system).
	FromUser string `json:"from_user" gorm:"size:140"`
	// Metadata carries whatever else the client needs (a URL, ids …).
	Metadata doctype.JSONMap `json:"metadata"`
}

// NotificationDocType is Notification's DocType name.
const NotificationDocType = "Notification"

// Notification types.
const (
	NotificationInfo       = "info"
	NotificationSuccess    = "success"
	NotificationWarning    = "warning"
	NotificationError      = "error"
	NotificationMention    = "mention"
	NotificationAssignment = "assignment"
)

// NotificationTypes lists the valid notification types.
var NotificationTypes = []string{NotificationInfo, NotificationSuccess, NotificationWarning,
	NotificationError, NotificationMention, NotificationAssignment}

// NotificationMeta describes Notification: every user reads, marks and
// deletes their own (row-level security on user_id); admins create them for
// anyone through the resource API, app code with notify.Service.Notify. Only
// "read" changes after creation (core/notify guards the resource API).
var NotificationMeta = doctype.Meta{
	Name:        NotificationDocType,
	Description: "In-app notifications: each user's own, pushed to their open streams when created.",
	RLSField:    "user_id",
	NotAudited:  true,
	Permissions: []doctype.Rule{
		{Role: ports.RoleAll, Actions: doctype.Read | doctype.Write | doctype.Delete, IfOwner: true},
		{Role: ports.RoleAdmin, Actions: doctype.All},
	},
	ReadOnly:     []string{"timestamp"},
	Indexes:      [][]string{{"user_id", "name"}, {"user_id", "read", "name"}},
	DefaultOrder: []ports.Order{{Field: doctype.FieldName, Desc: true}},
}

// Defaults makes a new notification an unread info, stamped now.
func (n *Notification) Defaults() {
	n.NotificationType = NotificationInfo
	n.Timestamp = doctype.Now()
}

// Validate requires a recipient and a subject, and a known type.
func (n *Notification) Validate() error {
	verr := &core.ValidationError{}
	if strings.TrimSpace(n.UserID) == "" {
		verr.Add("user_id", "is required")
	}
	if strings.TrimSpace(n.Subject) == "" {
		verr.Add("subject", "is required")
	}
	if n.NotificationType == "" {
		n.NotificationType = NotificationInfo
	}
	if !slices.Contains(NotificationTypes, n.NotificationType) {
		verr.Add("notification_type", "must be one of "+strings.Join(NotificationTypes, ", "))
	}
	if n.Timestamp.IsZero() {
		n.Timestamp = doctype.Now()
	}
	return verr.Err()
}
