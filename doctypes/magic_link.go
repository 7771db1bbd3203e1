package doctypes

import (
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// MagicLinkUse records that a sign-in link was used: its name is the link's
// random token id, so a second use of the link — on any instance sharing
// the database — conflicts with this row (unique per tenant and name). Rows
// are purged once the link has expired, when it fails on its expiry anyway.
type MagicLinkUse struct {
	doctype.Base
	// UserID is the user the link signed in.
	UserID string `json:"user_id" gorm:"size:140"`
	// ExpiresAt is when the link expires; the cleanup job deletes the row after.
	ExpiresAt time.Time `json:"expires_at"`
}

// MagicLinkUseDocType is MagicLinkUse's DocType name.
const MagicLinkUseDocType = "Magic Link Use"

// MagicLinkUseMeta describes MagicLinkUse: named by the caller (the token
// id), written by the framework only, admin-readable, found by expiry.
var MagicLinkUseMeta = doctype.Meta{
	Name:        MagicLinkUseDocType,
	SecretNames: true,
	NotAudited:  true,
	Description: "Sign-in links already used (token ids only), kept until they expire.",
	Naming:      doctype.NamingPrompt,
	Immutable:   true,
	Permissions: []doctype.Rule{{Role: ports.RoleAdmin, Actions: doctype.Read}},
	Indexes:     [][]string{{"expires_at"}},
}
