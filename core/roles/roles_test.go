package roles_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/hub/memory"
	"github.com/framework-m/framework-m/adapters/permission/rbac"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/core/roles"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest/memrepo"
	"github.com/framework-m/framework-m/fmtest/permtest"
	"github.com/framework-m/framework-m/ports"
)

// countingRepo counts the lists made through it.
type countingRepo struct {
	ports.Repository
	lists atomic.Int64
}

func (r *countingRepo) List(ctx context.Context, dt string, q ports.Query) (ports.ListResult, error) {
	r.lists.Add(1)
	return r.Repository.List(ctx, dt, q)
}

// fixture is a roles service over an in-memory store holding the built-in
// DocTypes and permtest's Invoice, with a resource service it guards.
type fixture struct {
	reg   *doctype.Registry
	store ports.Repository // beneath the change feed: writes here notify nobody
	feed  *events.Feed
	repo  *countingRepo
	roles *roles.Service
	res   *resource.Service
}

func newFixture(t *testing.T) *fixture { return newFixtureOn(t, &events.Feed{}) }

// newFixtureOn is newFixture with the change feed given.
func newFixtureOn(t *testing.T, feed *events.Feed) *fixture {
	t.Helper()
	reg := permtest.Registry()
	require.NoError(t, doctypes.Register(reg))
	require.NoError(t, doctypes.RegisterIdentity(reg, true))
	store := memrepo.New(reg)
	repo := &countingRepo{Repository: events.NewRepository(store, feed, nil)}
	svc := roles.New(repo, reg, feed, roles.Options{
		RoleDocType:       doctypes.RoleDocType,
		UserDocType:       doctypes.LocalUserDocType,
		PermissionDocType: doctypes.CustomPermissionDocType,
		AdminRoles:        []string{ports.RoleAdmin, roles.SystemManager},
	})
	perm := rbac.New(reg, rbac.Options{AdminRoles: []string{ports.RoleAdmin}, AdminBypass: true})
	res := resource.New(repo, reg, perm, nil)
	svc.Install(res)
	return &fixture{reg: reg, store: store, feed: feed, repo: repo, roles: svc, res: res}
}

// as is a context in tenant acting as a principal with roles.
func as(tenant, id string, rs ...string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.UserContext{ID: id, Roles: rs})
}

func admin(tenant string) context.Context { return as(tenant, "root", ports.RoleAdmin) }

// addRole stores a Role row through the guarded resource service.
func (f *fixture) addRole(t *testing.T, tenant, name string, disabled bool) {
	t.Helper()
	require.NoError(t, f.res.Insert(admin(tenant), doctypes.RoleDocType, &doctypes.Role{Base: doctype.Base{Name: name}, Disabled: disabled, Description: name + " role"}))
}

func fieldReasons(t *testing.T, err error) map[string]string {
	t.Helper()
	var ve *core.ValidationError
	require.True(t, errors.As(err, &ve), "want a validation error, got %v", err)
	return ve.FieldMap()
}

func TestListBuiltinDocTypeAndCustomRoles(t *testing.T) {
	f := newFixture(t)
	f.addRole(t, "t1", "Helpdesk", false)
	f.addRole(t, "t1", "Auditor", true)
	list, err := f.roles.List(admin("t1"))
	require.NoError(t, err)
	byName := map[string]roles.RoleInfo{}
	var names []string
	for _, r := range list {
		byName[r.Name] = r
		names = append(names, r.Name)
	}
	assert.Equal(t, []string{
		"Admin", "System Manager", "All", "Guest", "System",
		"Accounts Manager", "Accounts User", "Auditor", "Sales Rep",
		"Helpdesk",
	}, names)
	assert.Equal(t, roles.SourceBuiltin, byName["Guest"].Source)
	assert.True(t, byName["System"].Reserved)
	assert.Equal(t, roles.SourceDocType, byName["Accounts User"].Source)
	assert.Equal(t, []string{"Invoice"}, byName["Accounts User"].DocTypes)
	assert.True(t, byName["Auditor"].Disabled, "a row disables a DocType role")
	assert.Equal(t, "Auditor role", byName["Auditor"].Description)
	assert.Equal(t, roles.SourceCustom, byName["Helpdesk"].Source)
	assert.False(t, byName["Helpdesk"].Disabled)

	other, err := f.roles.List(admin("t2"))
	require.NoError(t, err)
	assert.Len(t, other, len(list)-1, "tenant t2 has the roles from code only")
	_, err = f.roles.Get(admin("t2"), "Helpdesk")
	assert.ErrorIs(t, err, core.ErrNotFound)
	info, err := f.roles.Get(admin("t2"), "Sales Rep")
	require.NoError(t, err)
	assert.Equal(t, roles.SourceDocType, info.Source)
}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	f.addRole(t, "t1", "Helpdesk", false)
	f.addRole(t, "t1", "Old Role", true)
	f.addRole(t, "t1", "Auditor", true)
	cases := []struct {
		tenant string
		roles  []string
		want   string // the reason for field "roles"; "" means accepted
	}{
		{"t1", nil, ""},
		{"t1", []string{"Admin", "System Manager", "All", "Guest"}, ""},
		{"t1", []string{"Accounts User", "Helpdesk"}, ""},
		{"t2", []string{"Accounts User"}, ""},
		{"t1", []string{"Acounts User"}, `unknown role "Acounts User"`},
		{"t2", []string{"Helpdesk"}, `unknown role "Helpdesk"`},
		{"t1", []string{"System"}, `role "System" is reserved for the framework`},
		{"t1", []string{"Old Role"}, `role "Old Role" is disabled`},
		{"t1", []string{"Auditor"}, `role "Auditor" is disabled`},
		{"t2", []string{"Auditor"}, ""},
		{"t1", []string{""}, "a role name cannot be empty"},
		{"t1", []string{"Nope", "Old Role"}, `unknown role "Nope"; role "Old Role" is disabled`},
	}
	for _, tc := range cases {
		err := f.roles.Check(admin(tc.tenant), tc.roles)
		if tc.want == "" {
			assert.NoError(t, err, "%s %v", tc.tenant, tc.roles)
			continue
		}
		assert.Equal(t, map[string]string{"roles": tc.want}, fieldReasons(t, err), "%s %v", tc.tenant, tc.roles)
	}
	err := f.roles.CheckPrincipal(admin("t1"), &ports.UserContext{ID: "gw", Roles: []string{"Helpdesk"}, Attributes: map[string]any{"roles": []any{"Ghost"}}})
	assert.Equal(t, map[string]string{"roles": `unknown role "Ghost"`}, fieldReasons(t, err))
}

func TestActiveDropsDisabledRolesFromACacheThatChangesInvalidate(t *testing.T) {
	f := newFixture(t)
	ctx := admin("t1")
	f.addRole(t, "t1", "Auditor", true)
	in := []string{"Accounts User", "Auditor", "Admin"}
	assert.Equal(t, []string{"Accounts User", "Admin"}, f.roles.Active(ctx, in))

	before := f.repo.lists.Load()
	for range 10 {
		f.roles.Active(ctx, in)
	}
	assert.Equal(t, before, f.repo.lists.Load(), "a warm cache reads nothing")

	// Re-enabling the role is a change event: it grants again at once.
	_, err := f.res.Update(ctx, doctypes.RoleDocType, "Auditor", []byte(`{"disabled": false}`), nil)
	require.NoError(t, err)
	assert.Equal(t, in, f.roles.Active(ctx, in))
	_, err = f.res.Update(ctx, doctypes.RoleDocType, "Auditor", []byte(`{"disabled": true}`), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"Accounts User", "Admin"}, f.roles.Active(ctx, in))
	assert.Equal(t, in, f.roles.Active(admin("t2"), in), "rows are per tenant")

	// Roles that cannot be disabled need no read at all.
	fresh := newFixture(t)
	fixed := []string{ports.RoleAdmin, ports.RoleAll}
	assert.Equal(t, fixed, fresh.roles.Active(admin("t1"), fixed))
	assert.Zero(t, fresh.repo.lists.Load())
}

// TestRolesWhileTheHubIsDown: while the feed is not synced (its hub's
// subscription down, so another instance's change may never be announced
// here) the cache keeps a tenant's Role rows at most about a second; while
// synced it keeps them until a notice.
func TestRolesWhileTheHubIsDown(t *testing.T) {
	for _, synced := range []bool{true, false} {
		t.Run(map[bool]string{true: "synced", false: "hub down"}[synced], func(t *testing.T) {
			feed := &events.Feed{}
			if !synced {
				feed.UseHub(memory.New(), nil) // never Run: not subscribed
			}
			f := newFixtureOn(t, feed)
			require.Equal(t, synced, feed.Synced())
			ctx := admin("t1")
			f.addRole(t, "t1", "Auditor", false)
			in := []string{"Auditor"}
			require.Equal(t, in, f.roles.Active(ctx, in))

			// Another instance disables the role; its notice never arrives.
			doc, err := f.store.Get(ctx, doctypes.RoleDocType, "Auditor")
			require.NoError(t, err)
			doc.(*doctypes.Role).Disabled = true
			require.NoError(t, f.store.Update(ctx, doctypes.RoleDocType, doc))

			if synced {
				time.Sleep(events.UnsyncedMaxAge + 100*time.Millisecond)
				assert.Equal(t, in, f.roles.Active(ctx, in), "synced: kept until a notice (none came)")
				return
			}
			began := time.Now()
			require.Eventually(t, func() bool { return len(f.roles.Active(ctx, in)) == 0 }, 3*time.Second, 20*time.Millisecond)
			assert.Less(t, time.Since(began), events.UnsyncedMaxAge+500*time.Millisecond)
		})
	}
}

func TestDisabledRoleGrantsNothing(t *testing.T) {
	f := newFixture(t)
	auditor := as("t1", "audrey", "Auditor")
	dt, ok := f.reg.Get("Invoice")
	require.True(t, ok)
	ok, err := f.res.Can(auditor, dt, ports.ActionRead, nil)
	require.NoError(t, err)
	assert.True(t, ok)
	f.addRole(t, "t1", "Auditor", true)
	ok, err = f.res.Can(auditor, dt, ports.ActionRead, nil)
	require.NoError(t, err)
	assert.False(t, ok, "a disabled role grants nothing")
	_, err = f.res.List(auditor, "Invoice", resource.ListParams{})
	assert.ErrorIs(t, err, core.ErrForbidden)

	// Through the roles attribute too.
	viaAttr := ports.WithUser(ports.WithTenantID(context.Background(), "t1"), &ports.UserContext{ID: "a2", Attributes: map[string]any{"roles": []any{"Auditor"}}})
	ok, err = f.res.Can(viaAttr, dt, ports.ActionRead, nil)
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestUserAndPermissionGuards(t *testing.T) {
	f := newFixture(t)
	ctx := admin("t1")
	f.addRole(t, "t1", "Old Role", true)

	err := f.res.Insert(ctx, doctypes.LocalUserDocType, &doctypes.LocalUser{Email: "ann@example.com", Roles: doctype.StringList{"Acounts User"}})
	assert.Equal(t, map[string]string{"roles": `unknown role "Acounts User"`}, fieldReasons(t, err))

	ann := &doctypes.LocalUser{Email: "ann@example.com", Roles: doctype.StringList{"Accounts User"}}
	require.NoError(t, f.res.Insert(ctx, doctypes.LocalUserDocType, ann))
	_, err = f.res.Update(ctx, doctypes.LocalUserDocType, ann.Name, []byte(`{"roles": ["Accounts User", "Old Role"]}`), nil)
	assert.Equal(t, map[string]string{"roles": `role "Old Role" is disabled`}, fieldReasons(t, err))

	// A role disabled after it was given stays on the user's other edits.
	f.addRole(t, "t1", "Auditor", false)
	_, err = f.res.Update(ctx, doctypes.LocalUserDocType, ann.Name, []byte(`{"roles": ["Accounts User", "Auditor"]}`), nil)
	require.NoError(t, err)
	_, err = f.res.Update(ctx, doctypes.RoleDocType, "Auditor", []byte(`{"disabled": true}`), nil)
	require.NoError(t, err)
	_, err = f.res.Update(ctx, doctypes.LocalUserDocType, ann.Name, []byte(`{"display_name": "Ann"}`), nil)
	require.NoError(t, err)

	newPerm := func(role string) *doctypes.CustomPermission {
		return &doctypes.CustomPermission{DocumentType: "Invoice", Role: role, Actions: doctype.StringList{"read"}, Enabled: true}
	}
	err = f.res.Insert(ctx, doctypes.CustomPermissionDocType, newPerm("Helpdsk"))
	assert.Equal(t, map[string]string{"role": `unknown role "Helpdsk"`}, fieldReasons(t, err))
	p := newPerm("Sales Rep")
	require.NoError(t, f.res.Insert(ctx, doctypes.CustomPermissionDocType, p))
	_, err = f.res.Update(ctx, doctypes.CustomPermissionDocType, p.Name, []byte(`{"role": "Old Role"}`), nil)
	assert.Equal(t, map[string]string{"role": `role "Old Role" is disabled`}, fieldReasons(t, err))
}

func TestRoleGuard(t *testing.T) {
	f := newFixture(t)
	ctx := admin("t1")
	for name, want := range map[string]map[string]string{
		"System": {"name": `"System" is reserved for the framework`},
		"system": {"name": `"system" is reserved for the framework`},
		"admin":  {"name": `"admin" differs only in case from the role "Admin"`},
	} {
		err := f.res.Insert(ctx, doctypes.RoleDocType, &doctypes.Role{Base: doctype.Base{Name: name}})
		assert.Equal(t, want, fieldReasons(t, err), name)
	}
	for _, name := range []string{"Admin", "All"} {
		err := f.res.Insert(ctx, doctypes.RoleDocType, &doctypes.Role{Base: doctype.Base{Name: name}, Disabled: true})
		assert.Equal(t, map[string]string{"disabled": `role "` + name + `" cannot be disabled`}, fieldReasons(t, err), name)
	}
	require.NoError(t, f.res.Insert(ctx, doctypes.RoleDocType, &doctypes.Role{Base: doctype.Base{Name: "Admin"}, Description: "The boss"}))
	_, err := f.res.Update(ctx, doctypes.RoleDocType, "Admin", []byte(`{"disabled": true}`), nil)
	assert.Contains(t, fieldReasons(t, err), "disabled")

	f.addRole(t, "t1", "Auditor", false)
	doc, err := f.res.Get(ctx, doctypes.RoleDocType, "Auditor")
	require.NoError(t, err)
	assert.True(t, doc.(*doctypes.Role).IsBuiltin, "a row about a role from code is marked built-in")
	f.addRole(t, "t1", "Helpdesk", false)
	doc, err = f.res.Get(ctx, doctypes.RoleDocType, "Helpdesk")
	require.NoError(t, err)
	assert.False(t, doc.(*doctypes.Role).IsBuiltin)
}

func TestDeleteRoleInUse(t *testing.T) {
	f := newFixture(t)
	ctx := admin("t1")
	f.addRole(t, "t1", "Helpdesk", false)
	f.addRole(t, "t1", "Sales Rep", false)
	ann := &doctypes.LocalUser{Email: "ann@example.com", Roles: doctype.StringList{"Helpdesk"}}
	require.NoError(t, f.res.Insert(ctx, doctypes.LocalUserDocType, ann))
	p := &doctypes.CustomPermission{DocumentType: "Invoice", Role: "Helpdesk", Actions: doctype.StringList{"read"}, Enabled: true}
	require.NoError(t, f.res.Insert(ctx, doctypes.CustomPermissionDocType, p))
	// Another tenant's use does not count.
	require.NoError(t, f.res.Insert(admin("t2"), doctypes.RoleDocType, &doctypes.Role{Base: doctype.Base{Name: "Helpdesk"}}))
	require.NoError(t, f.res.Insert(admin("t2"), doctypes.LocalUserDocType, &doctypes.LocalUser{Email: "bob@example.com", Roles: doctype.StringList{"Helpdesk"}}))

	used, err := f.roles.Usage(ctx, "Helpdesk")
	require.NoError(t, err)
	assert.Equal(t, []string{
		`Local User "` + ann.Name + `" (ann@example.com)`,
		`Custom Permission "` + p.Name + `" (Invoice)`,
	}, used)

	err = f.res.Delete(ctx, doctypes.RoleDocType, "Helpdesk")
	require.ErrorIs(t, err, core.ErrConflict)
	assert.Contains(t, err.Error(), `role "Helpdesk" is in use: Local User "`+ann.Name+`" (ann@example.com), Custom Permission`)

	// The row of a role from code goes whatever uses the role.
	require.NoError(t, f.res.Delete(ctx, doctypes.RoleDocType, "Sales Rep"))

	require.NoError(t, f.res.Delete(ctx, doctypes.CustomPermissionDocType, p.Name))
	_, err = f.res.Update(ctx, doctypes.LocalUserDocType, ann.Name, []byte(`{"roles": []}`), nil)
	require.NoError(t, err)
	require.NoError(t, f.res.Delete(ctx, doctypes.RoleDocType, "Helpdesk"))
	assert.Error(t, f.roles.Check(ctx, []string{"Helpdesk"}), "the deleted role is gone")
}
