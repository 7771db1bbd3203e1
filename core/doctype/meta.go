package doctype

import (
	"github.com/framework-m/framework-m/ports"
)

// Meta describes a DocType: its name, storage, naming and access rules.
type Meta struct {
	// Name is the DocType's name ("Invoice", "Error Log"): the URL segment of its
	// resource API and the key of its permission rules.
	Name string
	// Table overrides the table name (default: snake_case of Name).
	Table string
	// Description documents the DocType.
	Description string
	// Naming is the rule that names new documents:
	//   ""  or "uuid"     a UUIDv7 (time-ordered) id — the default
	//   "prompt"          the client supplies "name"
	//   "field:FIELD"     the value of FIELD
	//   a series          e.g. "INV-.YYYY.-.#####": parts separated by dots; YYYY, YY,
	//                     MM, DD are the date; a run of # is a counter per prefix and
	//                     tenant, zero-padded to its width (INV-2026-00001)
	// A series is gapless by default: the counter advances inside the create's
	// transaction, so a create that fails takes its number back, and creates
	// of one prefix run one after another (the counter's row is locked until
	// each commits). See SeriesGaps for DocTypes created at high rates.
	Naming string
	// SeriesGaps lets a series have gaps (gapless = false), for DocTypes
	// created at high rates. On PostgreSQL the counter advances in a statement
	// of its own, committed before the create's transaction begins, so creates
	// of one prefix no longer wait for each other's commits, nor for an
	// instance that stopped in the middle of one: a create that fails leaves
	// its number unused. Inside a transaction of the caller's (Repository.InTx)
	// the counter advances in that transaction, as when gapless. SQLite has
	// one writer: its series stay gapless.
	SeriesGaps bool
	// SeriesBlock, with SeriesGaps, reserves that many numbers at once per
	// instance and prefix, handed out from memory: one counter statement per
	// block of creates. Numbers are then unique but not in creation order
	// across instances, and those an instance had not handed out when it
	// stops are never used. 0 or 1: one number at a time. At most 1,000.
	SeriesBlock int
	// Permissions grant roles actions on documents of this DocType.
	Permissions []Rule
	// RLSField names the field row-level security filters on (e.g. "owner").
	RLSField string
	// IsSingle makes the DocType a singleton: one document per tenant, named Name.
	IsSingle bool
	// Immutable documents are written once by the framework: the resource API
	// never creates or updates them (reads and deletes follow Permissions).
	Immutable bool
	// AppendOnly documents are never changed nor deleted through the
	// resource API, admins included (an audit trail): only the framework
	// writes them, and only its retention removes them.
	AppendOnly bool
	// NotAudited leaves the DocType's changes out of the audit trail: the
	// audit trail's own rows, and records whose changes the security events
	// describe instead (sessions, revoked tokens).
	NotAudited bool
	// AuditReads puts every read of one document of this DocType through
	// the resource API in the audit trail (action "read").
	AuditReads bool
	// SecretNames marks DocTypes whose document names are, or derive from,
	// credentials (revoked token ids, session handles, API key ids): the
	// repository leaves them out of its error texts, so logs and Error Log
	// rows never carry them.
	SecretNames bool
	// Filterable lists the fields clients may filter on; nil means every visible field.
	Filterable []string
	// Sortable lists the fields clients may sort on; nil means every visible field.
	Sortable []string
	// Hidden lists fields never serialized and never accepted from clients
	// (secrets such as hashes). Fields tagged json:"-" are hidden as well.
	Hidden []string
	// ReadOnly lists fields clients cannot set; the framework or hooks set them.
	ReadOnly []string
	// Unique lists sets of fields whose values are unique within a tenant.
	Unique [][]string
	// Indexes lists sets of fields to index (each prefixed by tenant_id).
	Indexes [][]string
	// DefaultOrder sorts lists that ask for no order (default: modified_at desc).
	DefaultOrder []ports.Order
	// AdminOnly documents grant power (Custom Permission rows): when the app
	// restricts permission changes ([permissions] restrict_permission_changes),
	// only admin roles create, change or delete them, whatever Permissions say.
	AdminOnly bool
	// AdminFields grant power too (a user's roles and attributes): under the
	// same setting only admin roles set or change them.
	AdminFields []string
}
