// Package usertest is the contract suite of user listers (ports.UserLister:
// the local ports.UserDirectory and the federated ports.SeenUserStore): what
// every store of users an admin lists must do, built-in or a user's own.
//
//	func TestContract(t *testing.T) {
//		usertest.Run(t, func(t *testing.T) usertest.Fixture {
//			store := mystore.New(…)
//			return usertest.Fixture{Lister: store, Add: func(ctx context.Context, u ports.User) string { … }}
//		})
//	}
//
// The contract:
//   - ListUsers applies exactly ports.UserFilter.Matches: a role matches
//     whole and in its case, LIKE wildcards (% and _) in a role or a search
//     are literal, a search ignores case and looks in email and display name.
//   - Users come ordered by email, paged by Limit (0: the default page) and
//     Offset, with Total counting every match.
//   - Every call sees only the tenant in ctx; GetUser of another tenant's user,
//     or of none, is core.ErrNotFound.
package usertest

import (
	"context"
	"errors"
	"testing"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Fixture is one store under test.
type Fixture struct {
	// Lister is the store under test, empty.
	Lister ports.UserLister
	// Add stores u (Email, DisplayName, Roles, IsActive; ID when the store
	// takes it) in the tenant of ctx and returns its id.
	Add func(ctx context.Context, u ports.User) string
	// AlwaysEnabled says the store keeps enabled users only (seen users):
	// users the suite would disable are left out.
	AlwaysEnabled bool
}

// NewFixture returns a fixture of its own for one subtest.
type NewFixture = func(t *testing.T) Fixture

// Ctx returns a context acting as the framework in tenant.
func Ctx(tenant string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.SystemUser)
}

var people = []ports.User{
	{ID: "u-ann", Email: "ann@example.com", DisplayName: "Ann Archer", Roles: []string{"Admin", "Sales"}, IsActive: true},
	{ID: "u-bob", Email: "bob@example.com", DisplayName: "Bob", Roles: []string{"admin"}, IsActive: true},
	{ID: "u-cid", Email: "cid@corp.example", DisplayName: "Cid 100%", Roles: []string{"Sales_EU"}, IsActive: true},
	{ID: "u-dan", Email: "dan@corp.example", DisplayName: "Dan", Roles: []string{"SalesXEU"}, IsActive: true},
	{ID: "u-eve", Email: "eve@corp.example", DisplayName: "Ève Off", Roles: []string{}, IsActive: false},
}

// Run runs the contract suite; newFixture makes a fresh, empty store per subtest.
func Run(t *testing.T, newFixture NewFixture) {
	t.Helper()
	t.Run("filters and paging", func(t *testing.T) { filters(t, newFixture(t)) })
	t.Run("tenant isolation", func(t *testing.T) { tenants(t, newFixture(t)) })
}

func filters(t *testing.T, f Fixture) {
	ctx := Ctx("t1")
	var everyone []string
	ids := map[string]string{}
	for _, u := range people {
		if f.AlwaysEnabled && !u.IsActive {
			continue
		}
		ids[u.Email] = f.Add(ctx, u)
		everyone = append(everyone, u.Email)
	}
	yes, no := true, false
	enabled := everyone
	var disabled []string
	if !f.AlwaysEnabled {
		enabled, disabled = everyone[:4], []string{"eve@corp.example"}
	}
	corp := []string{"cid@corp.example", "dan@corp.example"}
	if !f.AlwaysEnabled {
		corp = append(corp, "eve@corp.example")
	}
	for _, tc := range []struct {
		name   string
		f      ports.UserFilter
		emails []string
	}{
		{"everyone, by email", ports.UserFilter{}, everyone},
		{"role, whole and in its case", ports.UserFilter{Role: "Admin"}, []string{"ann@example.com"}},
		{"role in another case is another role", ports.UserFilter{Role: "admin"}, []string{"bob@example.com"}},
		{"role with a LIKE wildcard", ports.UserFilter{Role: "Sales_EU"}, []string{"cid@corp.example"}},
		{"role held among others", ports.UserFilter{Role: "Sales"}, []string{"ann@example.com"}},
		{"enabled", ports.UserFilter{Enabled: &yes}, enabled},
		{"disabled", ports.UserFilter{Enabled: &no}, disabled},
		{"search email, any case", ports.UserFilter{Search: "CORP"}, corp},
		{"search display name, any case", ports.UserFilter{Search: "archer"}, []string{"ann@example.com"}},
		{"search with %", ports.UserFilter{Search: "0%"}, []string{"cid@corp.example"}},
		{"search with _", ports.UserFilter{Search: "b_b"}, nil},
		{"conditions combine", ports.UserFilter{Search: "example", Role: "admin", Enabled: &yes}, []string{"bob@example.com"}},
	} {
		page, err := f.Lister.ListUsers(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := emailsOf(page); !equal(got, tc.emails) || page.Total != int64(len(tc.emails)) {
			t.Errorf("%s: got %v (total %d), want %v", tc.name, got, page.Total, tc.emails)
		}
	}
	for _, tc := range []struct {
		f      ports.UserFilter
		emails []string
	}{
		{ports.UserFilter{Limit: 2}, everyone[:2]},
		{ports.UserFilter{Limit: 2, Offset: 2}, everyone[2:4]},
		{ports.UserFilter{Limit: 2, Offset: 100}, nil},
		{ports.UserFilter{Role: "Sales_EU", Limit: 1, Offset: 1}, nil},
		{ports.UserFilter{Search: "example", Limit: 1, Offset: 1}, everyone[1:2]},
	} {
		page, err := f.Lister.ListUsers(ctx, tc.f)
		if err != nil {
			t.Fatalf("%+v: %v", tc.f, err)
		}
		if got := emailsOf(page); !equal(got, tc.emails) {
			t.Errorf("%+v: got %v, want %v", tc.f, got, tc.emails)
		}
		all, _ := f.Lister.ListUsers(ctx, ports.UserFilter{Role: tc.f.Role, Search: tc.f.Search})
		if page.Total != all.Total {
			t.Errorf("%+v: total %d, want %d whatever the page", tc.f, page.Total, all.Total)
		}
	}
	u, err := f.Lister.GetUser(ctx, ids["ann@example.com"])
	if err != nil || u.Email != "ann@example.com" || !equal(u.Roles, []string{"Admin", "Sales"}) {
		t.Errorf("GetUser: %+v, %v", u, err)
	}
	if _, err := f.Lister.GetUser(ctx, "u-none"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetUser of nobody: %v, want core.ErrNotFound", err)
	}
}

func tenants(t *testing.T, f Fixture) {
	ann := f.Add(Ctx("t1"), people[0])
	f.Add(Ctx("t2"), people[1])
	page, err := f.Lister.ListUsers(Ctx("t2"), ports.UserFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := emailsOf(page); !equal(got, []string{"bob@example.com"}) {
		t.Errorf("tenant t2 lists %v", got)
	}
	if _, err := f.Lister.GetUser(Ctx("t2"), ann); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetUser of another tenant's user: %v, want core.ErrNotFound", err)
	}
}

func emailsOf(p *ports.UserPage) []string {
	var out []string
	for _, u := range p.Users {
		out = append(out, u.Email)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
