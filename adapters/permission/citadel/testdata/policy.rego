# The rules of fmtest/permtest, on the DocType Invoice, as an OPA policy for
# the citadel adapter's "opa" format:
#
#   - Admin: everything.
#   - Accounts Manager: every action on every invoice.
#   - Accounts User: read, create and write invoices they own.
#   - Sales Rep: read invoices whose department equals their "department" attribute.
#   - Auditor: read every invoice.
#   - anybody else: nothing.
#
# The adapter POSTs {"input": {principal, action: "Invoice:read", resource:
# "Invoice:INV-1" | "Invoice:*", tenant_id, context: <document> | {},
# principal_attributes, resource_attributes, roles, list?}} to
# /v1/data/framework/authz. Querying a package returns every rule of the
# package, so the package's only rules are the keys of the decision —
# allowed, reason, policy_id and, for list requests with conditional grants,
# filters — and every helper is a function (functions are not part of the
# document).
#
# A request with an empty context is a type-level check (a list, a create
# form): a conditional grant allows it, and for lists (input.list == true) the
# conditions come back as filters that limit the rows.
package framework.authz

default allowed := false

default reason := "no rule grants this action"

default policy_id := ""

allowed := decide(input).allowed

reason := decide(input).reason

policy_id := decide(input).policy_id

filters := decide(input).filters

# --- the rules -------------------------------------------------------------------

# A grant gives a role actions ("*" = all) on the documents that meet every
# condition: document field == the principal's attribute ("id" is the
# principal itself). No conditions = every document.

# common_grants are the grants on every DocType.
common_grants(_) := [{"id": "admin", "role": "Admin", "actions": ["*"], "conditions": []}]

# doctype_grants are the grants of one DocType.
default doctype_grants(_) := []

doctype_grants("Invoice") := [
	{"id": "invoice/accounts-manager", "role": "Accounts Manager", "actions": ["*"], "conditions": []},
	{
		"id": "invoice/accounts-user-own",
		"role": "Accounts User",
		"actions": ["read", "create", "write"],
		"conditions": [{"field": "owner", "principal": "id"}],
	},
	{
		"id": "invoice/sales-rep-department",
		"role": "Sales Rep",
		"actions": ["read"],
		"conditions": [{"field": "department", "principal": "department"}],
	},
	{"id": "invoice/auditor", "role": "Auditor", "actions": ["read"], "conditions": []},
]

# --- evaluation ------------------------------------------------------------------

# action_parts splits "Invoice:read" into ["Invoice", "read"].
action_parts(req) := parts if {
	parts := split(req.action, ":")
	count(parts) == 2
}

# applicable lists, in order, the grants for the request's DocType that give
# one of the principal's roles the request's action.
applicable(req) := [g |
	[doctype, action] := action_parts(req)
	grants := array.concat(common_grants(doctype), doctype_grants(doctype))
	some g in grants
	role_held(req, g.role)
	action_granted(g, action)
]

role_held(req, role) if role in req.roles

action_granted(g, action) if {
	some a in g.actions
	a in {"*", action}
}

# has_doc holds when the request carries a document.
has_doc(req) if count(req.context) > 0

# principal_value is what a condition compares the document field with;
# undefined when the principal lacks the attribute.
principal_value(req, c) := req.principal if c.principal == "id"

principal_value(req, c) := v if {
	c.principal != "id"
	v := req.principal_attributes[c.principal]
	v != null
}

# doc_matches holds when the document meets every condition of g.
doc_matches(req, g) if {
	every c in g.conditions {
		req.context[c.field] == principal_value(req, c)
	}
}

# grant_filters are g's conditions as list filters; undefined when a condition
# cannot be resolved (the grant then gives nothing).
grant_filters(req, g) := fs if {
	fs := [{"field": c.field, "op": "=", "value": v} |
		some c in g.conditions
		v := principal_value(req, c)
	]
	count(fs) == count(g.conditions)
}

# grant_reason explains a grant that allowed a document.
grant_reason(g) := sprintf("role %s", [g.role]) if count(g.conditions) == 0

grant_reason(g) := sprintf("role %s on a matching document", [g.role]) if count(g.conditions) > 0

# list_filters ORs the groups of several conditional grants.
list_filters(groups) := groups[0] if count(groups) == 1

list_filters(groups) := [{"any": groups}] if count(groups) > 1

decide(req) := d if {
	# A document: the first grant whose conditions it meets.
	has_doc(req)
	matching := [g | some g in applicable(req); doc_matches(req, g)]
	count(matching) > 0
	d := {"allowed": true, "reason": grant_reason(matching[0]), "policy_id": matching[0].id}
} else := d if {
	has_doc(req)
	d := {"allowed": false, "reason": "no rule grants this action on this document", "policy_id": ""}
} else := d if {
	# Type level, an unconditional grant: every row.
	unconditional := [g | some g in applicable(req); count(g.conditions) == 0]
	count(unconditional) > 0
	d := {"allowed": true, "reason": sprintf("role %s", [unconditional[0].role]), "policy_id": unconditional[0].id}
} else := d if {
	# A list under conditional grants: the rows they allow.
	req.list == true
	conditional := [g | some g in applicable(req); grant_filters(req, g)]
	count(conditional) > 0
	d := {
		"allowed": true,
		"reason": "conditional grants: rows are filtered",
		"policy_id": concat(",", [g.id | some g in conditional]),
		"filters": list_filters([grant_filters(req, g) | some g in conditional]),
	}
} else := d if {
	req.list == true
	d := {"allowed": false, "reason": "no rule grants this action on any row", "policy_id": ""}
} else := d if {
	# Type level without a list (a create form): a conditional grant allows it.
	g := applicable(req)[0]
	d := {"allowed": true, "reason": "conditional grant: rows are filtered", "policy_id": g.id}
} else := {"allowed": false, "reason": "no rule grants this action", "policy_id": ""}
