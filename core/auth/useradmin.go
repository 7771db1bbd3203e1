package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// UserAdmin is user administration (/api/v1/users): what the admins of a
// tenant — principals holding one of [permissions] admin_roles, or the
// framework itself — may do to its users, and the rules that keep a tenant
// administrable:
//
//   - nobody else may: a non-admin is refused (core.ErrForbidden on the
//     list and on create, core.ErrNotFound on a single user, whether it
//     exists or not), and so is a scoped API key;
//   - an admin sees only the users of the tenant in ctx (another tenant's
//     user is core.ErrNotFound);
//   - the last enabled admin of a tenant cannot be disabled or lose their
//     admin roles, and no admin may disable themselves or remove an admin
//     role of their own (core.ErrConflict saying why);
//   - disabling a user, resetting their password and logging them out
//     everywhere end their sessions and make every token issued to them
//     fail; their API keys, credentials of their own, stay;
//   - roles given are vetted by UserManager.CheckRoles.
//
// In federated mode users live at the gateway: List and Get read the users
// the gateway vouched for (ports.SeenUserStore) with their last seen time,
// and every change is core.ErrNotSupported.
type UserAdmin struct {
	users      *UserManager
	seen       ports.SeenUserStore
	adminRoles []string
}

// NewUserAdmin returns the user administration of svc's users (and, in
// federated mode, of the users svc.Seen records), for admins holding one of
// adminRoles.
func NewUserAdmin(svc *Service, adminRoles []string) *UserAdmin {
	return &UserAdmin{users: svc.Users, seen: svc.Seen.Store(), adminRoles: slices.Clone(adminRoles)}
}

// ManagedUser is a user as the admin API shows it: never a password hash or
// a token version.
type ManagedUser struct {
	ID          string         `json:"id"`
	Email       string         `json:"email"`
	DisplayName string         `json:"display_name"`
	Roles       []string       `json:"roles"`
	Attributes  map[string]any `json:"attributes,omitempty"`
	Enabled     bool           `json:"enabled"`
	// PasswordChangeRequired is set after a password reset until the user
	// chooses a new password.
	PasswordChangeRequired bool `json:"password_change_required"`
	// LastLoginAt is the last password login (local users).
	LastLoginAt *time.Time `json:"last_login_at,omitempty"`
	// LastSeenAt is when the gateway last vouched for the user (federated mode).
	LastSeenAt *time.Time `json:"last_seen_at,omitempty"`
}

func managed(u *ports.User) *ManagedUser {
	roles := slices.Clone(u.Roles)
	if roles == nil {
		roles = []string{}
	}
	return &ManagedUser{
		ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Roles: roles, Attributes: u.Attributes,
		Enabled: u.IsActive, PasswordChangeRequired: u.PasswordChangeRequired,
		LastLoginAt: u.LastLoginAt, LastSeenAt: u.LastSeenAt,
	}
}

// UserList is one page of users.
type UserList struct {
	Users  []*ManagedUser
	Total  int64
	Limit  int
	Offset int
}

var (
	errNotAdmin     = core.Public(core.ErrForbidden, "only administrators may manage users")
	errScopedAdmin  = core.Public(core.ErrForbidden, "a scoped API key cannot manage users")
	errUserNotFound = core.Public(core.ErrNotFound, "user not found")
)

// admit returns the principal of ctx if it may administer users; one says
// the request is about a single user, which a non-admin cannot tell exists.
func (a *UserAdmin) admit(ctx context.Context, one bool) (*ports.UserContext, error) {
	u := ports.UserFrom(ctx)
	switch {
	case u == nil:
		return nil, core.Public(core.ErrUnauthorized, "authentication required")
	case !u.IsSystemUser() && !u.HasAnyRole(a.adminRoles):
		if one {
			return nil, errUserNotFound
		}
		return nil, errNotAdmin
	case u.Scoped():
		return nil, errScopedAdmin
	}
	return u, nil
}

// Admit checks, before a route reads its input, that the principal of ctx
// may use it: one for a single user's route (a non-admin then gets
// core.ErrNotFound, as for a user that does not exist), write for a route
// that changes users, which a read-only directory (federated mode) refuses
// with core.ErrNotSupported naming allow, the methods the route still has.
// Every method checks the same again.
func (a *UserAdmin) Admit(ctx context.Context, one, write bool, allow ...string) error {
	if _, err := a.admit(ctx, one); err != nil {
		return err
	}
	if write && a.federated() {
		return a.readOnly(allow...)
	}
	return nil
}

// readOnly refuses a change in federated mode; allow lists the methods the
// resource still has.
func (a *UserAdmin) readOnly(allow ...string) error {
	return &core.NotSupportedError{
		Message: fmt.Sprintf("auth mode %q: users are managed at the identity gateway; this list is read-only", a.users.Mode()),
		Allow:   allow,
	}
}

// directory returns the user directory changes go to.
func (a *UserAdmin) directory(allow ...string) (ports.UserDirectory, error) {
	if !a.users.Mode().HasLocalUsers() {
		return nil, a.readOnly(allow...)
	}
	return a.users.Directory()
}

func (a *UserAdmin) federated() bool { return !a.users.Mode().HasLocalUsers() }

// lister returns where users are read: the seen users in federated mode,
// else the user directory.
func (a *UserAdmin) lister() (ports.UserLister, error) {
	if !a.federated() {
		return a.users.Directory()
	}
	if a.seen == nil {
		return nil, core.Public(core.ErrNotSupported, "users seen through the gateway are not recorded")
	}
	return a.seen, nil
}

// List returns the page of the tenant's users f selects (see
// ports.UserFilter; Limit 0 means ports.DefaultUserPage).
func (a *UserAdmin) List(ctx context.Context, f ports.UserFilter) (*UserList, error) {
	if _, err := a.admit(ctx, false); err != nil {
		return nil, err
	}
	verr := &core.ValidationError{}
	if f.Limit < 0 || f.Limit > ports.MaxUserPage {
		verr.Add("limit", fmt.Sprintf("must be between 1 and %d (leave it out for %d)", ports.MaxUserPage, ports.DefaultUserPage))
	}
	if f.Offset < 0 {
		verr.Add("offset", "must be 0 or more")
	}
	if utf8.RuneCountInString(f.Search) > 254 {
		verr.Add("search", "must be at most 254 characters")
	}
	if len(f.Role) > 140 {
		verr.Add("role", "must be at most 140 characters")
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	if f.Limit == 0 {
		f.Limit = ports.DefaultUserPage
	}
	users, err := a.lister()
	if err != nil {
		return nil, err
	}
	page, err := users.ListUsers(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &UserList{Users: make([]*ManagedUser, len(page.Users)), Total: page.Total, Limit: f.Limit, Offset: f.Offset}
	for i, u := range page.Users {
		out.Users[i] = managed(u)
	}
	return out, nil
}

// Get returns user id of the tenant in ctx.
func (a *UserAdmin) Get(ctx context.Context, id string) (*ManagedUser, error) {
	if _, err := a.admit(ctx, true); err != nil {
		return nil, err
	}
	u, err := a.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return managed(u), nil
}

func (a *UserAdmin) get(ctx context.Context, id string) (*ports.User, error) {
	if id == "" || len(id) > 140 {
		return nil, errUserNotFound
	}
	users, err := a.lister()
	if err != nil {
		return nil, err
	}
	u, err := users.GetUser(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, errUserNotFound
	}
	return u, err
}

// Create adds a user with nu's email, display name, roles and password (a
// password is required in local mode and optional where users log in
// otherwise: passwordless and social modes).
func (a *UserAdmin) Create(ctx context.Context, nu ports.NewUser) (*ManagedUser, error) {
	if _, err := a.admit(ctx, false); err != nil {
		return nil, err
	}
	if _, err := a.directory("GET"); err != nil {
		return nil, err
	}
	nu.Roles = dedupe(nu.Roles)
	u, err := a.users.Create(ctx, nu)
	if err != nil {
		return nil, err
	}
	return managed(u), nil
}

// Update applies ch to user id: display name, enabled, roles (the roles
// added are vetted by UserManager.CheckRoles). Disabling ends the user's
// sessions and tokens.
func (a *UserAdmin) Update(ctx context.Context, id string, ch ports.UserChanges) (*ManagedUser, error) {
	return a.change(ctx, id, ch, "GET")
}

// Disable disables user id and ends their sessions and tokens.
func (a *UserAdmin) Disable(ctx context.Context, id string) (*ManagedUser, error) {
	enabled := false
	return a.change(ctx, id, ports.UserChanges{IsActive: &enabled})
}

// Enable enables user id again (their old sessions and tokens stay ended).
func (a *UserAdmin) Enable(ctx context.Context, id string) (*ManagedUser, error) {
	enabled := true
	return a.change(ctx, id, ports.UserChanges{IsActive: &enabled})
}

// EditRoles adds and removes roles of user id (the CLI's user roles), under
// the rules of Update.
func (a *UserAdmin) EditRoles(ctx context.Context, id string, add, remove []string) (*ManagedUser, error) {
	if _, err := a.admit(ctx, true); err != nil {
		return nil, err
	}
	before, err := a.get(ctx, id)
	if err != nil {
		return nil, err
	}
	roles := slices.DeleteFunc(slices.Clone(before.Roles), func(r string) bool { return slices.Contains(remove, r) })
	roles = append(roles, add...)
	if roles == nil {
		roles = []string{}
	}
	return a.change(ctx, id, ports.UserChanges{Roles: roles})
}

// change admits the principal, then updates user id (allow: see readOnly).
func (a *UserAdmin) change(ctx context.Context, id string, ch ports.UserChanges, allow ...string) (*ManagedUser, error) {
	actor, err := a.admit(ctx, true)
	if err != nil {
		return nil, err
	}
	u, err := a.update(ctx, actor, id, ch, allow)
	if err != nil {
		return nil, err
	}
	return managed(u), nil
}

// update validates ch, applies the admin rules and stores it.
func (a *UserAdmin) update(ctx context.Context, actor *ports.UserContext, id string, ch ports.UserChanges, allow []string) (*ports.User, error) {
	dir, err := a.directory(allow...)
	if err != nil {
		return nil, err
	}
	before, err := a.get(ctx, id)
	if err != nil {
		return nil, err
	}
	verr := &core.ValidationError{}
	if ch.DisplayName != nil && len(*ch.DisplayName) > 140 {
		verr.Add("display_name", "must be at most 140 characters")
	}
	if ch.Roles != nil {
		ch.Roles = dedupe(ch.Roles)
		verr.Fields = append(verr.Fields, validateRoles(ch.Roles).Fields...)
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	if ch.Roles != nil {
		var added []string
		for _, r := range ch.Roles {
			if !slices.Contains(before.Roles, r) {
				added = append(added, r)
			}
		}
		if err := a.users.CheckRoles(ctx, added); err != nil {
			return nil, err
		}
	}
	roles, active := before.Roles, before.IsActive
	if ch.Roles != nil {
		roles = ch.Roles
	}
	if ch.IsActive != nil {
		active = *ch.IsActive
	}
	demotes := a.isAdmin(before.Roles, before.IsActive) && !a.isAdmin(roles, active)
	if err := a.checkAdminLoss(ctx, actor, before, roles, active, demotes); err != nil {
		return nil, err
	}
	u, err := dir.UpdateUser(ctx, id, ch)
	if err != nil {
		return nil, err
	}
	if demotes {
		// Two admins demoting each other at once both passed the check
		// above: whoever finds no admin left after writing undoes their
		// change, so a tenant never ends without one.
		other, err := a.anotherAdmin(ctx, id)
		if err != nil {
			return nil, err
		}
		if !other {
			undo := ports.UserChanges{Roles: slices.Clone(before.Roles), IsActive: &before.IsActive}
			if _, err := dir.UpdateUser(ctx, id, undo); err != nil {
				return nil, fmt.Errorf("undo removing the last admin %s: %w", id, err)
			}
			return nil, lastAdmin(before)
		}
	}
	if ch.IsActive != nil && !*ch.IsActive {
		if err := a.users.LogoutEverywhere(ctx, id); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// isAdmin reports whether an account with roles, enabled or not, administers.
func (a *UserAdmin) isAdmin(roles []string, active bool) bool {
	if !active {
		return false
	}
	for _, r := range roles {
		if slices.Contains(a.adminRoles, r) {
			return true
		}
	}
	return false
}

// checkAdminLoss refuses an admin disabling themselves or removing an admin
// role of their own, and any change that leaves the tenant without an
// enabled admin.
func (a *UserAdmin) checkAdminLoss(ctx context.Context, actor *ports.UserContext, before *ports.User, roles []string, active, demotes bool) error {
	if actor.ID == before.ID {
		if before.IsActive && !active {
			return core.Public(core.ErrConflict, "you cannot disable your own account; another admin can")
		}
		for _, r := range before.Roles {
			if slices.Contains(a.adminRoles, r) && !slices.Contains(roles, r) {
				return core.Publicf(core.ErrConflict, "you cannot remove your own admin role %q; another admin can", r)
			}
		}
	}
	if !demotes {
		return nil
	}
	other, err := a.anotherAdmin(ctx, before.ID)
	if err != nil {
		return err
	}
	if !other {
		return lastAdmin(before)
	}
	return nil
}

func lastAdmin(u *ports.User) error {
	return core.Publicf(core.ErrConflict, "%s is the last enabled admin of this tenant: make another user an admin first", u.Email)
}

// anotherAdmin reports whether an enabled user other than id holds an admin role.
func (a *UserAdmin) anotherAdmin(ctx context.Context, id string) (bool, error) {
	dir, err := a.users.Directory()
	if err != nil {
		return false, err
	}
	enabled := true
	for _, r := range a.adminRoles {
		page, err := dir.ListUsers(ctx, ports.UserFilter{Role: r, Enabled: &enabled, Limit: 2})
		if err != nil {
			return false, fmt.Errorf("count admins: %w", err)
		}
		for _, u := range page.Users {
			if u.ID != id {
				return true, nil
			}
		}
	}
	return false, nil
}

// ResetPassword sets a random temporary password for user id and returns
// it, the only time it exists outside the password hash: the admin hands it
// over, the user logs in with it and must choose a new password before
// anything else (ports.User.PasswordChangeRequired). Every session and token
// of the user ends; API keys stay. Passwords exist in local mode only.
//
// Once the app sends email, a reset will mail the user a link to choose a
// password instead of returning one to the admin.
func (a *UserAdmin) ResetPassword(ctx context.Context, id string) (string, error) {
	if _, err := a.admit(ctx, true); err != nil {
		return "", err
	}
	dir, err := a.directory()
	if err != nil {
		return "", err
	}
	if !a.users.Mode().HasPasswords() {
		return "", core.Publicf(core.ErrNotSupported, "auth mode %q has no passwords", a.users.Mode())
	}
	u, err := a.get(ctx, id)
	if err != nil {
		return "", err
	}
	temp, err := a.users.temporaryPassword(u.Email)
	if err != nil {
		return "", err
	}
	if err := dir.SetTemporaryPassword(ctx, u.ID, temp); err != nil {
		return "", err
	}
	a.users.audit.event(ctx, ports.AuditPasswordChange, u.ID, map[string]any{"by": "admin", "temporary": true})
	if err := a.users.endSessions(ctx, u.ID); err != nil {
		return "", err
	}
	return temp, nil
}

// LogoutEverywhere ends every session of user id and makes every token
// issued to them fail (API keys stay).
func (a *UserAdmin) LogoutEverywhere(ctx context.Context, id string) error {
	if _, err := a.admit(ctx, true); err != nil {
		return err
	}
	if _, err := a.directory(); err != nil {
		return err
	}
	u, err := a.get(ctx, id)
	if err != nil {
		return err
	}
	return a.users.LogoutEverywhere(ctx, u.ID)
}

// temporaryPassword returns a random password the policy accepts for email.
func (m *UserManager) temporaryPassword(email string) (string, error) {
	n := max(20, m.policy.MinLength)
	if m.policy.MaxLength > 0 {
		n = min(n, m.policy.MaxLength)
	}
	for range 10 {
		pw := RandomToken(n)[:n]
		if m.policy.Check(pw, email) == nil {
			return pw, nil
		}
	}
	return "", errors.New("temporary password: could not make one the password policy accepts")
}

// dedupe returns roles without repeats, in their first order.
func dedupe(roles []string) []string {
	if roles == nil {
		return nil
	}
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// GuardRecord applies the last-admin and own-admin-role rules to a change of
// user id's record made outside this service (the generic resource API):
// the record ends with roles and active (a delete: no roles, inactive). The
// system principal is not refused its own changes, but the last admin is
// kept all the same.
func (a *UserAdmin) GuardRecord(ctx context.Context, before *ports.User, roles []string, active bool) error {
	actor := ports.UserFrom(ctx)
	if actor == nil {
		actor = &ports.SystemUser
	}
	demotes := a.isAdmin(before.Roles, before.IsActive) && !a.isAdmin(roles, active)
	return a.checkAdminLoss(ctx, actor, before, roles, active, demotes)
}
