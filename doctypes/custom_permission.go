package doctypes

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Conditions is a list of rule conditions stored as JSON text.
type Conditions []doctype.Condition

// Value stores the list as JSON.
func (c Conditions) Value() (driver.Value, error) {
	if c == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]doctype.Condition(c))
	return string(b), err
}

// Scan reads JSON text.
func (c *Conditions) Scan(src any) error {
	*c = nil
	return doctype.ScanJSON(src, (*[]doctype.Condition)(c))
}

// GormDataType makes the column text.
func (Conditions) GormDataType() string { return "text" }

// CustomPermission is a permission rule kept in the database, per tenant: it
// grants a role actions on a DocType in addition to the DocType's own rules,
// without a deploy. Admins manage them through the resource API.
type CustomPermission struct {
	doctype.Base
	// DocumentType names the DocType the rule is about.
	DocumentType string             `json:"document_type" gorm:"size:140"`
	Role         string             `json:"role" gorm:"size:140"`
	Actions      doctype.StringList `json:"actions"`
	IfOwner      bool               `json:"if_owner"`
	Conditions   Conditions         `json:"conditions"`
	Enabled      bool               `json:"enabled"`
}

// CustomPermissionDocType is CustomPermission's DocType name.
const CustomPermissionDocType = "Custom Permission"

// CustomPermissionMeta describes CustomPermission: admins only.
var CustomPermissionMeta = doctype.Meta{
	Name:        CustomPermissionDocType,
	Description: "Permission rules kept in the database, in addition to each DocType's own.",
	Permissions: []doctype.Rule{{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Write | doctype.Create | doctype.Delete}},
	Indexes:     [][]string{{"document_type"}},
	// A row can grant anything: only admins write them (unless
	// [permissions] restrict_permission_changes is off).
	AdminOnly: true,
}

// Defaults enables new rules.
func (p *CustomPermission) Defaults() { p.Enabled = true }

var ruleActions = []string{"read", "write", "create", "delete", "submit", "cancel", "amend"}

// Validate checks the rule's shape; whether its DocType and fields exist is
// checked when rules are loaded (invalid rules are skipped and logged).
func (p *CustomPermission) Validate() error {
	v := &core.ValidationError{}
	if p.DocumentType == "" {
		v.Add("document_type", "is required")
	}
	if p.Role == "" || p.Role == ports.RoleSystem {
		v.Add("role", "is required and cannot be System")
	}
	if len(p.Actions) == 0 {
		v.Add("actions", "list at least one of read, write, create, delete, submit, cancel, amend")
	}
	for _, a := range p.Actions {
		if !slices.Contains(ruleActions, a) {
			v.Add("actions", fmt.Sprintf("%q is not an action", a))
		}
	}
	for i, c := range p.Conditions {
		key := fmt.Sprintf("conditions[%d]", i)
		if c.Field == "" || !slices.Contains(doctype.ConditionOps, c.Op) {
			v.Add(key, `must be {"field": "...", "op": "=|!=|in|not in", "value": ...}`)
			continue
		}
		if _, ref := c.Ref(); ref {
			continue
		}
		_, isList := c.Value.([]any)
		_, isMap := c.Value.(map[string]any)
		switch {
		case isMap || c.Value == nil:
			v.Add(key, "value must be a string, number, bool, list or \"$principal.<attribute>\"")
		case (c.Op == ports.OpIn || c.Op == ports.OpNotIn) && !isList:
			v.Add(key, string(c.Op)+" needs a list value")
		case (c.Op == ports.OpEq || c.Op == ports.OpNe) && isList:
			v.Add(key, string(c.Op)+" needs a single value")
		}
	}
	return v.Err()
}

// Rule returns the rule the record describes.
func (p *CustomPermission) Rule() doctype.Rule {
	r := doctype.Rule{Role: p.Role, IfOwner: p.IfOwner, Where: []doctype.Condition(p.Conditions)}
	for _, a := range p.Actions {
		r.Actions |= doctype.ActionsOf(ports.Action(a))
	}
	return r
}
