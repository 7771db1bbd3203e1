package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/identity/federated"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// actor returns a context of tenant acting as principal id with roles.
func actor(tenant, id string, roles ...string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.UserContext{ID: id, Roles: roles, TenantID: tenant})
}

func adminOf(e *env) *auth.UserAdmin { return auth.NewUserAdmin(e.svc, []string{ports.RoleAdmin}) }

func TestUserAdminAdmission(t *testing.T) {
	e := newEnv(t)
	a := adminOf(e)
	ann := e.user(t, tctx("default"), annEmail, "Sales")
	scoped := actor("default", "root", ports.RoleAdmin)
	ports.UserFrom(scoped).Scopes = []string{"read"}
	calls := map[string]func(ctx context.Context, id string) error{
		"list": func(ctx context.Context, _ string) error { _, err := a.List(ctx, ports.UserFilter{}); return err },
		"create": func(ctx context.Context, _ string) error {
			_, err := a.Create(ctx, ports.NewUser{Email: "new@example.com", Password: annPassword})
			return err
		},
		"get": func(ctx context.Context, id string) error { _, err := a.Get(ctx, id); return err },
		"update": func(ctx context.Context, id string) error {
			_, err := a.Update(ctx, id, ports.UserChanges{})
			return err
		},
		"disable": func(ctx context.Context, id string) error { _, err := a.Disable(ctx, id); return err },
		"enable":  func(ctx context.Context, id string) error { _, err := a.Enable(ctx, id); return err },
		"reset":   func(ctx context.Context, id string) error { _, err := a.ResetPassword(ctx, id); return err },
		"logout":  func(ctx context.Context, id string) error { return a.LogoutEverywhere(ctx, id) },
	}
	single := map[string]bool{"get": true, "update": true, "disable": true, "enable": true, "reset": true, "logout": true}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(ports.WithTenantID(context.Background(), "default"), ann.ID), core.ErrUnauthorized, "anonymous")
			for _, id := range []string{ann.ID, "no-such-user"} {
				err := call(actor("default", "bob", "Sales", ports.RoleAll), id)
				if single[name] {
					assert.ErrorIs(t, err, core.ErrNotFound, "a non-admin cannot tell a user exists")
				} else {
					assert.ErrorIs(t, err, core.ErrForbidden)
				}
			}
			assert.ErrorIs(t, call(scoped, ann.ID), core.ErrForbidden, "a scoped key does not administer users")
		})
	}
	got, err := a.Get(tctx("default"), ann.ID)
	require.NoError(t, err)
	assert.Equal(t, annEmail, got.Email)
	assert.True(t, got.Enabled)
	_, err = auth.NewUserAdmin(e.svc, []string{"Owner"}).List(actor("default", "x", ports.RoleAdmin), ports.UserFilter{})
	assert.ErrorIs(t, err, core.ErrForbidden, "admin is whatever [permissions] admin_roles says")
	_, err = auth.NewUserAdmin(e.svc, []string{"Owner"}).List(actor("default", "x", "Owner"), ports.UserFilter{})
	assert.NoError(t, err)
}

func TestUserAdminListFiltersAndPaging(t *testing.T) {
	e := newEnv(t)
	a := adminOf(e)
	ctx := tctx("default")
	mk := func(email, name string, active bool, roles ...string) {
		u, err := e.ident.CreateUser(ctx, ports.NewUser{Email: email, DisplayName: name, Roles: roles})
		require.NoError(t, err)
		if !active {
			e.setActive(t, ctx, u.ID, false)
		}
	}
	mk("ann@example.com", "Ann Archer", true, "Admin", "Sales")
	mk("bob@example.com", "Bob Builder", true, "Sales_EU")
	mk("cid@example.com", "Cid Sales", false, "SalesXEU")
	mk("dee@corp.example", "Dee 50% Off", true, "admin")
	mk("eve@corp.example", "Ève", false)
	e.user(t, tctx("other"), "zed@example.com", "Admin") // another tenant

	yes, no := true, false
	for _, tc := range []struct {
		name   string
		f      ports.UserFilter
		emails []string
	}{
		{"all, by email", ports.UserFilter{}, []string{"ann@example.com", "bob@example.com", "cid@example.com", "dee@corp.example", "eve@corp.example"}},
		{"role is exact and case-sensitive", ports.UserFilter{Role: "Admin"}, []string{"ann@example.com"}},
		{"role in lower case is another role", ports.UserFilter{Role: "admin"}, []string{"dee@corp.example"}},
		{"role with a LIKE wildcard", ports.UserFilter{Role: "Sales_EU"}, []string{"bob@example.com"}},
		{"role held among others", ports.UserFilter{Role: "Sales"}, []string{"ann@example.com"}},
		{"unknown role", ports.UserFilter{Role: "Nobody"}, nil},
		{"enabled", ports.UserFilter{Enabled: &yes}, []string{"ann@example.com", "bob@example.com", "dee@corp.example"}},
		{"disabled", ports.UserFilter{Enabled: &no}, []string{"cid@example.com", "eve@corp.example"}},
		{"search email, any case", ports.UserFilter{Search: "CORP"}, []string{"dee@corp.example", "eve@corp.example"}},
		{"search display name, any case", ports.UserFilter{Search: "builder"}, []string{"bob@example.com"}},
		{"search email or name", ports.UserFilter{Search: "sales"}, []string{"cid@example.com"}},
		{"search with % is literal", ports.UserFilter{Search: "50%"}, []string{"dee@corp.example"}},
		{"search with _ is literal", ports.UserFilter{Search: "b_b"}, nil},
		{"filters combine", ports.UserFilter{Search: "example.com", Enabled: &yes, Role: "Sales_EU"}, []string{"bob@example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := a.List(ctx, tc.f)
			require.NoError(t, err)
			var emails []string
			for _, u := range res.Users {
				emails = append(emails, u.Email)
			}
			assert.Equal(t, tc.emails, emails)
			assert.EqualValues(t, len(tc.emails), res.Total)
		})
	}

	t.Run("paging", func(t *testing.T) {
		for _, tc := range []struct {
			f      ports.UserFilter
			emails []string
			total  int64
		}{
			{ports.UserFilter{Limit: 2}, []string{"ann@example.com", "bob@example.com"}, 5},
			{ports.UserFilter{Limit: 2, Offset: 2}, []string{"cid@example.com", "dee@corp.example"}, 5},
			{ports.UserFilter{Limit: 2, Offset: 4}, []string{"eve@corp.example"}, 5},
			{ports.UserFilter{Limit: 2, Offset: 9}, nil, 5},
			// Paged in memory (a role filter): the same windows.
			{ports.UserFilter{Role: "Sales", Limit: 1, Offset: 0}, []string{"ann@example.com"}, 1},
			{ports.UserFilter{Search: "_", Limit: 1, Offset: 0}, nil, 0},
			{ports.UserFilter{Search: "e", Enabled: &yes, Limit: 1, Offset: 1}, []string{"bob@example.com"}, 3},
		} {
			res, err := a.List(ctx, tc.f)
			require.NoError(t, err)
			var emails []string
			for _, u := range res.Users {
				emails = append(emails, u.Email)
			}
			assert.Equal(t, tc.emails, emails, "%+v", tc.f)
			assert.Equal(t, tc.total, res.Total, "%+v", tc.f)
		}
		res, err := a.List(ctx, ports.UserFilter{})
		require.NoError(t, err)
		assert.Equal(t, ports.DefaultUserPage, res.Limit)
	})

	t.Run("bounds", func(t *testing.T) {
		for _, tc := range []struct {
			f     ports.UserFilter
			field string
		}{
			{ports.UserFilter{Limit: ports.MaxUserPage + 1}, "limit"},
			{ports.UserFilter{Limit: -1}, "limit"},
			{ports.UserFilter{Offset: -1}, "offset"},
			{ports.UserFilter{Search: string(make([]byte, 255))}, "search"},
		} {
			_, err := a.List(ctx, tc.f)
			assert.Contains(t, fieldsOf(t, err), tc.field)
		}
		_, err := a.List(ctx, ports.UserFilter{Limit: ports.MaxUserPage})
		assert.NoError(t, err)
	})
}

func TestUserAdminNeverShowsSecrets(t *testing.T) {
	e := newEnv(t)
	a := adminOf(e)
	ctx := tctx("default")
	u, err := a.Create(ctx, ports.NewUser{Email: annEmail, Password: annPassword, Roles: []string{"Sales", "Sales"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"Sales"}, u.Roles, "repeated roles are kept once")
	require.NoError(t, e.users.LogoutEverywhere(ctx, u.ID)) // a token version above 0
	got, err := a.Get(ctx, u.ID)
	require.NoError(t, err)
	list, err := a.List(ctx, ports.UserFilter{})
	require.NoError(t, err)
	for _, v := range []any{u, got, list.Users} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		for _, secret := range []string{"hash", "argon2", "token_version", "TokenVersion", annPassword} {
			assert.NotContains(t, string(b), secret)
		}
	}
}

func TestUserAdminCreate(t *testing.T) {
	t.Run("local mode needs a password", func(t *testing.T) {
		a := adminOf(newEnv(t))
		_, err := a.Create(tctx("default"), ports.NewUser{Email: annEmail})
		assert.Contains(t, fieldsOf(t, err), "password")
		u, err := a.Create(tctx("default"), ports.NewUser{Email: annEmail, Password: annPassword, DisplayName: "Ann", Roles: []string{"Sales"}})
		require.NoError(t, err)
		assert.Equal(t, "Ann", u.DisplayName)
		assert.True(t, u.Enabled)
		assert.False(t, u.PasswordChangeRequired)
	})
	for _, mode := range []auth.Mode{auth.ModePasswordless, auth.ModeSocialOnly} {
		t.Run(string(mode)+" needs none", func(t *testing.T) {
			a := adminOf(newEnv(t, withMode(mode)))
			_, err := a.Create(tctx("default"), ports.NewUser{Email: annEmail})
			assert.NoError(t, err)
		})
	}
}

// roleCheck refuses roles not in known and records what it was asked.
type roleCheck struct {
	known []string
	asked [][]string
}

func (r *roleCheck) check(_ context.Context, roles []string) error {
	r.asked = append(r.asked, slices.Clone(roles))
	for _, role := range roles {
		if !slices.Contains(r.known, role) {
			return core.Invalidf("roles", "unknown role %q", role)
		}
	}
	return nil
}

func TestUserAdminRoleCheck(t *testing.T) {
	e := newEnv(t)
	rc := &roleCheck{known: []string{"Admin", "Sales", "Support"}}
	e.users.WithRoleCheck(rc.check)
	a := adminOf(e)
	ctx := tctx("default")

	_, err := a.Create(ctx, ports.NewUser{Email: "bob@example.com", Password: annPassword, Roles: []string{"Sales", "Slaes"}})
	assert.Equal(t, `unknown role "Slaes"`, fieldsOf(t, err)["roles"])
	n, err := e.ident.CountUsers(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing was created")

	u, err := a.Create(ctx, ports.NewUser{Email: annEmail, Password: annPassword, Roles: []string{"Sales"}})
	require.NoError(t, err)
	rc.asked = nil
	_, err = a.Update(ctx, u.ID, ports.UserChanges{Roles: []string{"Sales", "Ghost"}})
	assert.Equal(t, `unknown role "Ghost"`, fieldsOf(t, err)["roles"])
	got, _ := a.Get(ctx, u.ID)
	assert.Equal(t, []string{"Sales"}, got.Roles, "nothing changed")

	// Only the roles added are checked: a role the user holds already (even
	// one disabled since) does not block another change.
	rc.known = []string{"Support"}
	rc.asked = nil
	got, err = a.Update(ctx, u.ID, ports.UserChanges{Roles: []string{"Sales", "Support"}})
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"Support"}}, rc.asked)
	assert.Equal(t, []string{"Sales", "Support"}, got.Roles)
	rc.asked = nil
	name := "Ann A."
	_, err = a.Update(ctx, u.ID, ports.UserChanges{DisplayName: &name})
	require.NoError(t, err)
	assert.Empty(t, rc.asked, "no roles given, nothing to check")

	for _, bad := range [][]string{{""}, {ports.RoleSystem}} {
		_, err = a.Update(ctx, u.ID, ports.UserChanges{Roles: bad})
		assert.Contains(t, fieldsOf(t, err), "roles", "%q", bad)
	}
}

func TestUserAdminKeepsAnAdmin(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name      string
		admins    int    // enabled admins besides ann (the target)
		actor     string // "ann" acts on herself; else another admin
		ch        ports.UserChanges
		conflict  string // "" when allowed
		adminRole []string
	}{
		{"disable the last admin", 0, "other", ports.UserChanges{IsActive: &no}, "last enabled admin", nil},
		{"demote the last admin", 0, "other", ports.UserChanges{Roles: []string{"Sales"}}, "last enabled admin", nil},
		{"clear the last admin's roles", 0, "other", ports.UserChanges{Roles: []string{}}, "last enabled admin", nil},
		{"disable an admin while another remains", 1, "other", ports.UserChanges{IsActive: &no}, "", nil},
		{"demote an admin while another remains", 1, "other", ports.UserChanges{Roles: []string{"Sales"}}, "", nil},
		{"disable yourself", 1, "ann", ports.UserChanges{IsActive: &no}, "cannot disable your own account", nil},
		{"remove your own admin role", 1, "ann", ports.UserChanges{Roles: []string{"Sales"}}, "cannot remove your own admin role", nil},
		{"remove one of your admin roles", 1, "ann", ports.UserChanges{Roles: []string{"Admin"}}, `cannot remove your own admin role "Owner"`, []string{"Admin", "Owner"}},
		{"keep your admin role", 0, "ann", ports.UserChanges{Roles: []string{"Admin", "Sales", "Extra"}}, "", nil},
		{"enable yourself", 0, "ann", ports.UserChanges{IsActive: &yes}, "", nil},
		{"last admin keeps another admin role", 0, "other", ports.UserChanges{Roles: []string{"Owner"}}, "", []string{"Admin", "Owner"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			roles := tc.adminRole
			if roles == nil {
				roles = []string{ports.RoleAdmin}
			}
			a := auth.NewUserAdmin(e.svc, roles)
			ctx := tctx("default")
			ann := e.user(t, ctx, annEmail, append(slices.Clone(roles), "Sales")...)
			for i := range tc.admins {
				e.user(t, ctx, fmt.Sprintf("admin%d@example.com", i), ports.RoleAdmin)
			}
			e.user(t, ctx, "disabled@example.com", ports.RoleAdmin)
			dis, _ := e.ident.FindByEmail(ctx, "disabled@example.com")
			e.setActive(t, ctx, dis.ID, false) // a disabled admin does not count
			who := actor("default", "someone-else", ports.RoleAdmin)
			if tc.actor == "ann" {
				who = actor("default", ann.ID, roles...)
			}
			_, err := a.Update(who, ann.ID, tc.ch)
			if tc.conflict == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, core.ErrConflict)
			assert.Contains(t, err.Error(), tc.conflict)
			got, _ := e.ident.GetUser(ctx, ann.ID)
			assert.True(t, got.IsActive, "nothing changed")
			assert.ElementsMatch(t, append(slices.Clone(roles), "Sales"), got.Roles, "nothing changed")
		})
	}

	t.Run("disable and EditRoles follow the same rules", func(t *testing.T) {
		e := newEnv(t)
		a := adminOf(e)
		ctx := tctx("default")
		ann := e.user(t, ctx, annEmail, ports.RoleAdmin)
		_, err := a.Disable(ctx, ann.ID)
		assert.ErrorIs(t, err, core.ErrConflict)
		_, err = a.EditRoles(ctx, ann.ID, []string{"Sales"}, []string{ports.RoleAdmin})
		assert.ErrorIs(t, err, core.ErrConflict)
		bob := e.user(t, ctx, "bob@example.com", "Sales")
		u, err := a.EditRoles(ctx, bob.ID, []string{ports.RoleAdmin, "Support"}, []string{"Sales"})
		require.NoError(t, err)
		assert.Equal(t, []string{ports.RoleAdmin, "Support"}, u.Roles)
		_, err = a.EditRoles(ctx, ann.ID, nil, []string{ports.RoleAdmin})
		require.NoError(t, err, "bob is an admin now")
	})
}

// racingDirectory demotes the other admin just before the admin check
// counts admins after writing: two admins demoting each other at once.
type racingDirectory struct {
	*countingIdentity
	other  string
	raced  bool
	writes int
}

func (r *racingDirectory) UpdateUser(ctx context.Context, id string, ch ports.UserChanges) (*ports.User, error) {
	r.writes++
	u, err := r.countingIdentity.UpdateUser(ctx, id, ch)
	if err == nil && !r.raced {
		r.raced = true
		if _, err := r.countingIdentity.UpdateUser(ctx, r.other, ports.UserChanges{Roles: []string{}}); err != nil {
			return nil, err
		}
	}
	return u, err
}

func TestUserAdminUndoesARaceToNoAdmin(t *testing.T) {
	e := newEnv(t)
	ctx := tctx("default")
	ann := e.user(t, ctx, annEmail, ports.RoleAdmin)
	bob := e.user(t, ctx, "bob@example.com", ports.RoleAdmin)
	dir := &racingDirectory{countingIdentity: e.ident, other: bob.ID}
	users := auth.NewUserManager(dir, auth.ModeLocal, auth.PasswordPolicy{MinLength: 10, MaxLength: 256}, e.sessions, e.keys)
	a := auth.NewUserAdmin(&auth.Service{Users: users}, []string{ports.RoleAdmin})

	_, err := a.Update(ctx, ann.ID, ports.UserChanges{Roles: []string{}})
	require.ErrorIs(t, err, core.ErrConflict)
	got, err := e.ident.GetUser(ctx, ann.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{ports.RoleAdmin}, got.Roles, "the demotion was undone: the tenant keeps an admin")
	assert.Equal(t, 2, dir.writes, "the change and its undo")
}

// withCredentials creates ann in the default tenant, logged in with a token
// and a session, holding an API key.
func withCredentials(t *testing.T, e *env) (context.Context, *ports.User, *auth.LoginResult, string) {
	t.Helper()
	ctx := tctx("default")
	ann := e.user(t, ctx, annEmail, "Sales")
	res := e.login(t, ctx, annEmail, true)
	key, _, err := e.keys.Create(ctx, ann.ID, auth.NewKey{Name: "ci"})
	require.NoError(t, err)
	return ctx, ann, res, key
}

func TestUserAdminDisableEndsSessionsAndTokens(t *testing.T) {
	e := newEnv(t)
	a := adminOf(e)
	ctx, ann, res, key := withCredentials(t, e)

	u, err := a.Disable(ctx, ann.ID)
	require.NoError(t, err)
	assert.False(t, u.Enabled)
	_, err = e.svc.BearerUser(ctx, res.Token.AccessToken)
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	_, err = e.svc.SessionUser(ctx, res.Session.Secret)
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	assert.Zero(t, e.store.count("default", ann.ID), "sessions deleted")
	_, err = e.svc.APIKeyUser(ctx, key)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "a disabled user's key does not work either")

	u, err = a.Enable(ctx, ann.ID)
	require.NoError(t, err)
	assert.True(t, u.Enabled)
	_, err = e.svc.BearerUser(ctx, res.Token.AccessToken)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "enabling again does not revive old tokens")
	_, err = e.svc.APIKeyUser(ctx, key)
	assert.NoError(t, err, "API keys are credentials of their own: they work again")

	res = e.login(t, ctx, annEmail, false)
	require.NoError(t, a.LogoutEverywhere(ctx, ann.ID))
	_, err = e.svc.BearerUser(ctx, res.Token.AccessToken)
	assert.ErrorIs(t, err, core.ErrUnauthorized)
}

func TestUserAdminResetPassword(t *testing.T) {
	e := newEnv(t)
	a := adminOf(e)
	ctx, ann, before, key := withCredentials(t, e)

	temp, err := a.ResetPassword(ctx, ann.ID)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(temp), 20)
	assert.NoError(t, auth.PasswordPolicy{MinLength: 10, MaxLength: 256}.Check(temp, annEmail))
	other, err := a.ResetPassword(ctx, ann.ID)
	require.NoError(t, err)
	assert.NotEqual(t, temp, other, "random every time")
	temp = other

	_, err = e.svc.BearerUser(ctx, before.Token.AccessToken)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "tokens end")
	_, err = e.svc.SessionUser(ctx, before.Session.Secret)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "sessions end")
	uc, err := e.svc.APIKeyUser(ctx, key)
	require.NoError(t, err, "API keys stay")
	assert.False(t, uc.PasswordChangeRequired, "and are not held up by the temporary password")

	got, err := a.Get(ctx, ann.ID)
	require.NoError(t, err)
	assert.True(t, got.PasswordChangeRequired)
	res, err := e.svc.Login(ctx, auth.LoginRequest{Email: annEmail, Password: temp, IP: "192.0.2.1", Session: true})
	require.NoError(t, err, "the temporary password logs in")
	assert.True(t, res.User.PasswordChangeRequired)
	for name, get := range map[string]func() (*ports.UserContext, error){
		"bearer":  func() (*ports.UserContext, error) { return e.svc.BearerUser(ctx, res.Token.AccessToken) },
		"session": func() (*ports.UserContext, error) { return e.svc.SessionUser(ctx, res.Session.Secret) },
		"basic":   func() (*ports.UserContext, error) { return e.svc.BasicUser(ctx, annEmail, temp, "192.0.2.1") },
	} {
		uc, err := get()
		require.NoError(t, err, name)
		assert.True(t, uc.PasswordChangeRequired, name)
	}

	require.NoError(t, e.users.ChangePassword(ctx, ann.ID, temp, "a brand new passphrase"))
	got, err = a.Get(ctx, ann.ID)
	require.NoError(t, err)
	assert.False(t, got.PasswordChangeRequired, "changing the password clears it")
	uc, err = e.svc.BasicUser(ctx, annEmail, "a brand new passphrase", "192.0.2.1")
	require.NoError(t, err)
	assert.False(t, uc.PasswordChangeRequired)

	_, err = adminOf(newEnv(t, withMode(auth.ModePasswordless))).ResetPassword(ctx, "x")
	assert.ErrorIs(t, err, core.ErrNotSupported, "no passwords to reset")
}

func TestUserAdminTenantIsolation(t *testing.T) {
	e := newEnv(t)
	a := adminOf(e)
	ann := e.user(t, tctx("t1"), annEmail, "Sales")
	e.user(t, tctx("t2"), "bob@example.com", ports.RoleAdmin)
	t2 := actor("t2", "boss", ports.RoleAdmin)
	_, err := a.Get(t2, ann.ID)
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, err = a.Disable(t2, ann.ID)
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, err = a.ResetPassword(t2, ann.ID)
	assert.ErrorIs(t, err, core.ErrNotFound)
	assert.ErrorIs(t, a.LogoutEverywhere(t2, ann.ID), core.ErrNotFound)
	list, err := a.List(t2, ports.UserFilter{})
	require.NoError(t, err)
	require.Len(t, list.Users, 1)
	assert.Equal(t, "bob@example.com", list.Users[0].Email)
	got, err := a.Get(tctx("t1"), ann.ID)
	require.NoError(t, err)
	assert.True(t, got.Enabled, "untouched")
}

// memSeen is an in-memory ports.SeenUserStore counting its writes.
type memSeen struct {
	users  map[string]ports.User // tenant/id
	writes int
}

func (m *memSeen) RecordSeen(ctx context.Context, users []ports.User) error {
	for _, u := range users {
		m.writes++
		u.TenantID = ports.TenantIDFrom(ctx)
		m.users[u.TenantID+"/"+u.ID] = u
	}
	return nil
}

func (m *memSeen) ListUsers(ctx context.Context, f ports.UserFilter) (*ports.UserPage, error) {
	page := &ports.UserPage{}
	for _, u := range m.users {
		if u.TenantID == ports.TenantIDFrom(ctx) && f.Matches(&u) {
			page.Users = append(page.Users, &u)
			page.Total++
		}
	}
	return page, nil
}

func (m *memSeen) GetUser(ctx context.Context, id string) (*ports.User, error) {
	u, ok := m.users[ports.TenantIDFrom(ctx)+"/"+id]
	if !ok {
		return nil, core.ErrNotFound
	}
	return &u, nil
}

func TestUserAdminFederatedIsReadOnly(t *testing.T) {
	store := &memSeen{users: map[string]ports.User{}}
	seen := auth.NewSeenUsers(store, nil)
	svc := &auth.Service{Users: auth.NewUserManager(federated.New(config.Default().Auth.Headers), auth.ModeFederated, auth.PasswordPolicy{}, nil, nil), Seen: seen}
	a := auth.NewUserAdmin(svc, []string{ports.RoleAdmin})
	ctx := tctx("default")
	seen.Note(ctx, &ports.UserContext{ID: "kc-1", Email: "kim@corp.example", Roles: []string{"Writer"}})
	require.NoError(t, seen.Flush(ctx))

	list, err := a.List(ctx, ports.UserFilter{})
	require.NoError(t, err)
	require.Len(t, list.Users, 1)
	assert.Equal(t, "kim@corp.example", list.Users[0].Email)
	assert.NotNil(t, list.Users[0].LastSeenAt)
	got, err := a.Get(ctx, "kc-1")
	require.NoError(t, err)
	assert.Equal(t, []string{"Writer"}, got.Roles)
	_, err = a.Get(ctx, "kc-2")
	assert.ErrorIs(t, err, core.ErrNotFound)

	var ns *core.NotSupportedError
	_, err = a.Create(ctx, ports.NewUser{Email: "x@example.com"})
	require.ErrorAs(t, err, &ns)
	assert.Equal(t, []string{"GET"}, ns.Allow)
	_, err = a.Update(ctx, "kc-1", ports.UserChanges{})
	require.ErrorAs(t, err, &ns)
	for name, err := range map[string]error{
		"disable": second(a.Disable(ctx, "kc-1")),
		"enable":  second(a.Enable(ctx, "kc-1")),
		"reset":   second(a.ResetPassword(ctx, "kc-1")),
		"logout":  a.LogoutEverywhere(ctx, "kc-1"),
	} {
		assert.ErrorIs(t, err, core.ErrNotSupported, name)
	}
	_, err = a.List(actor("default", "kim", "Writer"), ports.UserFilter{})
	assert.ErrorIs(t, err, core.ErrForbidden, "admins only here too")
}

func second[T any](_ T, err error) error { return err }

func TestSeenUsersBatchesWrites(t *testing.T) {
	store := &memSeen{users: map[string]ports.User{}}
	seen := auth.NewSeenUsers(store, nil)
	t1, t2 := tctx("t1"), tctx("t2")
	for i := range 50 {
		seen.Note(t1, &ports.UserContext{ID: "kc-1", Email: fmt.Sprintf("v%d@corp.example", i)})
		seen.Note(t1, &ports.UserContext{ID: "kc-2", Attributes: map[string]any{"roles": []any{"Auditor"}}})
	}
	seen.Note(t2, &ports.UserContext{ID: "kc-1"})
	assert.Zero(t, store.writes, "nothing is written on the request path")
	require.NoError(t, seen.Flush(context.Background()))
	assert.Equal(t, 3, store.writes, "one write per user and tenant per flush")
	assert.Equal(t, "v49@corp.example", store.users["t1/kc-1"].Email, "as last described")
	assert.Equal(t, []string{"Auditor"}, store.users["t1/kc-2"].Roles, "roles from attributes count")
	require.NoError(t, seen.Flush(context.Background()))
	assert.Equal(t, 3, store.writes, "nothing new, nothing written")

	var none *auth.SeenUsers
	none.Note(t1, &ports.UserContext{ID: "x"}) // a nil recorder records nothing
	assert.Nil(t, none.Store())
}

func TestSeenUsersRunFlushesOnStop(t *testing.T) {
	store := &memSeen{users: map[string]ports.User{}}
	seen := auth.NewSeenUsers(store, nil)
	seen.FlushInterval = 1 << 40 // never by the ticker
	seen.Note(tctx("t1"), &ports.UserContext{ID: "kc-1"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { seen.Run(ctx); close(done) }()
	cancel()
	<-done
	assert.Equal(t, 1, store.writes)
}

func TestHeaderNotesSeenUsers(t *testing.T) {
	store := &memSeen{users: map[string]ports.User{}}
	seen := auth.NewSeenUsers(store, nil)
	good := &headerHydrator{user: &ports.UserContext{ID: "kc-1", Email: "kim@corp.example"}}
	_, err := auth.NewHeader(good, "X-User-ID").WithSeen(seen).Authenticate(tctx("t1"), headerHeaders("X-User-ID", "kc-1"))
	require.NoError(t, err)
	bad := &headerHydrator{err: core.Public(core.ErrUnauthorized, "malformed")}
	_, err = auth.NewHeader(bad, "X-User-ID").WithSeen(seen).Authenticate(tctx("t1"), headerHeaders("X-User-ID", "kc-2"))
	require.Error(t, err)
	require.NoError(t, seen.Flush(context.Background()))
	assert.Len(t, store.users, 1, "only successful authentications are seen")
	assert.NotNil(t, store.users["t1/kc-1"].LastSeenAt)
	assert.True(t, errors.Is(err, core.ErrUnauthorized))
}
