// Package roles knows the roles of each tenant and keeps role assignments
// sound. The roles of a tenant are the built-in roles (Admin, System Manager,
// All, Guest, and System, which is reserved for the framework), every role a
// registered DocType's rules name — both from code, in every tenant, with no
// row to create — and the tenant's Role rows: custom roles, or a description
// or the disabling of a role from code (Admin, All and System cannot be
// disabled).
//
// Assigning an unknown or disabled role is refused (Check); a disabled role
// grants nothing (Active, served from a per-tenant cache that Role change
// events invalidate); deleting a role in use is refused (Usage). Install
// puts these rules into the resource service as write guards and a role
// filter.
package roles

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/ports"
)

// Built-in role names beside ports.RoleAdmin, ports.RoleAll and ports.RoleSystem.
const (
	// SystemManager administers the app's settings (an admin role when
	// [permissions] admin_roles lists it).
	SystemManager = "System Manager"
	// Guest is the role of visitors who are not signed in.
	Guest = "Guest"
)

// Source says where a role comes from.
type Source string

// Role sources.
const (
	// SourceBuiltin roles are the framework's own.
	SourceBuiltin Source = "builtin"
	// SourceDocType roles are named by a registered DocType's rules.
	SourceDocType Source = "doctype"
	// SourceCustom roles exist because the tenant has a Role row for them.
	SourceCustom Source = "custom"
)

// RoleInfo describes one role of a tenant.
type RoleInfo struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Disabled roles grant nothing and cannot be assigned.
	Disabled bool   `json:"disabled"`
	Source   Source `json:"source"`
	// Reserved roles (System) are never assigned.
	Reserved bool `json:"reserved,omitempty"`
	// DeskAccess lets holders use the desk (the admin user interface).
	DeskAccess bool `json:"desk_access"`
	// DocTypes lists the DocTypes whose own rules name the role.
	DocTypes []string `json:"doctypes,omitempty"`
}

// Options configure the Service.
type Options struct {
	// RoleDocType, UserDocType and PermissionDocType name the Role, Local
	// User and Custom Permission DocTypes (defaults "Role", "Local User",
	// "Custom Permission"). A DocType that is not registered has no rows.
	RoleDocType, UserDocType, PermissionDocType string
	// AdminRoles ([permissions] admin_roles) are built-in roles too.
	AdminRoles []string
	// TTL bounds how long a tenant's Role rows are cached; 0 keeps them until
	// a change notice (this instance's, or through the hub another's)
	// invalidates them. While the feed is not Synced they are kept at most
	// events.UnsyncedMaxAge.
	TTL time.Duration
	// Logger reports rows that cannot be read (nil: slog.Default()).
	Logger *slog.Logger
}

// Service answers which roles a tenant has. It is safe for concurrent use.
type Service struct {
	repo ports.Repository
	reg  *doctype.Registry
	feed ports.ChangeFeed // nil: none
	opts Options
	now  func() time.Time
	// builtin lists the built-in roles in display order.
	builtin []RoleInfo

	mu    sync.Mutex
	cache map[string]*tenantRoles
	gen   map[string]uint64
}

// tenantRoles is a tenant's Role rows as cached.
type tenantRoles struct {
	at   time.Time
	rows map[string]row
	// disabled holds the disabled roles that can be disabled.
	disabled map[string]bool
}

// row is one Role row.
type row struct {
	description string
	disabled    bool
	deskAccess  bool
}

// fixed roles can never be disabled, and neither can the configured admin
// roles: a disabled admin role would still pass every admin check that reads
// a principal's roles, and would leave a tenant without a working admin.
var fixed = []string{ports.RoleAdmin, ports.RoleAll, ports.RoleSystem}

// isFixed reports whether role can never be disabled.
func (s *Service) isFixed(role string) bool {
	return slices.Contains(fixed, role) || slices.Contains(s.opts.AdminRoles, role)
}

// New returns a Service reading rows through repo (as the system principal)
// and the DocTypes of reg. With feed, every change of a Role row invalidates
// its tenant's cache at once.
func New(repo ports.Repository, reg *doctype.Registry, feed ports.ChangeFeed, opts Options) *Service {
	opts.RoleDocType = cmp.Or(opts.RoleDocType, "Role")
	opts.UserDocType = cmp.Or(opts.UserDocType, "Local User")
	opts.PermissionDocType = cmp.Or(opts.PermissionDocType, "Custom Permission")
	opts.AdminRoles = slices.Clone(opts.AdminRoles)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{repo: repo, reg: reg, feed: feed, opts: opts, now: time.Now, cache: map[string]*tenantRoles{}, gen: map[string]uint64{}}
	s.builtin = []RoleInfo{
		{Name: ports.RoleAdmin, Description: "Administers the app: admin-only routes, and every action when admin_bypass is on.", DeskAccess: true},
		{Name: SystemManager, Description: "Manages the system's settings.", DeskAccess: true},
		{Name: ports.RoleAll, Description: "Held by every signed-in user."},
		{Name: Guest, Description: "Visitors who are not signed in."},
		{Name: ports.RoleSystem, Description: "The framework itself; never assigned.", Reserved: true},
	}
	for _, r := range opts.AdminRoles {
		if !slices.ContainsFunc(s.builtin, func(b RoleInfo) bool { return b.Name == r }) {
			s.builtin = append(s.builtin, RoleInfo{Name: r, Description: "An admin role ([permissions] admin_roles).", DeskAccess: true})
		}
	}
	for i := range s.builtin {
		s.builtin[i].Source = SourceBuiltin
	}
	if feed != nil {
		feed.Watch(opts.RoleDocType, func(n ports.ChangeNotice) { s.Invalidate(n.TenantID) })
	}
	return s
}

// Invalidate drops the cached Role rows of tenant ("" for every tenant).
func (s *Service) Invalidate(tenant string) {
	s.mu.Lock()
	if tenant == "" {
		clear(s.cache)
	} else {
		delete(s.cache, tenant)
	}
	s.gen[tenant]++
	s.mu.Unlock()
}

// system returns ctx acting as the framework in ctx's tenant.
func system(ctx context.Context) context.Context {
	return ports.WithUser(ctx, &ports.SystemUser)
}

// rows returns the Role rows of the tenant in ctx, from the cache when fresh.
func (s *Service) rows(ctx context.Context) (*tenantRoles, error) {
	tenant := ports.TenantIDFrom(ctx)
	s.mu.Lock()
	t, ok := s.cache[tenant]
	gen := s.gen[tenant] + s.gen[""] // "" counts invalidations of every tenant
	s.mu.Unlock()
	if maxAge := events.MaxAge(s.feed, s.opts.TTL); ok && (maxAge <= 0 || s.now().Sub(t.at) < maxAge) {
		return t, nil
	}
	fresh, err := s.load(context.WithoutCancel(ctx))
	if err != nil {
		if ok { // a stale answer beats none
			s.opts.Logger.WarnContext(ctx, "role rows not refreshed", "tenant", tenant, "err", err)
			return t, nil
		}
		return nil, fmt.Errorf("roles of tenant %q: %w", tenant, err)
	}
	s.mu.Lock()
	if s.gen[tenant]+s.gen[""] == gen { // no change arrived while loading
		s.cache[tenant] = fresh
	}
	s.mu.Unlock()
	return fresh, nil
}

// load reads every Role row of the tenant in ctx.
func (s *Service) load(ctx context.Context) (*tenantRoles, error) {
	t := &tenantRoles{at: s.now(), rows: map[string]row{}, disabled: map[string]bool{}}
	dt, ok := s.reg.Get(s.opts.RoleDocType)
	if !ok {
		return t, nil
	}
	err := s.each(ctx, dt, nil, func(doc any) error {
		b, err := doctype.BaseOf(doc)
		if err != nil {
			return err
		}
		r := row{description: str(dt, doc, "description"), disabled: flag(dt, doc, "disabled"), deskAccess: flag(dt, doc, "desk_access")}
		t.rows[b.Name] = r
		if r.disabled && !s.isFixed(b.Name) {
			t.disabled[b.Name] = true
		}
		return nil
	})
	return t, err
}

// pageSize is how many rows one read of a scan fetches.
const pageSize = 500

// each calls fn for every document of dt matching filters in ctx's tenant,
// read as the system principal.
func (s *Service) each(ctx context.Context, dt *doctype.DocType, filters []ports.Filter, fn func(doc any) error) error {
	sys := system(ctx)
	for offset := 0; ; offset += pageSize {
		res, err := s.repo.List(sys, dt.Name, ports.Query{
			Filters:   filters,
			Orders:    []ports.Order{{Field: doctype.FieldName}},
			Limit:     pageSize,
			Offset:    offset,
			SkipCount: true,
		})
		if err != nil {
			return fmt.Errorf("list %s: %w", dt.Name, err)
		}
		for _, doc := range res.Items {
			if err := fn(doc); err != nil {
				return err
			}
		}
		if len(res.Items) < pageSize {
			return nil
		}
	}
}

// metaRoles maps every role the registered DocTypes' rules name (built-in
// ones aside) to those DocTypes.
func (s *Service) metaRoles() map[string][]string {
	out := map[string][]string{}
	for _, dt := range s.reg.All() {
		for _, r := range dt.Permissions {
			if s.isBuiltin(r.Role) || slices.Contains(out[r.Role], dt.Name) {
				continue
			}
			out[r.Role] = append(out[r.Role], dt.Name)
		}
	}
	return out
}

func (s *Service) isBuiltin(role string) bool {
	return slices.ContainsFunc(s.builtin, func(b RoleInfo) bool { return b.Name == role })
}

// inCode reports whether role exists in every tenant without a row.
func (s *Service) inCode(role string, meta map[string][]string) bool {
	_, ok := meta[role]
	return ok || s.isBuiltin(role)
}

// List returns the roles of the tenant in ctx: built-in ones first, then
// those of DocType rules and the custom ones, each group by name.
func (s *Service) List(ctx context.Context) ([]RoleInfo, error) {
	t, err := s.rows(ctx)
	if err != nil {
		return nil, err
	}
	meta := s.metaRoles()
	out := slices.Clone(s.builtin)
	var rest []RoleInfo
	for name, dts := range meta {
		rest = append(rest, RoleInfo{Name: name, Source: SourceDocType, DeskAccess: true, DocTypes: dts})
	}
	for name, r := range t.rows {
		if !s.inCode(name, meta) {
			rest = append(rest, RoleInfo{Name: name, Source: SourceCustom, Description: r.description, Disabled: r.disabled, DeskAccess: r.deskAccess})
		}
	}
	slices.SortFunc(rest, func(a, b RoleInfo) int {
		if a.Source != b.Source {
			return strings.Compare(string(b.Source), string(a.Source)) // doctype before custom
		}
		return strings.Compare(a.Name, b.Name)
	})
	out = append(out, rest...)
	for i := range out {
		info := &out[i]
		if r, ok := t.rows[info.Name]; ok && info.Source != SourceCustom {
			info.Description = cmp.Or(r.description, info.Description)
			info.Disabled = t.disabled[info.Name]
			info.DeskAccess = r.deskAccess
		}
	}
	return out, nil
}

// Get returns the role called name in the tenant of ctx, or an error
// matching core.ErrNotFound.
func (s *Service) Get(ctx context.Context, name string) (RoleInfo, error) {
	all, err := s.List(ctx)
	if err != nil {
		return RoleInfo{}, err
	}
	i := slices.IndexFunc(all, func(r RoleInfo) bool { return r.Name == name })
	if i < 0 {
		return RoleInfo{}, core.Publicf(core.ErrNotFound, "role %q not found", name)
	}
	return all[i], nil
}

// Check refuses roles that cannot be assigned in the tenant of ctx: with a
// *core.ValidationError whose field "roles" names each unknown, disabled or
// reserved role. Give it to whatever assigns roles outside the resource API
// (auth.UserManager).
func (s *Service) Check(ctx context.Context, roles []string) error {
	return s.check(ctx, "roles", roles)
}

// CheckPrincipal is Check of every role of u (its roles and the roles
// attribute): the principal check of strategies whose roles come from a
// gateway (auth.Chain.WithCheck).
func (s *Service) CheckPrincipal(ctx context.Context, u *ports.UserContext) error {
	return s.Check(ctx, u.AllRoles())
}

func (s *Service) check(ctx context.Context, field string, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	t, err := s.rows(ctx)
	if err != nil {
		return err
	}
	meta := s.metaRoles()
	verr := &core.ValidationError{}
	for _, r := range roles {
		_, hasRow := t.rows[r]
		switch {
		case r == ports.RoleSystem:
			verr.Add(field, fmt.Sprintf("role %q is reserved for the framework", r))
		case strings.TrimSpace(r) == "":
			verr.Add(field, "a role name cannot be empty")
		case !hasRow && !s.inCode(r, meta):
			verr.Add(field, fmt.Sprintf("unknown role %q", r))
		case t.disabled[r]:
			verr.Add(field, fmt.Sprintf("role %q is disabled", r))
		}
	}
	return verr.Err()
}

// Active returns the roles that grant something in the tenant of ctx: roles
// without the disabled ones (roles itself when none is). Once the tenant's
// rows are cached it reads nothing; when they cannot be read it logs and
// keeps roles (the request's own reads fail then too).
func (s *Service) Active(ctx context.Context, roles []string) []string {
	if !slices.ContainsFunc(roles, func(r string) bool { return !s.isFixed(r) }) {
		return roles
	}
	t, err := s.rows(ctx)
	if err != nil {
		s.opts.Logger.ErrorContext(ctx, "disabled roles unknown", "tenant", ports.TenantIDFrom(ctx), "err", err)
		return roles
	}
	if !slices.ContainsFunc(roles, func(r string) bool { return t.disabled[r] }) {
		return roles
	}
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if !t.disabled[r] {
			out = append(out, r)
		}
	}
	return out
}

// Usage lists where role is used in the tenant of ctx: the Local Users
// holding it (`Local User "id" (email)`) and the Custom Permission rows
// naming it (`Custom Permission "name" (DocType)`).
func (s *Service) Usage(ctx context.Context, role string) ([]string, error) {
	var out []string
	if dt, ok := s.reg.Get(s.opts.UserDocType); ok {
		err := s.each(ctx, dt, nil, func(doc any) error {
			if slices.Contains(strs(dt, doc, "roles"), role) {
				b, _ := doctype.BaseOf(doc)
				out = append(out, fmt.Sprintf("%s %q (%s)", dt.Name, b.Name, str(dt, doc, "email")))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if dt, ok := s.reg.Get(s.opts.PermissionDocType); ok {
		err := s.each(ctx, dt, []ports.Filter{{Field: "role", Op: ports.OpEq, Value: role}}, func(doc any) error {
			b, _ := doctype.BaseOf(doc)
			out = append(out, fmt.Sprintf("%s %q (%s)", dt.Name, b.Name, str(dt, doc, "document_type")))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// str returns doc's string field, or "".
func str(dt *doctype.DocType, doc any, field string) string {
	v, _ := dt.Get(doc, field)
	s, _ := v.(string)
	return s
}

// flag returns doc's bool field, or false.
func flag(dt *doctype.DocType, doc any, field string) bool {
	v, _ := dt.Get(doc, field)
	b, _ := v.(bool)
	return b
}

// strs returns doc's list-of-strings field (doctype.StringList or []string).
func strs(dt *doctype.DocType, doc any, field string) []string {
	v, _ := dt.Get(doc, field)
	switch l := v.(type) {
	case doctype.StringList:
		return l
	case []string:
		return l
	}
	return nil
}
