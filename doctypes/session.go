package doctypes

import (
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Session is a browser session kept by the database session store
// (adapters/session/database). Its name is the session handle — the SHA-256
// (hex) of the secret the session cookie carries — so the table never holds
// the secret itself. Only the framework writes sessions; admins may read and
// delete them (users manage their own at /api/v1/auth/sessions).
type Session struct {
	doctype.Base
	// UserID is the user the session logs in.
	UserID string `json:"user_id" gorm:"size:140"`
	// ExpiresAt is when the session ends; expired rows are never served and are
	// deleted by the store's cleanup job.
	ExpiresAt time.Time `json:"expires_at"`
	// IPAddress is the client address the session was started from.
	IPAddress string `json:"ip_address"`
	// UserAgent is the browser that started the session.
	UserAgent string `json:"user_agent"`
	// CSRFHash is the SHA-256 (hex) of the session's CSRF token: never serialized.
	CSRFHash string `json:"-"`
	// TokenVer is the user's token version when the session started.
	TokenVer int64 `json:"-"`
}

// SessionDocType is the Session DocType's name.
const SessionDocType = "Session"

// SessionMeta describes Session: named by the caller (the handle), written by
// the framework only, admin-readable, found by user and by expiry.
var SessionMeta = doctype.Meta{
	Name:         SessionDocType,
	SecretNames:  true,
	NotAudited:   true,
	Description:  "Browser sessions (handles only) of the database session store.",
	Naming:       doctype.NamingPrompt,
	Immutable:    true,
	Permissions:  []doctype.Rule{{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Delete}},
	Indexes:      [][]string{{"user_id"}, {"expires_at"}},
	DefaultOrder: []ports.Order{{Field: doctype.FieldCreatedAt, Desc: true}},
}
