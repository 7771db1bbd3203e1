package doctypes

import (
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Role is a role of a tenant kept in the database. The built-in roles and
// every role a registered DocType's rules name exist in every tenant without
// a row; a row adds a custom role, or describes or disables an existing one
// (Admin, All and System cannot be disabled). The document's name is the
// role's name: POST {"name": "Helpdesk"} creates the role Helpdesk. The
// rules on rows (reserved names, roles in use) live in core/roles.
type Role struct {
	doctype.Base
	Description string `json:"description"`
	// Disabled roles grant nothing and cannot be assigned.
	Disabled bool `json:"disabled"`
	// IsBuiltin is set by the framework on a row about a role that exists
	// in code (a built-in role, or one named by a DocType's rules).
	IsBuiltin bool `json:"is_builtin"`
	// DeskAccess lets holders use the desk (the admin user interface).
	DeskAccess bool `json:"desk_access"`
}

// RoleDocType is Role's DocType name.
const RoleDocType = "Role"

// RoleMeta describes Role: named by the client; every signed-in user reads
// roles, only admins write them.
var RoleMeta = doctype.Meta{
	Name:        RoleDocType,
	Description: "Custom roles of a tenant, and descriptions or disabling of built-in ones.",
	Naming:      doctype.NamingPrompt,
	Permissions: []doctype.Rule{
		{Role: ports.RoleAll, Actions: doctype.Read},
		{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Write | doctype.Create | doctype.Delete},
	},
	ReadOnly: []string{"is_builtin"},
	// A role row decides what every holder of the role may do: only admins
	// write them (unless [permissions] restrict_permission_changes is off).
	AdminOnly: true,
}

// Defaults gives new roles desk access.
func (r *Role) Defaults() { r.DeskAccess = true }
