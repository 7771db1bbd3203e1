// Package doctype is Framework M's DocType machinery: the Base every document
// embeds, the Meta that describes a DocType, the Registry that holds them,
// naming rules, strict JSON decoding and the field types (Decimal, StringList,
// JSONMap) that store portably on SQLite and PostgreSQL.
package doctype

import (
	"strings"
	"time"

	"github.com/framework-m/framework-m/ports"
)

// Base holds the fields every document has. Embed it (by value) in a DocType struct.
//
// TenantID and Name form the primary key: a name is unique within a tenant.
// Version starts at 1 and grows by one at every update (optimistic locking).
type Base struct {
	TenantID   string    `json:"tenant_id" gorm:"primaryKey;size:140"`
	Name       string    `json:"name" gorm:"primaryKey;size:140"`
	Owner      string    `json:"owner" gorm:"size:140"`
	CreatedAt  time.Time `json:"created_at"`
	ModifiedAt time.Time `json:"modified_at"`
	ModifiedBy string    `json:"modified_by" gorm:"size:140"`
	Version    int64     `json:"version"`
}

// DocBase returns b; it makes every struct embedding Base a Document.
func (b *Base) DocBase() *Base { return b }

// Document is implemented by a pointer to any struct that embeds Base.
type Document interface {
	DocBase() *Base
}

// Base field JSON names.
const (
	FieldName       = "name"
	FieldTenantID   = "tenant_id"
	FieldOwner      = "owner"
	FieldCreatedAt  = "created_at"
	FieldModifiedAt = "modified_at"
	FieldModifiedBy = "modified_by"
	FieldVersion    = "version"
)

// Validator is implemented by DocTypes that check their own fields. Validate runs
// before every create and update; return a *core.ValidationError naming the fields.
type Validator interface {
	Validate() error
}

// Defaulter is implemented by DocTypes with non-zero defaults. Defaults runs on a
// new document before client input is applied, and on a singleton's first read.
type Defaulter interface {
	Defaults()
}

// OwnerDefaulter is implemented by DocTypes that fill fields from the
// document's owner before a create is validated (User Preferences are named
// by their user, who creates them).
type OwnerDefaulter interface {
	OwnerDefaults(owner string)
}

// Now returns the current time as documents store it: UTC, microsecond precision
// (what PostgreSQL keeps), so a document read back equals the one written.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Actions is a set of document actions.
type Actions uint16

// The document actions a Rule can grant.
const (
	Read Actions = 1 << iota
	Write
	Create
	Delete
	Submit
	Cancel
	Amend

	// All grants every action.
	All = Read | Write | Create | Delete | Submit | Cancel | Amend
)

var actionBits = map[ports.Action]Actions{
	ports.ActionRead: Read, ports.ActionWrite: Write, ports.ActionCreate: Create,
	ports.ActionDelete: Delete, ports.ActionSubmit: Submit, ports.ActionCancel: Cancel,
	ports.ActionAmend: Amend,
}

// ActionsOf returns the bit for action a (0 for an unknown action).
func ActionsOf(a ports.Action) Actions { return actionBits[a] }

// Has reports whether the set grants action a.
func (s Actions) Has(a ports.Action) bool {
	bit := ActionsOf(a)
	return bit != 0 && s&bit == bit
}

// Rule grants a role some actions on a DocType.
type Rule struct {
	// Role the principal must have (RoleAll: every logged-in user).
	Role string
	// Actions granted.
	Actions Actions
	// IfOwner limits the grant to documents the principal owns: whose
	// Meta.RLSField (default "owner") holds the principal's id.
	IfOwner bool
	// Where limits the grant to documents matching every condition (ABAC),
	// e.g. {Field: "department", Op: "=", Value: doctype.Principal("department")}.
	Where []Condition
}

// Condition compares a document field with a literal or a principal attribute.
// Op is one of =, !=, in, not in.
type Condition struct {
	Field string         `json:"field"`
	Op    ports.Operator `json:"op"`
	// Value is a literal (a string, number, bool or list) or a Principal
	// reference; in JSON, a string "$principal.<attribute>" is a reference.
	Value any `json:"value"`
}

// Principal refers to an attribute of the principal in a Condition:
// Principal("id") is the user id, and any other name an entry of the
// principal's attributes. With = and != the attribute must be a single value,
// with in and not in a list; otherwise the condition holds for no document.
type Principal string

// PrincipalPrefix marks a principal reference in JSON conditions.
const PrincipalPrefix = "$principal."

// ConditionOps are the operators conditions may use.
var ConditionOps = []ports.Operator{ports.OpEq, ports.OpNe, ports.OpIn, ports.OpNotIn}

// Ref returns the principal attribute c.Value refers to, if it refers to one.
func (c Condition) Ref() (string, bool) {
	switch v := c.Value.(type) {
	case Principal:
		return string(v), true
	case string:
		if rest, ok := strings.CutPrefix(v, PrincipalPrefix); ok && rest != "" {
			return rest, true
		}
	}
	return "", false
}
